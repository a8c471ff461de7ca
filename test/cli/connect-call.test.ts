import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { childNices, expectedSendingPriority, expectedSessionPriority, niceOf, sendingRaise, threadNices } from '../helpers/proc-nice.js';
import { webmVideoSizes } from '../helpers/webm.js';
import { CliProcess, probe } from './cli-process.js';

let server: SignalServer;
let dir: string;
const procs: CliProcess[] = [];

beforeAll(async () => {
  server = await startServer({ rematchCooldownMs: 0 });
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-connect-'));
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SMALL = ['--width', '320', '--height', '240', '--fps', '15', '--video-bitrate', '300'];

function connect(name: string, args: string[]): CliProcess {
  const p = new CliProcess(name, ['connect', '--json', '--server', server.url, '--room', 'tamil', ...SMALL, ...args]);
  procs.push(p);
  return p;
}

describe('two chatzyo connect processes', () => {
  it('connect, report stats (with what is received), chat both ways, record a webm at the partner\'s size that ffprobe decodes, and exit 0', async () => {
    const file = path.join(dir, 'partner.webm');
    // One captures at 640x480 and records the partner's 320x240 (the header once said 640x480).
    const one = connect('one', ['--say', 'hi from one', '--record', file, '--width', '640', '--height', '480']);
    await one.next('queued', 15_000);
    const two = connect('two', ['--say', 'hi from two', '--max-partners', '1']);

    const welcome = await one.next('welcome', 1000);
    expect(welcome).toMatchObject({ reconnected: false });
    // The thread that sends is raised as a browser's WebRTC thread is, 8 steps, when the system
    // lets it (CAP_SYS_NICE, as root in CI has; src/peer/thread-priority.ts); otherwise it goes on as it was.
    const { ordinary, nice: raised, mayRaise } = sendingRaise();
    expect(welcome.sendingPriority).toEqual(expectedSendingPriority(ordinary));
    // And its session with it, where autogroups would rank the thread only inside the session.
    expect(welcome.sessionPriority).toEqual(expectedSessionPriority(ordinary));
    const [m1, m2] = await Promise.all([one.next('matched', 15_000), two.next('matched', 15_000)]);
    expect(m1.matchId).toBe(m2.matchId);
    expect(new Set([m1.role, m2.role])).toEqual(new Set(['offerer', 'answerer']));
    const c1 = await one.next('connected', 20_000);
    expect(c1.candidateType).toMatch(/^(host|srflx|prflx)$/);
    expect(c1.msFromMatch).toEqual(expect.any(Number));

    expect(await one.next('chat', 15_000)).toMatchObject({ text: 'hi from two', from: 'partner' });
    expect(await two.next('chat', 15_000)).toMatchObject({ text: 'hi from one', from: 'partner' });
    // Typed lines (stdin) are chat too.
    one.say('typed by one');
    expect(await two.next('chat', 10_000)).toMatchObject({ text: 'typed by one' });

    // Long enough that the recording (which starts on the first keyframe) holds 20+ frames.
    // Calls start a rung below the best and step up on a calm path: wait for the partner's full size.
    const s1 = await one.next('stats', 20_000, (s) => Number(s.framesReceived) >= 75 && s.frameWidth === 320);
    expect(s1).toMatchObject({ bytesReceived: expect.any(Number), framesSent: expect.any(Number) });
    expect(s1.rttMs).toEqual(expect.any(Number));
    expect(Number(s1.framesSent)).toBeGreaterThan(0);
    expect(s1).toMatchObject({ codec: 'VP8', audioCodec: 'opus', frameWidth: 320, frameHeight: 240, pliSent: expect.any(Number) });
    // Its encoders and audio ffmpeg run at the ordinary priority, below the thread that sends.
    const kids = childNices(one.proc.pid!).filter((k) => k.comm === 'ffmpeg');
    expect(kids.length).toBeGreaterThanOrEqual(2);
    // Every thread of them: one started before it was put back would have kept the raise.
    expect(kids.flatMap((k) => threadNices(k.pid).map((t) => t.nice))).toEqual(kids.flatMap((k) => threadNices(k.pid).map(() => ordinary)));
    expect(niceOf(one.proc.pid!)).toBe(mayRaise ? raised : ordinary);
    const s2 = await two.next('stats', 20_000, (s) => Number(s.framesReceived) >= 45 && s.frameWidth === 640);
    expect(Number(s2.bytesReceived)).toBeGreaterThan(10_000);
    expect(s2).toMatchObject({ codec: 'VP8', audioCodec: 'opus', frameWidth: 640, frameHeight: 480 });
    const [n1, n2] = await Promise.all([one.next('safety', 1000), two.next('safety', 1000)]);
    expect(n1.safetyNumber).toBe(n2.safetyNumber);

    one.say('/quit');
    expect(await one.exitCode(15_000)).toBe(0);
    expect(await one.next('closed', 1000)).toMatchObject({ reason: 'closed', partners: 1, exitCode: 0 });
    expect(await two.next('partner-left', 10_000)).toMatchObject({ reason: 'leave' });
    expect(await two.exitCode(15_000)).toBe(0);
    expect(await two.next('closed', 1000)).toMatchObject({ reason: 'max-partners', exitCode: 0 });

    // The header has the size of the first keyframe recorded: the partner's, not ours (640x480,
    // which it once said). Calls start on the rung the start estimate fits (issue 14: 160x120 of
    // two's 320x240 at 600 kbit/s) and step up, so that is the size of one of the partner's rungs.
    const sizes = webmVideoSizes(file);
    expect(sizes).toHaveLength(1);
    expect([[160, 120], [240, 180], [320, 240]]).toContainEqual([sizes[0]!.width, sizes[0]!.height]);
    const p = await probe(file);
    expect(p.codec).toBe('vp8');
    // ffprobe reads the size from the stream itself (H.264's SPS may be a later one's).
    expect([[160, 120], [240, 180], [320, 240]]).toContainEqual([p.width, p.height]);
    expect(p.frames).toBeGreaterThanOrEqual(20);
  });

  it('--next-after presses Next, the other side sees partner-left "next", and --max-partners ends both runs', async () => {
    const a = connect('a', ['--next-after', '3', '--max-partners', '2', '--no-audio']);
    await a.next('queued', 15_000);
    const b = connect('b', ['--max-partners', '2', '--no-audio']);
    await Promise.all([a.next('matched', 15_000), b.next('matched', 15_000)]);
    await Promise.all([a.next('connected', 20_000), b.next('connected', 20_000)]);
    await a.next('next', 10_000);
    expect(await b.next('partner-left', 10_000)).toMatchObject({ reason: 'next' });
    // Matched again (the server's rematch cooldown is off), a fresh call.
    const [m1, m2] = await Promise.all([a.next('matched', 15_000), b.next('matched', 15_000)]);
    expect(m1).toMatchObject({ partner: 2 });
    expect(m2.matchId).toBe(m1.matchId);
    await Promise.all([a.next('connected', 20_000), b.next('connected', 20_000)]);
    expect(await b.next('stats', 10_000, (s) => s.matchId === m1.matchId && Number(s.framesReceived) > 5)).toBeTruthy();
    expect(await a.exitCode(20_000)).toBe(0);
    expect(await a.next('closed', 1000)).toMatchObject({ reason: 'max-partners', partners: 2 });
    expect(await b.exitCode(20_000)).toBe(0);
    expect(await b.next('closed', 1000)).toMatchObject({ reason: 'max-partners', partners: 2 });
  });
});
