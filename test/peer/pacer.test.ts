/** The video pacer (src/peer/pacer.ts) on a fake clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer } from '../../src/peer/pacer.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

describe('Pacer', () => {
  it('lets the first picture out at once, then spreads a burst at its rate, in order', () => {
    const p = new Pacer(() => Date.now());
    p.setRate(400); // 50 bytes a millisecond
    const out: [number, number][] = [];
    const t0 = Date.now();
    // A 12 KB first keyframe: within the start allowance, all at once.
    for (let i = 0; i < 12; i++) p.push(1000, () => out.push([i, Date.now() - t0]));
    expect(out.map(([, t]) => t)).toEqual(Array(12).fill(0));
    // The next burst of 10 packets spends the rest of the allowance and then goes at 400 kbit/s.
    vi.advanceTimersByTime(1000);
    out.length = 0;
    const t1 = Date.now();
    for (let i = 0; i < 10; i++) p.push(1000, () => out.push([i, Date.now() - t1]));
    vi.advanceTimersByTime(400);
    expect(out.map(([i]) => i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const last = out[out.length - 1]![1];
    // 10 KB at 50 bytes/ms less the saved-up burst: about 150 ms, not at once.
    expect(last).toBeGreaterThanOrEqual(120);
    expect(last).toBeLessThanOrEqual(220);
    expect(p.paced).toBeGreaterThan(0);
  });

  it('lets a burst of burstMs at its rate go at once, where without it only about two packets do', () => {
    const sent = (burstMs: number): number => {
      const p = new Pacer(() => Date.now());
      p.setRate(2400, burstMs); // 300 bytes a millisecond: 40 ms of it is 12 KB
      // Spend the start allowance, then let it save up for a frame interval.
      for (let i = 0; i < 16; i++) p.push(1000, () => {});
      vi.advanceTimersByTime(200);
      let now = 0;
      for (let i = 0; i < 6; i++) p.push(1000, () => now++);
      p.stop();
      return now;
    };
    // A 6 KB frame: whole at once with a 40 ms burst; two packets (the 2500-byte floor) without.
    expect(sent(40)).toBe(6);
    expect(sent(0)).toBe(2);
  });

  it('spends no more than the new burst once it shrinks (the path found narrow), whatever was saved up', () => {
    const p = new Pacer(() => Date.now());
    p.setRate(2400, 40);
    for (let i = 0; i < 16; i++) p.push(1000, () => {});
    vi.advanceTimersByTime(200); // 12 KB saved up under the wide burst
    p.setRate(2400, 0);
    let now = 0;
    for (let i = 0; i < 6; i++) p.push(1000, () => now++);
    p.stop();
    expect(now).toBe(2);
  });

  it('sends what waits at once when pacing is turned off, and never holds a packet past 400 ms', () => {
    const p = new Pacer(() => Date.now());
    p.setRate(100);
    for (let i = 0; i < 16; i++) p.push(1000, () => {});
    const out: number[] = [];
    for (let i = 0; i < 5; i++) p.push(1000, () => out.push(i));
    expect(out).toEqual([]);
    p.setRate(0);
    expect(out).toEqual([0, 1, 2, 3, 4]);
    // A rate far too low for what comes: nothing waits past 400 ms.
    const slow = new Pacer(() => Date.now());
    slow.setRate(10);
    for (let i = 0; i < 16; i++) slow.push(1000, () => {});
    const late: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) slow.push(1000, () => late.push(Date.now() - t0));
    vi.advanceTimersByTime(600);
    expect(late).toHaveLength(20);
    expect(Math.max(...late)).toBeLessThanOrEqual(410);
    slow.stop();
    p.stop();
  });
});
