/** A token bucket: `ratePerSecond` sustained, bursts up to `burst`. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSecond);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
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
    const t = this.now();
    while (this.#times.length && this.#times[0]! <= t - this.windowMs) this.#times.shift();
    return this.#times.length >= this.max;
  }
}
