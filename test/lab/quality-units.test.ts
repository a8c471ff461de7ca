/**
 * The pure parts of call-quality measurement: stamps survive VP8 and H.264 at a low bitrate
 * (real ffmpeg), a damaged picture reads as no stamp, freezes follow WebRTC's definition, and
 * the E-model MOS falls with delay, jitter and loss.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { resolveFfmpeg } from '../../src/peer/index.js';
import { drawStampedFrame, estimateMos, readStamp, unwrapStampTime, ViewerStats } from '../../src/quality/index.js';

const W = 320;
const H = 240;

describe('frame stamps', () => {
  it('round-trip through a luma plane of any size', () => {
    const y = new Uint8Array(W * H);
    const t = Date.now();
    drawStampedFrame(y, W, H, 12345, t);
    const s = readStamp(y, W, H)!;
    expect(s.seq).toBe(12345);
    expect(unwrapStampTime(s.timeLow, t + 250)).toBe(t);
  });

  it('a damaged picture reads as no stamp (the check fails)', () => {
    const y = new Uint8Array(W * H);
    drawStampedFrame(y, W, H, 7, Date.now());
    // Invert one block of the grid, as a smeared decode might.
    for (let row = 0; row < 20; row++) for (let x = 0; x < 40; x++) y[row * W + x] = 255 - y[row * W + x]!;
    expect(readStamp(y, W, H)).toBeNull();
  });

  it.each([['vp8', ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '120k', '-f', 'webm']], ['h264', ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-b:v', '120k', '-f', 'h264']]] as const)(
    'survive %s at 120 kbit/s (320x240, 15 fps)', (_name, codec) => {
      const ffmpeg = resolveFfmpeg().path;
      const frames = 45;
      const t0 = Date.now();
      const raw = Buffer.alloc(frames * W * H * 1.5, 128);
      for (let i = 0; i < frames; i++) drawStampedFrame(raw.subarray(i * W * H * 1.5, i * W * H * 1.5 + W * H), W, H, i, t0 + i * 66);
      const enc = spawnSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${W}x${H}`, '-framerate', '15', '-i', 'pipe:0', ...codec, 'pipe:1'], { input: raw, maxBuffer: 1 << 26, timeout: 30_000 });
      expect(enc.status, String(enc.stderr)).toBe(0);
      expect(enc.stdout.length * 8 / (frames / 15)).toBeLessThan(300_000);
      const dec = spawnSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-vf', 'scale=160:120:flags=area', '-pix_fmt', 'gray', '-fps_mode', 'passthrough', '-f', 'rawvideo', 'pipe:1'], { input: enc.stdout, maxBuffer: 1 << 26, timeout: 30_000 });
      expect(dec.status, String(dec.stderr)).toBe(0);
      const out = dec.stdout.length / (160 * 120);
      expect(out).toBe(frames);
      const seqs: (number | null)[] = [];
      for (let i = 0; i < out; i++) seqs.push(readStamp(dec.stdout.subarray(i * 160 * 120, (i + 1) * 160 * 120), 160, 120)?.seq ?? null);
      expect(seqs).toEqual([...Array(frames).keys()]);
    }, 60_000);
});

describe('viewer stats', () => {
  it('a gap over max(3x average, average + 150 ms) is a freeze; lost frames are sequence gaps', () => {
    const v = new ViewerStats();
    let t = 1000;
    for (let seq = 0; seq < 20; seq++) { v.add({ seq, sentAt: t - 100, renderedAt: t }); t += 66; }
    // 180 ms: over 3 x 66 = 198? no; over 66 + 150 = 216? no: not a freeze.
    t += 180 - 66;
    v.add({ seq: 20, sentAt: t - 100, renderedAt: t });
    expect(v.summary().freezeCount).toBe(0);
    // 500 ms later, 4 frames skipped: a freeze of 500 ms.
    t += 500;
    v.add({ seq: 25, sentAt: t - 300, renderedAt: t });
    const s = v.summary();
    expect(s.freezeCount).toBe(1);
    expect(s.freezeMs).toBe(500);
    expect(s.framesLost).toBe(4);
    expect(s.latencyMs).toEqual({ p50: 100, p95: 100, max: 300 });
    expect(s.freezeRatio).toBeCloseTo(500 / s.spanMs, 5);
  });

  it('a duplicate or older frame (a replayed keyframe) is ignored', () => {
    const v = new ViewerStats();
    v.add({ seq: 65535, sentAt: 0, renderedAt: 10 });
    v.add({ seq: 0, sentAt: 66, renderedAt: 76 }); // wraps
    v.add({ seq: 65535, sentAt: 0, renderedAt: 80 });
    expect(v.summary()).toMatchObject({ frames: 2, framesLost: 0 });
  });
});

describe('E-model MOS (Cole-Rosenbluth simplification of G.107)', () => {
  it('a clean path scores about 4.4 and each impairment lowers it', () => {
    const clean = estimateMos({ rttMs: 20, jitterMs: 0, lossPercent: 0 });
    expect(clean).toBeGreaterThan(4.35);
    expect(estimateMos({ rttMs: 600, jitterMs: 0, lossPercent: 0 })).toBeLessThan(clean);
    expect(estimateMos({ rttMs: 20, jitterMs: 40, lossPercent: 0 })).toBeLessThan(clean);
    expect(estimateMos({ rttMs: 20, jitterMs: 0, lossPercent: 5 })).toBeLessThan(estimateMos({ rttMs: 20, jitterMs: 0, lossPercent: 1 }));
    expect(estimateMos({ rttMs: 2000, jitterMs: 100, lossPercent: 40 })).toBeGreaterThanOrEqual(1);
  });
});
