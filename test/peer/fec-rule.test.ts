import { describe, expect, it } from 'vitest';
import { FecRule, FEC_LOSS_KEEP_MS } from '../../src/peer/fec-rule.js';
import { fecAfterFrame } from '../../src/peer/media-source.js';

const calm = { nacked: 0, lossFraction: 0, queueMs: 5, baseRttMs: 300 };

describe('FecRule', () => {
  it('protects a long path from the call\'s start, and lets go 30 s after the last loss', () => {
    const rule = new FecRule('auto');
    expect(rule.update(0, { ...calm, baseRttMs: undefined })).toBe(false); // no round trip known yet
    expect(rule.update(1000, calm)).toBe(true); // long: presumed lossy from the start
    expect(rule.update(FEC_LOSS_KEEP_MS - 1, calm)).toBe(true);
    expect(rule.update(FEC_LOSS_KEEP_MS, calm)).toBe(false); // 30 s and nothing lost
    expect(rule.update(40_000, { ...calm, nacked: 1 })).toBe(true);
    expect(rule.update(40_000 + FEC_LOSS_KEEP_MS - 1, { ...calm, nacked: 1 })).toBe(true);
    expect(rule.update(40_000 + FEC_LOSS_KEEP_MS, { ...calm, nacked: 1 })).toBe(false);
  });

  it('leaves FEC off where only our own queue made the round trip long (low-upload: 80 ms path, 206 ms with the queue)', () => {
    const rule = new FecRule('auto');
    // baseRttMs is what the estimator keeps: the path's 80 ms, whatever the latest report says.
    for (let t = 0, n = 1; t < 10_000; t += 250, n++) expect(rule.update(t, { nacked: n, lossFraction: 0.01, queueMs: 120, baseRttMs: 80 })).toBe(false);
    // A long round trip read while our queue is long is not the path's either (a call's start,
    // every report behind the start's keyframes)...
    expect(rule.update(10_250, { nacked: 50, lossFraction: 0.01, queueMs: 120, baseRttMs: 206 })).toBe(false);
    // ...one read with the queue short is.
    expect(rule.update(10_500, { nacked: 51, lossFraction: 0.01, queueMs: 10, baseRttMs: 206 })).toBe(true);
    expect(rule.update(10_750, { nacked: 52, lossFraction: 0.01, queueMs: 120, baseRttMs: 206 })).toBe(true);
    const start = new FecRule('auto');
    expect(start.update(0, { nacked: 0, lossFraction: 0, queueMs: 160, baseRttMs: 190 })).toBe(false);
    expect(start.update(250, { nacked: 0, lossFraction: 0, queueMs: null, baseRttMs: 190 })).toBe(false);
    expect(start.update(500, { nacked: 0, lossFraction: 0, queueMs: 8, baseRttMs: 62 })).toBe(false);
  });

  it('turns FEC on for a lossy hop at any round trip, but not for the drops of a full queue, even once it drained', () => {
    const lossy = new FecRule('auto');
    expect(lossy.update(0, { nacked: 3, lossFraction: 0, queueMs: 4, baseRttMs: 40 })).toBe(false);
    expect(lossy.update(2000, { nacked: 3, lossFraction: 0.05, queueMs: 4, baseRttMs: 40 })).toBe(false); // not calm long enough to tell
    expect(lossy.update(2500, { nacked: 3, lossFraction: 0.05, queueMs: 4, baseRttMs: 40 })).toBe(true);
    const full = new FecRule('auto');
    expect(full.update(0, { nacked: 3, lossFraction: 0.05, queueMs: 180, baseRttMs: 40 })).toBe(false);
    expect(full.update(250, { nacked: 3, lossFraction: 0.05, queueMs: null, baseRttMs: 40 })).toBe(false);
    // The ladder stepped down and the queue drained while its drops are still counted.
    for (let t = 500; t < 2750; t += 250) expect(full.update(t, { nacked: 3, lossFraction: 0.05, queueMs: 3, baseRttMs: 40 })).toBe(false);
  });

  it("says what it was told under 'on' and 'off'", () => {
    expect(new FecRule('on').update(0, { ...calm, baseRttMs: undefined })).toBe(true);
    expect(new FecRule('off').update(0, { ...calm, nacked: 9, lossFraction: 0.2, queueMs: 0 })).toBe(false);
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
