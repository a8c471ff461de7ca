// The bots' clip ladder: every rung made by real ffmpeg from the same source with keyframes at
// the same clip times, and a player that switches rungs at the target rung's next keyframe while
// the partner sees one stream (one SSRC, contiguous sequence numbers, timestamps continuing).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaStreamTrack, type RtpPacket } from 'werift';
import { ClipPlayer, DEFAULT_CLIP, clipLadder, ensureClipFiles, readClip, type Clip, type ClipSpec } from '../../src/bots/index.js';
import { vp8PayloadKind } from '../../src/peer/index.js';
import { RungController } from '../../src/peer/ladder.js';
import { PaddingProbes } from '../../src/peer/padding-probes.js';
import { QueueDelayMeter } from '../../src/peer/queue-delay.js';
import { withTimeout } from '../helpers/deadline.js';

/** A tiny clip: 4 s at 15 fps, keyframes at 0 and 2 s, so a switch waits at most 2 s of clip. */
const TINY: ClipSpec = { ...DEFAULT_CLIP, width: 160, height: 120, videoKbps: 120, seconds: 4, keyframeIntervalS: 2 };

let dir: string;
let clip: Clip;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-ladder-'));
  clip = readClip(await withTimeout(ensureClipFiles(TINY, { dir }), 60_000, 'ffmpeg makes the tiny clip ladder'), TINY);
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** Which rung and frame of the clip a sent frame's first payload is (payloads are unique enough in a test pattern with a frame counter). */
function indexFrames(c: Clip): Map<string, { rung: number; frame: number }> {
  const m = new Map<string, { rung: number; frame: number }>();
  c.ladder.forEach((r, rung) => r.video.forEach((f, frame) => m.set(Buffer.concat(f.payloads).toString('base64'), { rung, frame })));
  return m;
}

/** The frames a track received: RTP timestamp, its packets' sequence numbers, payload. */
interface SentFrame { ts: number; seqs: number[]; payload: Buffer; key: boolean; width: number | null }

function capture(): { track: MediaStreamTrack; frames: () => SentFrame[]; packets: RtpPacket[] } {
  const track = new MediaStreamTrack({ kind: 'video' });
  const packets: RtpPacket[] = [];
  track.onReceiveRtp.subscribe((p) => packets.push(p));
  const frames = () => {
    const out: SentFrame[] = [];
    let cur: SentFrame | null = null;
    for (const p of packets) {
      if (!cur || cur.ts !== p.header.timestamp) {
        cur = { ts: p.header.timestamp, seqs: [], payload: Buffer.alloc(0), key: vp8PayloadKind(p.payload).keyframe, width: null };
        out.push(cur);
      }
      cur.seqs.push(p.header.sequenceNumber);
      cur.payload = Buffer.concat([cur.payload, p.payload]);
    }
    for (const f of out) {
      // VP8 keyframe header (RFC 6386 section 9.1): 3-byte tag, start code, then 14-bit width.
      if (f.key) f.width = f.payload.readUInt16LE(1 + 6) & 0x3fff;
    }
    return out;
  };
  return { track, frames, packets };
}

/** Drives the player every 10 ms from `from` to `to` (ms, its clock). */
function run(player: ClipPlayer, from: number, to: number): number {
  for (let t = from; t <= to; t += 10) player.tick(t);
  return to;
}

