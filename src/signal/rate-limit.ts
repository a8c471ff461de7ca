/** A token bucket: `ratePerSecond` sustained, bursts up to `burst`. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes `n` tokens (default one); false, taking nothing, when the bucket holds fewer. */
  take(n = 1): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSecond);
    this.#last = t;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}

/** Counts events in a sliding window: `hit()` is false once `max` events fell within `windowMs`. */
export class SlidingWindow {
  readonly #times: number[] = [];
  constructor(private readonly max: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Records an event; false when it exceeds the limit (the event is still recorded). */
  hit(): boolean {
    const t = this.now();
    while (this.#times.length && this.#times[0]! <= t - this.windowMs) this.#times.shift();
    this.#times.push(t);
    return this.#times.length <= this.max;
  }

  /** Would one more event exceed the limit? Does not record it. */
  wouldExceed(): boolean {
    this.#expire();
    return this.#times.length >= this.max;
  }

  /** Milliseconds until one more event would be within the limit (0 when it already is). */
  retryAfterMs(): number {
    this.#expire();
    if (this.#times.length < this.max) return 0;
    return Math.max(0, this.#times[this.#times.length - this.max]! + this.windowMs - this.now());
  }

  /** Events within the window now. */
  count(): number {
    this.#expire();
    return this.#times.length;
  }

  /** True when no event is left in the window (the window can be forgotten). */
  isEmpty(): boolean {
    this.#expire();
    return this.#times.length === 0;
  }

  #expire(): void {
    const t = this.now();
    while (this.#times.length && this.#times[0]! <= t - this.windowMs) this.#times.shift();
  }
}

/**
 * One {@link SlidingWindow} per key (a hashed client address), shared by every connection from
 * that key, so closing a connection and opening another does not reset a limit. Empty windows
 * are forgotten by {@link prune}.
 */
export class KeyedWindows {
  readonly #windows = new Map<string, SlidingWindow>();
  constructor(private readonly max: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** The window of `key`, created on first use. */
  of(key: string): SlidingWindow {
    let w = this.#windows.get(key);
    if (!w) { w = new SlidingWindow(this.max, this.windowMs, this.now); this.#windows.set(key, w); }
    return w;
  }

  /** Forgets windows with no event left; call it now and then (the heartbeat does). */
  prune(): void {
    for (const [k, w] of this.#windows) if (w.isEmpty()) this.#windows.delete(k);
  }
}

/**
 * Windows handed down from closed connections to new ones from the same key (a hashed
 * address): a connection that closes and comes back adopts the history it left, so
 * disconnect-and-return does not reset a limit, while separate people behind one NAT keep
 * separate windows (each live connection holds its own). The fullest window is adopted first.
 */
export class WindowPool {
  readonly #pools = new Map<string, SlidingWindow[]>();
  constructor(private readonly max: number, private readonly windowMs: number, private readonly maxPooled: number, private readonly now: () => number = Date.now) {}

  /** A window for a new connection from `key`: a departed one's, or a fresh one. */
  adopt(key: string): SlidingWindow {
    const pool = this.#pools.get(key);
    if (pool?.length) {
      let best = 0;
      for (let i = 1; i < pool.length; i++) if (pool[i]!.count() > pool[best]!.count()) best = i;
      const [w] = pool.splice(best, 1);
      if (!pool.length) this.#pools.delete(key);
      return w!;
    }
    return new SlidingWindow(this.max, this.windowMs, this.now);
  }

  /** A connection from `key` closed: keep its window (if it holds anything) for the next one. */
  release(key: string, w: SlidingWindow): void {
    if (w.isEmpty()) return;
    const pool = this.#pools.get(key) ?? [];
    pool.push(w);
    // Bounded: past maxPooled, the emptiest window goes.
    if (pool.length > this.maxPooled) {
      let least = 0;
      for (let i = 1; i < pool.length; i++) if (pool[i]!.count() < pool[least]!.count()) least = i;
      pool.splice(least, 1);
    }
    this.#pools.set(key, pool);
  }

  /** Forgets windows with nothing left in them. */
  prune(): void {
    for (const [k, pool] of this.#pools) {
      const kept = pool.filter((w) => !w.isEmpty());
      if (kept.length) this.#pools.set(k, kept); else this.#pools.delete(k);
    }
  }
}