/**
 * How sure a ratio of two senders' medians is, from the calls behind it. bench:quality judges
 * issue 14's targets ("CLI p95 within 1.2x of Chromium's") on the ratio of two medians over a
 * few calls each, and one call's p95 moves 30% from the next on the same code: the same code
 * read 0.91x, 1.21x and 1.41x in three runs of two or three calls per sender. A percentile
 * bootstrap (Efron: resample each sender's calls with replacement, take the ratio of the
 * resamples' medians, many times; the interval is the middle `level` of those ratios) says
 * whether a run's calls settle the target or leave it open. Pure TypeScript.
 */
import { median } from '../probe/stats.js';

/** A ratio of medians and the bootstrap interval around it. */
export interface RatioInterval {
  /** median(a) / median(b), each value held at `floor` or above. */
  ratio: number;
  /** The interval's bounds (the `(1 - level) / 2` and `(1 + level) / 2` quantiles of the resampled ratios). */
  low: number;
  high: number;
  /** Calls behind each side. */
  n: [number, number];
}

export interface RatioIntervalOptions {
  /** Values below this count as it (a freeze ratio of 0 against 0.01 is no ratio of 0): default 0. */
  floor?: number;
  /** The interval's coverage: default 0.9. */
  level?: number;
  /** Resamples: default 2000. */
  resamples?: number;
  /** A random number in [0, 1): pass a seeded one for a result that replays (default Math.random). */
  random?: () => number;
}

/**
 * median(a) / median(b) with a percentile-bootstrap interval; null when either side has no
 * value or b's median is 0 while a's is not. Values may be Infinity (a call that showed nothing
 * counted as the worst). A resample whose medians are both 0 counts as a ratio of 1.
 */
export function medianRatioInterval(a: readonly number[], b: readonly number[], opts: RatioIntervalOptions = {}): RatioInterval | null {
  const floor = opts.floor ?? 0;
  const level = opts.level ?? 0.9;
  const resamples = opts.resamples ?? 2000;
  const random = opts.random ?? Math.random;
  if (!(level > 0 && level < 1)) throw new RangeError('level: a number between 0 and 1');
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError('resamples: a whole number of 1 or more');
  if ([...a, ...b].some((x) => Number.isNaN(x))) throw new RangeError('values: numbers, not NaN');
  const fa = a.map((x) => Math.max(x, floor));
  const fb = b.map((x) => Math.max(x, floor));
  if (!fa.length || !fb.length) return null;
  const ratioOf = (x: readonly number[], y: readonly number[]) => {
    const mx = median(x);
    const my = median(y);
    if (my > 0) return mx === Infinity && my === Infinity ? 1 : mx / my;
    return mx === 0 ? 1 : null;
  };
  const ratio = ratioOf(fa, fb);
  if (ratio === null) return null;
  const draw = (xs: readonly number[]) => xs.map(() => xs[Math.min(xs.length - 1, Math.floor(random() * xs.length))]!);
  const ratios: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const r = ratioOf(draw(fa), draw(fb));
    ratios.push(r ?? Infinity);
  }
  ratios.sort((x, y) => x - y);
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.max(0, Math.round(q * (ratios.length - 1))))]!;
  return { ratio, low: at((1 - level) / 2), high: at((1 + level) / 2), n: [fa.length, fb.length] };
}

/**
 * A target "at most `limit`" against an interval: met (all of it at or below), missed (all
 * above), or open; open too with fewer than `minCalls` a side (default 8), where a bootstrap of
 * a median can only land between the few values there are and covers far less than it says.
 */
export function judgeAtMost(interval: RatioInterval, limit: number, minCalls = 8): 'met' | 'missed' | 'open' {
  if (Math.min(...interval.n) < minCalls) return 'open';
  if (interval.high <= limit) return 'met';
  if (interval.low > limit) return 'missed';
  return 'open';
}