describe('clip ladder', () => {
  it('is made from the same source at every rung, cached per rung, with keyframes at the same clip times', async () => {
    const specs = clipLadder(TINY);
    expect(specs.map((s) => [s.width, s.height, s.fps, s.videoKbps])).toEqual([[160, 120, 15, 120], [120, 90, 15, 60], [80, 60, 15, 24], [80, 60, 3, 20]]);
    expect(clipLadder(DEFAULT_CLIP)[0]).toBe(DEFAULT_CLIP); // the top rung is the clip the bots always replayed
    expect(clip.ladder.map((r) => [r.width, r.height, r.fps])).toEqual(specs.map((s) => [s.width, s.height, s.fps]));
    expect(clip.ladder[0]!.video).toBe(clip.video);
    for (const r of clip.ladder) {
      expect(r.durationMs).toBeCloseTo(4000, 0);
      expect(r.keyframes.map((k) => Math.round((k * 1000) / r.fps))).toEqual([0, 2000]);
    }
    // Lower rungs cost less.
    const kbps = clip.ladder.map((r) => r.videoKbps);
    for (let i = 1; i < kbps.length; i++) expect(kbps[i]).toBeLessThan(kbps[i - 1]!);
    // Cached: a second call finds every rung and needs no ffmpeg.
    const again = await ensureClipFiles(TINY, { dir, ffmpegPath: '/nonexistent/ffmpeg' });
    expect(readClip(again, TINY).ladder).toHaveLength(4);
    // --no-adapt: the clip alone.
    expect(readClip(again, { ...TINY, adapt: false }).ladder).toHaveLength(1);
  });

  it('switches at the target rung\'s next keyframe; sequence numbers, timestamps and the SSRC go on as one stream', () => {
    const v = capture();
    const player = new ClipPlayer(clip, v.track, null, 0, 0);
    const index = indexFrames(clip);
    let t = run(player, 0, 500);
    expect(player.setRung(2)).toBe(2);
    t = run(player, t + 10, 2600); // the clip reaches its keyframe at 2 s
    expect(player.rung).toBe(2);
    player.setRung(3); // the 3 fps keep-alive: next keyframe at the clip's loop (4 s)
    t = run(player, t + 10, 5000);
    expect(player.rung).toBe(3);
    expect(player.switches).toBe(2);

    const frames = v.frames();
    const where = frames.map((f) => index.get(f.payload.toString('base64')));
    expect(where.every((w) => w !== undefined)).toBe(true);
    const rungs = where.map((w) => w!.rung);
    // The rungs in order, each switch on a keyframe of the new rung at the same clip time.
    expect([...new Set(rungs)]).toEqual([0, 2, 3]);
    // The seconds sent on each rung are its frames over its frame rate.
    const seconds = clip.ladder.map((r, i) => rungs.filter((x) => x === i).length / r.fps);
    expect(player.rungSeconds).toEqual(seconds);
    expect(seconds[0]! + seconds[2]! + seconds[3]!).toBeGreaterThan(4);
    for (const to of [2, 3]) {
      const i = rungs.indexOf(to);
      const w = where[i]!;
      expect(frames[i]!.key).toBe(true);
      expect(frames[i]!.width).toBe(clip.ladder[to]!.width);
      expect(clip.ladder[to]!.keyframes).toContain(w.frame);
      const prev = where[i - 1]!;
      const prevRung = clip.ladder[prev.rung]!;
      // The frame before was the one just before that clip time on the old rung (modulo the loop).
      expect(Math.round((((prev.frame + 1) % prevRung.video.length) * 1000) / prevRung.fps)).toBe(Math.round((w.frame * 1000) / clip.ladder[to]!.fps) % 4000);
    }
    // One stream: one SSRC, every sequence number once in order, each timestamp the previous
    // plus the previous frame's duration at its rung's rate (6000 ticks at 15 fps, 30000 at 3).
    expect(new Set(v.packets.map((p) => p.header.ssrc)).size).toBe(1);
    const seqs = frames.flatMap((f) => f.seqs);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
    for (let i = 1; i < frames.length; i++) {
      expect((frames[i]!.ts - frames[i - 1]!.ts) >>> 0).toBe(90_000 / clip.ladder[rungs[i - 1]!]!.fps);
    }
    // The descriptors carry no picture id (X=0, RFC 7741 section 4.2): none to jump at a switch.
    expect(v.packets.every((p) => (p.payload[0]! & 0x80) === 0)).toBe(true);
    // Frame rate follows the rung: 3 fps after the last switch.
    const last = frames.slice(rungs.indexOf(3));
    expect(last.length).toBeGreaterThanOrEqual(2);
    expect(last.length).toBeLessThanOrEqual(4);
  });

  it('a picker\'s step down goes to the lower rung\'s next keyframe in the next frame slot; a step up waits for the keyframe', () => {
    const v = capture();
    const player = new ClipPlayer(clip, v.track, null, 0, 0);
    const index = indexFrames(clip);
    let asked = 0;
    player.picker = { update: () => asked };
    let t = run(player, 0, 400);
    const sentBefore = v.frames().length;
    asked = 2; // congestion: the clip's next keyframe is at 2 s, 1.6 s of the old rung away
    t = run(player, t + 10, t + 250);
    expect(player.rung).toBe(2);
    const frames = v.frames();
    const where = frames.map((f) => index.get(f.payload.toString('base64'))!);
    // Rung 0 only until the player's next ask (every 200 ms: at most 4 frames at 15 fps), then
    // rung 2's keyframe at 2 s of clip (a switch at the keyframe would have sent 24 more frames).
    const first = where.findIndex((w) => w.rung === 2);
    expect(first - sentBefore).toBeLessThanOrEqual(4);
    expect(frames[first]!.key).toBe(true);
    expect(Math.round((where[first]!.frame * 1000) / clip.ladder[2]!.fps)).toBe(2000);
    // Still one stream: sequence numbers in order, the timestamp one frame on.
    const seqs = frames.flatMap((f) => f.seqs);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
    expect((frames[first]!.ts - frames[first - 1]!.ts) >>> 0).toBe(90_000 / clip.ladder[0]!.fps);
    // A step up (calm path) waits for rung 1's keyframe: the loop at 4 s of clip, about 1.9 s on.
    asked = 1;
    t = run(player, t + 10, t + 1000);
    expect(player.rung).toBe(2);
    expect(player.targetRung).toBe(1);
    run(player, t + 10, t + 1500);
    expect(player.rung).toBe(1);
    expect(player.switches).toBe(2);
  });

  it('sends a padding probe between its frames: padding-only packets after the last frame, numbered on, as much as the probe plans', () => {
    const v = capture();
    const player = new ClipPlayer(clip, v.track, null, 0, 0);
    expect(player.sendPadding(500)).toBe(0); // nothing to follow before the first frame
    const rungs = clip.ladder.map((r) => ({ width: r.width, height: r.height, fps: r.fps, kbps: r.spec.videoKbps }));
    const controller = new RungController(rungs, { startRung: 1, paddingProbes: true });
    const probes = new PaddingProbes(controller, new QueueDelayMeter(), (bytes) => player.sendPadding(bytes));
    // A calm path whose estimate does not carry rung 0: after the hold, the first padding probe
    // (of the best rung, 100 ms), sent from the player's tick as the bots' loop sends it.
    player.picker = {
      update: (now, carrying) => {
        const rung = controller.update(now, { estimateKbps: 150, overuse: false, lossFraction: 0, queueMs: 0, carrying });
        probes.start(now);
        return rung;
      },
      tick: (now) => probes.tick(now),
    };
    run(player, 0, 1500);
    const probe = controller.padProbe;
    expect(probe, 'a padding probe was asked for').not.toBeNull();
    const planned = ((controller.needKbps(0) - controller.needKbps(1)) * (probe!.to - probe!.from)) / 8;
    const padding = v.packets.filter((p) => p.header.padding);
    const bytes = padding.reduce((n, p) => n + p.header.paddingSize, 0);
    expect(player.paddingBytes).toBe(bytes);
    expect(bytes).toBeGreaterThan(0.5 * planned);
    expect(bytes).toBeLessThanOrEqual(planned);
    // Each padding packet follows a frame's last packet or another padding packet, with that
    // frame's timestamp; sequence numbers stay contiguous across frames and padding.
    for (const p of padding) {
      const i = v.packets.indexOf(p);
      const prev = v.packets[i - 1]!;
      expect(prev.header.marker || prev.header.padding).toBe(true);
      expect(p.header.timestamp).toBe(prev.header.timestamp);
      expect(p.header.marker).toBe(false);
    }
    const seqs = v.packets.map((p) => p.header.sequenceNumber);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
  });

  it('answers a PLI during a pending switch with the new rung\'s keyframe at once', () => {
    const v = capture();
    const player = new ClipPlayer(clip, v.track, null, 0, 0);
    const index = indexFrames(clip);
    let t = run(player, 0, 400);
    player.setRung(1);
    expect(player.rung).toBe(0); // pending until a keyframe
    const before = v.packets.length;
    player.keyframe(t);
    expect(player.rung).toBe(1);
    t = run(player, t + 10, t + 300);
    const frames = v.frames();
    const first = frames.findIndex((f) => index.get(f.payload.toString('base64'))?.rung === 1);
    expect(first).toBeGreaterThan(0);
    expect(frames[first]!.key).toBe(true);
    expect(frames[first]!.width).toBe(clip.ladder[1]!.width);
    expect(v.packets[before]!.header.timestamp).toBe(frames[first]!.ts); // the PLI's answer is the switch
    const seqs = frames.flatMap((f) => f.seqs);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
    expect(player.plisAnswered).toBe(1);
  });
});
