// Issue 12 item 4: against another stack, 2 of 3 recordings had no decodable video (the partner's
// first keyframe was lost and the recorder asked for one once), the WebM header carried our own
// capture size instead of the partner's, and the stats said nothing of what was received.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { LossyPartner } from '../helpers/lossy-partner.js';
import { webmVideoSizes } from '../helpers/webm.js';
import { probe } from '../cli/cli-process.js';
import { Sessions } from './helpers.js';

let server: SignalServer | undefined;
let partner: LossyPartner | undefined;
let dir: string;
const sessions = new Sessions();

beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-keyframe-')); });
afterEach(async () => {
  await sessions.closeAll();
  await partner?.close();
  partner = undefined;
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Milliseconds between consecutive times. */
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('a partner of another make that loses video', () => {
  it('loses its first keyframe: we keep asking (PLI with backoff), report what arrives, and record it at its own size', async () => {
    server = await startServer({ rematchCooldownMs: 0 });
    // The partner: 320x240 with a keyframe every 3 s, the first one after the call connects lost.
    partner = await LossyPartner.join(server.wsUrl, { video: { width: 320, height: 240, fps: 15, keyframeIntervalS: 3 }, loseFirstKeyframes: 1 });
    const file = path.join(dir, 'partner.webm');
    // We capture at 640x480: the recording must not take that size.
    const [s, r] = sessions.create({ server: server.url, recordPath: file, encode: { width: 640, height: 480, fps: 15, bitrateKbps: 300 } }, 'us');
    await withTimeout(s.start(), 15_000, 'our session starts');
    await partner.offerOnMatch(10_000);
    await r.next('connected', 15_000);

    await until(() => partner!.keyframesLost.length === 1, 8000, 'the partner loses its first keyframe');
    await until(() => partner!.keyframesSent.length >= 1, 8000, 'the partner sends its next keyframe');
    const sentAt = partner.keyframesSent[0]!;
    // Asked again and again while no keyframe came (the next one is nearly 3 s after the first
    // video: PLIs at 0.25, 0.75 and 1.75 s), less and less often (250 ms doubling to 4 s; a late
    // timer only makes a gap longer, or the next one shorter by as much).
    const asked = partner.plis.filter((t) => t < sentAt);
    const g = gaps(asked);
    expect(asked.length, `PLIs ${g} ms apart`).toBeGreaterThanOrEqual(3);
    expect(g[0], `PLIs ${g} ms apart`).toBeGreaterThanOrEqual(400);
    expect(g[1], `PLIs ${g} ms apart`).toBeGreaterThanOrEqual(700);
    if (g.length > 2) expect(g[2], `PLIs ${g} ms apart`).toBeGreaterThanOrEqual(1400);

    // The stats describe what is received, from the bitstream: not our own 640x480.
    const st = await r.next('stats', 10_000, (x) => x.keyframesReceived >= 1 && x.audioPacketsReceived > 0);
    expect(st).toMatchObject({ codec: 'VP8', audioCodec: 'opus', frameWidth: 320, frameHeight: 240 });
    expect(st.pliSent).toBeGreaterThanOrEqual(asked.length);

    // Three seconds of decodable video (the recording starts on the first keyframe that arrived).
    await r.next('stats', 15_000, (x) => x.keyframesReceived >= 2);
    // Once a keyframe came, nobody asked again: the recorder started on that very keyframe.
    expect(partner.plis.filter((t) => t > sentAt + 300), `PLIs at ${partner.plis.map((t) => t - sentAt)} ms from the keyframe`).toEqual([]);
    await withTimeout(s.close(), 15_000, 'our session closes (the recorder flushes)');
    expect(webmVideoSizes(file)).toEqual([{ width: 320, height: 240 }]);
    const p = await probe(file);
    expect(p.codec).toBe('vp8');
    expect([p.width, p.height]).toEqual([320, 240]);
    expect(p.frames).toBeGreaterThanOrEqual(36);
    expect(partner.errors).toEqual([]);
  });

  it('loses every keyframe: the size stays unknown, we keep asking, and the recording is refused with a warning, not a file of noise', async () => {
    server = await startServer({ rematchCooldownMs: 0 });
    partner = await LossyPartner.join(server.wsUrl, { video: { width: 320, height: 240, fps: 15, keyframeIntervalS: 1 }, loseFirstKeyframes: 1000 });
    const file = path.join(dir, 'never.webm');
    const [s, r] = sessions.create({ server: server.url, recordPath: file, video: null, audio: null }, 'us');
    await withTimeout(s.start(), 15_000, 'our session starts');
    await partner.offerOnMatch(10_000);
    await r.next('connected', 15_000);
    await until(() => partner!.keyframesLost.length >= 2 && partner!.plis.length >= 3, 10_000, 'keyframes lost while we ask');
    const st = await r.next('stats', 5000, (x) => x.framesReceived > 0 && x.audioPacketsReceived > 0);
    expect(st).toMatchObject({ codec: 'VP8', audioCodec: 'opus', frameWidth: null, frameHeight: null, keyframesReceived: 0 });
    await withTimeout(s.close(), 15_000, 'our session closes');
    expect(r.all('warning').map((w) => w.message)).toContainEqual(expect.stringMatching(/nothing was recorded: no whole keyframe/));
    expect(existsSync(file)).toBe(false);
  });

  it('loses a packet for good mid-stream: we ask for a keyframe again before its next one', async () => {
    server = await startServer({ rematchCooldownMs: 0 });
    // A keyframe every 5 s: the loss is noticed (1 s without a retransmission) long before the next.
    partner = await LossyPartner.join(server.wsUrl, { video: { width: 320, height: 240, fps: 15, keyframeIntervalS: 5 }, loseFirstKeyframes: 0 });
    const [s, r] = sessions.create({ server: server.url, video: null, audio: null }, 'us');
    await withTimeout(s.start(), 15_000, 'our session starts');
    await partner.offerOnMatch(10_000);
    await r.next('connected', 15_000);
    await r.next('stats', 15_000, (x) => x.keyframesReceived >= 1);
    partner.loseOnePacketAfterNextKeyframe();
    await until(() => partner!.lostSequences.length === 1, 8000, 'the partner loses a packet after its next keyframe');
    const lostAt = Date.now();
    const keyframesBefore = partner.keyframesSent.length;
    await until(() => partner!.plis.some((t) => t >= lostAt), 4000, 'a PLI after the loss');
    // ...before the partner's next keyframe would have repaired the picture anyway.
    expect(partner.keyframesSent.length).toBe(keyframesBefore);
    expect(s.call?.videoCounts.keyframes).toBeGreaterThanOrEqual(1);
    expect(partner.errors).toEqual([]);
  });
});
