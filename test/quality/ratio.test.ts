/** src/quality/ratio.ts: the bootstrap interval bench:quality puts around a ratio of two senders' medians. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/lab/link.js';
import { median } from '../../src/probe/stats.js';
import { judgeAtMost, medianRatioInterval } from '../../src/quality/index.js';

describe('medianRatioInterval', () => {
  it('is the ratio of the medians, with an interval around it that holds it', () => {
    const r = medianRatioInterval([100, 120, 140, 160, 180], [90, 100, 110, 120, 130], { random: seededRandom(1) })!;
    expect(r.ratio).toBeCloseTo(140 / 110, 10);
    expect(r.n).toEqual([5, 5]);
    expect(r.low).toBeLessThanOrEqual(r.ratio);
    expect(r.high).toBeGreaterThanOrEqual(r.ratio);
  });

  it('is narrow where every call agrees and wide where calls scatter, and replays with a seed', () => {
    const steady = medianRatioInterval(Array(12).fill(200), Array(12).fill(180), { random: seededRandom(2) })!;
    expect([steady.low, steady.high]).toEqual([200 / 180, 200 / 180]);
    // Three calls a side, as the bench ran before: p95s of one code that scatter as it did.
    const few = medianRatioInterval([163, 254, 434], [150, 160, 261], { random: seededRandom(3) })!;
    expect(few.high - few.low).toBeGreaterThan(0.5);
    const again = medianRatioInterval([163, 254, 434], [150, 160, 261], { random: seededRandom(3) })!;
    expect(again).toEqual(few);
  });

  it('says met, missed or open against a limit', () => {
    const clearlyUnder = medianRatioInterval([100, 102, 98, 101, 99, 100, 103, 97], [100, 101, 99, 100, 102, 98, 100, 101], { random: seededRandom(4) })!;
    expect(judgeAtMost(clearlyUnder, 1.2)).toBe('met');
    const clearlyOver = medianRatioInterval([200, 205, 195, 210, 190, 200, 202, 198], [100, 101, 99, 100, 102, 98, 100, 101], { random: seededRandom(5) })!;
    expect(judgeAtMost(clearlyOver, 1.2)).toBe('missed');
    const scattered = medianRatioInterval([110, 180, 95, 150, 130, 240, 105, 125], [100, 140, 90, 120, 115, 110, 160, 95], { random: seededRandom(6) })!;
    expect(scattered.low).toBeLessThan(1.2);
    expect(scattered.high).toBeGreaterThan(1.2);
    expect(judgeAtMost(scattered, 1.2)).toBe('open');
    // Three calls a side that agree: the interval is narrow, but three calls settle nothing.
    const few = medianRatioInterval([100, 100, 100], [100, 100, 100], { random: seededRandom(8) })!;
    expect([few.low, few.high]).toEqual([1, 1]);
    expect(judgeAtMost(few, 1.2)).toBe('open');
    expect(judgeAtMost(few, 1.2, 3)).toBe('met');
  });

  it('counts a call that showed nothing (Infinity) as the worst, and two zero medians as 1x', () => {
    const r = medianRatioInterval([150, 160, Infinity, Infinity, Infinity], [150, 160, 170, 150, 160], { random: seededRandom(9) })!;
    expect(r.ratio).toBe(Infinity);
    expect(medianRatioInterval([0, 0], [0, 0])).toMatchObject({ ratio: 1, low: 1, high: 1 });
    expect(() => medianRatioInterval([Number.NaN], [1])).toThrow(RangeError);
    expect(() => medianRatioInterval([1], [1], { resamples: 0 })).toThrow(RangeError);
  });

  it('holds values at the floor, and has no ratio without values or against a zero median', () => {
    // Freeze ratios: 0 against 0.01 with a floor of 0.02 is 1x, not 0x.
    expect(medianRatioInterval([0, 0, 0], [0.01, 0, 0.01], { floor: 0.02, random: seededRandom(7) })).toMatchObject({ ratio: 1, low: 1, high: 1 });
    expect(medianRatioInterval([], [1])).toBeNull();
    expect(medianRatioInterval([1, 2], [0, 0])).toBeNull();
    expect(() => medianRatioInterval([1], [1], { level: 1 })).toThrow(RangeError);
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
