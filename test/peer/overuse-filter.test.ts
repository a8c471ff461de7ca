// When the delay trend's overuse counts as congestion: at once with a queue behind it, after
// 400 ms without one (a lossy path's resends and jitter tilt the trend with no queue at all).
import { describe, expect, it } from 'vitest';
import { OVERUSE_HOLD_MS, OveruseFilter } from '../../src/peer/overuse-filter.js';

describe('OveruseFilter', () => {
  it('counts overuse at once when the queue meter sees a queue behind it', () => {
    const f = new OveruseFilter();
    expect(f.update(0, true, 12)).toBe(true);
    expect(f.update(200, false, 12)).toBe(false);
  });

  it('counts overuse without a queue only once it lasted the hold', () => {
    const f = new OveruseFilter();
    expect(f.update(0, true, 2)).toBe(false);
    expect(f.update(200, true, 3)).toBe(false);
    expect(f.update(OVERUSE_HOLD_MS, true, 1)).toBe(true);
  });

  it('a blip that ends starts the hold afresh', () => {
    const f = new OveruseFilter();
    expect(f.update(0, true, 0)).toBe(false);
    expect(f.update(200, false, 0)).toBe(false);
    expect(f.update(400, true, 0)).toBe(false);
    expect(f.update(600, true, 0)).toBe(false);
    expect(f.update(800, true, 0)).toBe(true);
  });

  it('without a queue meter (no feedback yet) overuse counts as it is', () => {
    expect(new OveruseFilter().update(0, true, null)).toBe(true);
  });

  it('with quietQueueMs Infinity (the media bots) every overuse waits for the hold, queue or not', () => {
    const f = new OveruseFilter(OVERUSE_HOLD_MS, Infinity);
    expect(f.update(0, true, 300)).toBe(false);
    expect(f.update(200, true, null)).toBe(false);
    expect(f.update(OVERUSE_HOLD_MS, true, null)).toBe(true);
  });
});
