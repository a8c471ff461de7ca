/**
 * Paces a video sink's packets out at a rate instead of in the bursts ffmpeg writes them (a
 * keyframe is a dozen packets at once). At a narrow uplink a burst queues at the bottleneck, and
 * the audio packets behind it wait: a Chromium viewer's audio jitter buffer grew to 260 ms behind
 * a 300 kbit/s uplink (105 ms for a Chromium sender, which paces), and lip sync held the video
 * back as far. Paced, the video waits in our queue instead and the audio, which is not paced,
 * passes (libwebrtc's pacer does the same, at 2.5 times its target rate). Pure but for its timer:
 * time comes from `now`.
 */

/** How often the queue is drained, ms. */
const TICK_MS = 5;
/** Bytes that may go out at once (about two packets), and what a fresh pacer starts with (a whole small keyframe: the first picture is not held back). */
const BURST_BYTES = 2500;
const START_BYTES = 16_000;
/** Nothing waits longer than this: past it the queue goes out at once (a rate set too low must not pile up delay). */
const MAX_QUEUE_MS = 400;

/** One packet waiting: its size and how to send it. */
interface Waiting { bytes: number; out: () => void; at: number }

/** A token-bucket pacer for one stream. */
export class Pacer {
  #kbps = 0;
  /** What may be saved up and sent at once, bytes (at least {@link BURST_BYTES}). */
  #burst = BURST_BYTES;
  #queue: Waiting[] = [];
  #tokens = START_BYTES;
  #lastAt: number;
  #timer: NodeJS.Timeout | null = null;
  readonly #now: () => number;
  /** Packets that had to wait. */
  paced = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#lastAt = now();
  }

  /**
   * Sets the rate; 0 turns pacing off and sends what waits. `burstMs`: what may be saved up and
   * go at once is that much time at the rate (never less than {@link BURST_BYTES}).
   */
  setRate(kbps: number, burstMs = 0): void {
    this.#refill();
    this.#kbps = Math.max(0, kbps);
    const before = this.#burst;
    this.#burst = Math.max(BURST_BYTES, (this.#kbps * Math.max(0, burstMs)) / 8);
    // A smaller burst (the path found narrow) takes effect now: what was saved up under the old
    // one does not go out at once at the bottleneck. The start allowance, above any burst, stays.
    if (this.#tokens > this.#burst && this.#tokens <= before) this.#tokens = this.#burst;
    if (this.#kbps === 0) this.#flush();
  }

  /** Sends `out` (a packet of `bytes`) now if the rate allows, or when it does; in order. */
  push(bytes: number, out: () => void): void {
    if (this.#kbps === 0) { out(); return; }
    this.#refill();
    if (!this.#queue.length && this.#tokens >= bytes) {
      this.#tokens -= bytes;
      out();
      return;
    }
    this.#queue.push({ bytes, out, at: this.#now() });
    this.paced++;
    this.#timer ??= setInterval(() => this.#drain(), TICK_MS);
    this.#timer.unref?.();
  }

  /** Drops what waits and stops the timer. */
  stop(): void {
    this.#queue = [];
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #refill(): void {
    const now = this.#now();
    const add = (this.#kbps * (now - this.#lastAt)) / 8;
    this.#lastAt = now;
    // What is saved up never grows past a burst (the start allowance is spent, not topped up).
    if (this.#tokens < this.#burst) this.#tokens = Math.min(this.#burst, this.#tokens + add);
  }

  #drain(): void {
    this.#refill();
    const now = this.#now();
    const oldest = this.#queue[0];
    // Waited too long (the rate is too low for what comes): out with all of it.
    if (oldest && now - oldest.at > MAX_QUEUE_MS) { this.#flush(); return; }
    while (this.#queue.length && this.#tokens >= Math.min(this.#queue[0]!.bytes, this.#burst)) {
      const w = this.#queue.shift()!;
      this.#tokens -= w.bytes;
      w.out();
    }
    if (!this.#queue.length && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  #flush(): void {
    for (const w of this.#queue.splice(0)) w.out();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
