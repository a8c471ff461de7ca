/** The audio send clock (src/peer/send-clock.ts) on a fake clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SendClock } from '../../src/peer/send-clock.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

/** 20 ms Opus packets at 48 kHz. */
const TICKS = 960;

/** Moves the fake clock on to `ms` after `t0`, firing the timers due on the way. */
function at(t0: number, ms: number): void {
  vi.advanceTimersByTime(Math.max(0, t0 + ms - Date.now()));
}

describe('SendClock', () => {
  it('sends packets that come in bursts at the cadence of their timestamps, in order', () => {
    const c = new SendClock(48_000, () => Date.now());
    const out: [number, number][] = [];
    const t0 = Date.now();
    // ffmpeg's pattern: two packets at once every 40 ms (ts 0 and 960 at t=20, 1920 and 2880 at t=60, ...).
    for (let pair = 0; pair < 10; pair++) {
      at(t0, 20 + pair * 40);
      for (const k of [0, 1]) {
        const i = pair * 2 + k;
        c.push((0xffff_f000 + i * TICKS) >>> 0, () => out.push([i, Date.now() - t0])); // wraps past 2^32
      }
    }
    vi.advanceTimersByTime(100);
    expect(out.map(([i]) => i)).toEqual([...Array(20).keys()]);
    // The second packet of each pair is the latest: it is due at once; the first of the pair
    // waited for its turn, 20 ms after the one before it.
    const gaps = out.slice(1).map(([, t], i) => t - out[i]![1]);
    for (const g of gaps.slice(1)) expect(g).toBe(20);
    expect(c.held).toBeGreaterThan(0);
  });

  it('never holds the latest packet, and a late one lifts the cadence only for two seconds', () => {
    const c = new SendClock(48_000, () => Date.now());
    const t0 = Date.now();
    const sentAt: number[] = [];
    const push = (i: number, ms: number) => {
      at(t0, ms);
      c.push(i * TICKS, () => { sentAt[i] = Date.now() - t0; });
    };
    for (let i = 0; i < 10; i++) push(i, i * 20);
    expect(sentAt.slice(0, 10)).toEqual([...Array(10).keys()].map((i) => i * 20));
    // Packet 10 comes 30 ms late (the encoder stalled): it goes at once, and the cadence after it
    // keeps that delay while the window remembers it ...
    push(10, 230);
    expect(sentAt[10]).toBe(230);
    push(11, 11 * 20);
    at(t0, 260);
    expect(sentAt[11]).toBe(250);
    for (let i = 12; i < 200; i++) push(i, i * 20);
    at(t0, 200 * 20 + 40);
    expect(sentAt[50]).toBe(50 * 20 + 30);
    // ... and forgets it two seconds later: on time again.
    expect(sentAt[199]).toBe(199 * 20);
  });

  it('holds nothing past 60 ms, starts afresh after a timestamp jump, and drops what waits on stop', () => {
    const c = new SendClock(48_000, () => Date.now());
    const t0 = Date.now();
    const sent: number[] = [];
    // A packet 500 ms late sets a cadence the next ones would wait 500 ms for: 60 at most.
    c.push(0, () => sent.push(0));
    at(t0, 520);
    c.push(TICKS, () => sent.push(1));
    c.push(2 * TICKS, () => sent.push(2));
    expect(sent).toEqual([0, 1]);
    at(t0, 540);
    expect(sent).toEqual([0, 1, 2]);
    // A jump of a minute of media: a new timeline, sent at once.
    c.push(3 * TICKS + 48_000 * 60, () => sent.push(3));
    expect(sent).toEqual([0, 1, 2, 3]);
    c.push(4 * TICKS + 48_000 * 60 + 48_000, () => sent.push(4)); // a second ahead of its time: waits
    c.push(5 * TICKS + 48_000 * 60 + 48_000, () => sent.push(5));
    c.stop();
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([0, 1, 2, 3]);
  });
});
