// Regression (issue 19, item 2): at a TTY, a chat line that arrived in one burst — a paste
// followed by Enter, or "hello\r" written at once by a script or tmux — stayed in the input box
// and was never sent; typed key by key it worked. Here the real `chatzyo connect` runs in a real
// pseudo-terminal (util-linux script(1)) and each burst is one write to the pty.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from '../peer/helpers.js';
import { PtyCli } from './cli-process.js';

let server: SignalServer;
const sessions = new Sessions();
const ptys: PtyCli[] = [];

beforeAll(async () => {
  server = await startServer({ rematchCooldownMs: 0 });
});
afterEach(async () => {
  await sessions.closeAll();
  for (const p of ptys.splice(0)) p.kill();
});
afterAll(async () => {
  await server?.close();
});

describe('chatzyo connect at a TTY sends a chat line that arrives in one burst', () => {
  it('one write of "hello\\r" sends hello; one write of "a\\rb\\r" sends a and b', async () => {
    const pty = new PtyCli(['connect', '--server', server.url, '--room', 'usa', '--no-video', '--no-audio']);
    ptys.push(pty);
    await pty.shows('waiting', 20_000, "connect's screen says it is waiting");

    const [partner, rec] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub: 'usa' } }, 'partner');
    partner.on('chat-open', () => { partner.sendChat('partner-ready'); });
    await withTimeout(partner.start(), 15_000, 'partner start');
    // The partner's line on connect's screen means connect's chat channel is open too.
    await pty.shows('partner-ready', 30_000, "connect shows the partner's first line");

    pty.write('hello\r');
    expect((await rec.next('chat', 10_000)).text).toBe('hello');

    pty.write('a\rb\r');
    expect((await rec.next('chat', 10_000)).text).toBe('a');
    expect((await rec.next('chat', 10_000)).text).toBe('b');
    expect(rec.all('chat').map((c) => c.text)).toEqual(['hello', 'a', 'b']);

    pty.write('q');
    expect(await withTimeout(pty.exited, 15_000, 'connect exits after q')).toBe(0);
  });
});
