import { describe, expect, it } from 'vitest';
import { FecRule, FEC_LOSS_KEEP_MS } from '../../src/peer/fec-rule.js';
import { fecAfterFrame } from '../../src/peer/media-source.js';

/** A tick's inputs with no queue, no loss, and the receiver report of `rttMs` that came at `rttAtMs`, its Sender Report through an empty queue. */
const calm = (rttMs: number | undefined, rttAtMs?: number) => ({ nacked: 0, lossFraction: 0, queueMs: 5, rttMs, rttAtMs: rttMs === undefined ? undefined : rttAtMs ?? 0, rttQueueMs: 0 });

describe('FecRule', () => {
  it('protects a long path from the call\'s start, and lets go 30 s after the last loss', () => {
    const rule = new FecRule('auto');
    expect(rule.update(0, calm(undefined))).toBe(false); // no round trip known yet
    expect(rule.update(1000, calm(300, 1000))).toBe(false); // one report is not enough to tell
    expect(rule.update(2000, calm(290, 2000))).toBe(true); // long: presumed lossy from the start
    expect(rule.update(FEC_LOSS_KEEP_MS - 1, calm(290, 2000))).toBe(true);
    expect(rule.update(FEC_LOSS_KEEP_MS, calm(290, 2000))).toBe(false); // 30 s and nothing lost
    // A report a second; a loss at 40 s protects the next 30 s.
    for (let t = 31_000; t <= 40_000 + FEC_LOSS_KEEP_MS; t += 1000) {
      expect(rule.update(t, { ...calm(300, t), nacked: t >= 40_000 ? 1 : 0 })).toBe(t >= 40_000 && t < 40_000 + FEC_LOSS_KEEP_MS);
    }
  });

  it('leaves FEC off where only our own queue made the round trip long (low-upload: 60 ms path, 150-310 ms behind the start\'s queue)', () => {
    const rule = new FecRule('auto');
    // Reports of a long round trip whose Sender Reports met our queue: the path's is what is left.
    for (let t = 0, n = 1; t < 3000; t += 200, n++) expect(rule.update(t, { nacked: n, lossFraction: 0.01, queueMs: 120, rttMs: 206, rttAtMs: t, rttQueueMs: 140 })).toBe(false);
    // Also when the queue meter reads short at the tick: a burst (the start's keyframes, a probe) that the report met.
    const start = new FecRule('auto');
    expect(start.update(0, { nacked: 0, lossFraction: 0, queueMs: null, rttMs: undefined, rttAtMs: undefined })).toBe(false);
    expect(start.update(1000, { nacked: 0, lossFraction: 0, queueMs: 8, rttMs: 261, rttAtMs: 950, rttQueueMs: 190 })).toBe(false);
    expect(start.update(1200, { nacked: 0, lossFraction: 0, queueMs: 18, rttMs: 257, rttAtMs: 1150, rttQueueMs: 185 })).toBe(false);
    // One report that reads long now and then (a queue the feedback had not told of yet) is outweighed by the rest.
    expect(start.update(2200, { nacked: 0, lossFraction: 0, queueMs: 8, rttMs: 180, rttAtMs: 2150, rttQueueMs: 0 })).toBe(false);
    // A report whose queue is not known does not count.
    const unknown = new FecRule('auto');
    for (let t = 0; t < 4000; t += 1000) expect(unknown.update(t, { ...calm(300, t), rttQueueMs: null })).toBe(false);
    // Under 3g the reports met no queue and are long: FEC from the second on.
    const long = new FecRule('auto');
    expect(long.update(0, { nacked: 0, lossFraction: 0, queueMs: null, rttMs: undefined, rttAtMs: undefined })).toBe(false);
    // (A report whose queue is not known yet at its first tick is looked at again at the next.)
    expect(long.update(1000, { ...calm(262, 950), rttQueueMs: null })).toBe(false);
    expect(long.update(1200, { ...calm(262, 950), rttQueueMs: 5 })).toBe(false);
    expect(long.update(2000, calm(270, 1950))).toBe(true);
    // The path got longer: once the short reports are 30 s old, the long ones count.
    for (let t = 2400; t < 30_000; t += 1000) start.update(t, { nacked: 1, lossFraction: 0, queueMs: 8, rttMs: 240, rttAtMs: t, rttQueueMs: 0 });
    expect(start.update(32_400, { nacked: 2, lossFraction: 0, queueMs: 8, rttMs: 240, rttAtMs: 32_400, rttQueueMs: 0 })).toBe(true);
  });

  it('turns FEC on for a lossy hop at any round trip, but not for the drops of a full queue, even once it drained', () => {
    const lossy = new FecRule('auto');
    expect(lossy.update(0, { nacked: 3, lossFraction: 0, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(false);
    expect(lossy.update(2000, { nacked: 3, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(false); // not calm long enough to tell
    expect(lossy.update(2500, { nacked: 3, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(true);
    const full = new FecRule('auto');
    expect(full.update(0, { nacked: 3, lossFraction: 0.05, queueMs: 180, rttMs: 40, rttAtMs: 0 })).toBe(false);
    expect(full.update(250, { nacked: 3, lossFraction: 0.05, queueMs: null, rttMs: 40, rttAtMs: 0 })).toBe(false);
    // The ladder stepped down and the queue drained while its drops are still counted.
    for (let t = 500; t < 2750; t += 250) expect(full.update(t, { nacked: 3, lossFraction: 0.05, queueMs: 3, rttMs: 40, rttAtMs: 0 })).toBe(false);
  });

  it('keeps FEC off for 30 s after congestion took it off, on a lossy hop or a long path, and twice as long after the next', () => {
    const lossy = new FecRule('auto');
    expect(lossy.update(0, { nacked: 3, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(false);
    expect(lossy.update(2500, { nacked: 4, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(true);
    lossy.shed(3000);
    for (let t = 3200; t < 33_000; t += 1000) expect(lossy.update(t, { nacked: 5, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(false);
    expect(lossy.update(33_000, { nacked: 6, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(true);
    // Shed again: off for twice as long.
    lossy.shed(34_000);
    expect(lossy.update(34_000 + 59_000, { nacked: 7, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(false);
    expect(lossy.update(34_000 + 60_000, { nacked: 8, lossFraction: 0.05, queueMs: 4, rttMs: 40, rttAtMs: 0 })).toBe(true);
    const long = new FecRule('auto');
    expect(long.update(1000, calm(300, 1000))).toBe(false);
    expect(long.update(2000, calm(290, 2000))).toBe(true);
    long.shed(2100);
    expect(long.update(2200, calm(290, 2200))).toBe(false);
    expect(long.update(32_100, { ...calm(290, 32_100), nacked: 1 })).toBe(true); // (a loss lately: a long path wants it)
    // Under 'on' the user's word stands.
    const on = new FecRule('on');
    on.shed(0);
    expect(on.update(100, calm(undefined))).toBe(true);
  });

  it("says what it was told under 'on' and 'off'", () => {
    expect(new FecRule('on').update(0, calm(undefined))).toBe(true);
    expect(new FecRule('off').update(0, { ...calm(300), nacked: 9, lossFraction: 0.2, queueMs: 0 })).toBe(false);
  });
});

describe('fecAfterFrame', () => {
  /** Which of `frames` frames of `packetsEach` packets an FEC packet follows (1-based). */
  const protectedAfter = (packetsEach: number, frames: number): number[] => {
    const after: number[] = [];
    let f = 0;
    let p = 0;
    for (let i = 1; i <= frames; i++) {
      f++;
      p += packetsEach;
      if (fecAfterFrame(f, p)) { after.push(i); f = 0; p = 0; }
    }
    return after;
  };
  it('gives a frame of four packets or more an FEC packet of its own, and smaller frames one per two', () => {
    // 640x480 at 600 kbit/s: 4-6 packets a frame, each rebuilt as it ends (not a frame later).
    expect(protectedAfter(5, 6)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(protectedAfter(4, 3)).toEqual([1, 2, 3]);
    // A low rung's one- to three-packet frames share one per two frames (one packet in three to seven).
    expect(protectedAfter(1, 6)).toEqual([2, 4, 6]);
    expect(protectedAfter(3, 4)).toEqual([2, 4]);
  });
});
