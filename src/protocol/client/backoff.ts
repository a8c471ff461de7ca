/**
 * The one reconnect backoff of every client: exponential backoff with "full jitter" (AWS
 * Architecture Blog, "Exponential Backoff And Jitter"), so that many clients cut off by one
 * server restart do not all come back in the same instant. Pure TypeScript.
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay scale of the first retry, ms. */
  baseMs: number;
  /** Upper bound of any delay, ms. */
  capMs: number;
  /** Smallest delay, ms (so a retry never spins). */
  minMs?: number;
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

/** The default reconnect backoff: 250 ms, doubling, capped at 5 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 5000, minMs: 50 };

/** The delay before retry number `attempt` (0-based): uniform in [minMs, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const min = opts.minMs ?? 0;
  const ceiling = Math.max(min, Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30)));
  const r = (opts.random ?? Math.random)();
  return Math.round(min + r * (ceiling - min));
}
