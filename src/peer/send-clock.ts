/**
 * Sends a stream's packets at the cadence their RTP timestamps say, not as ffmpeg hands them
 * over. ffmpeg writes Opus packets with up to 15-25 ms of jitter (`-re` reads its input in
 * 10 ms sleeps, and a source's chunks need not be 20 ms ones): measured on loopback, 20 ms
 * packets arrived 0-31 ms apart. A viewer's jitter buffer sizes itself to the jitter it sees,
 * and lip sync holds the video back as far: a Chromium viewer held the CLI's audio 85 ms
 * behind where a Chromium sender's (1 ms of jitter) was held 23 ms, on a path with no jitter.
 *
 * Each packet is due at `base + timestamp`, `base` being the latest any packet of the last
 * {@link WINDOW_MS} was (so the latest packet is never held, and the others wait for the
 * cadence); one late burst lifts the base for that window, then it comes down again. Nothing
 * waits more than {@link MAX_HOLD_MS}. Pure but for its timer: time comes from `now`.
 *
 * Audio read ahead (a file, the test tone) comes at its pace from src/peer/opus-pump.ts and does
 * not pass through this clock; it keeps the cadence of audio captured from a device.
 */

/** How long a late packet keeps the cadence back, ms. */
const WINDOW_MS = 2000;
/** Nothing is held longer than this, ms. */
const MAX_HOLD_MS = 60;
/** A timestamp jump larger than this (seconds of media) starts the cadence afresh. */
const JUMP_S = 5;

interface Due { due: number; out: () => void }

/** Paces one RTP stream by its timestamps. */
export class SendClock {
  readonly #ticksPerMs: number;
  readonly #now: () => number;
  /** The stream's timestamp, unwrapped, in ms; null before the first packet. */
  #mediaMs: number | null = null;
  #lastTs = 0;
  /** Arrival lateness (arrival time less media time) of the window's packets, decreasing: the first is the largest. */
  #late: { at: number; late: number }[] = [];
  #queue: Due[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** Packets that had to wait, and the time they waited in all, ms. */
  held = 0;
  heldMs = 0;

  constructor(clockRateHz: number, now: () => number = () => performance.now()) {
    this.#ticksPerMs = clockRateHz / 1000;
    this.#now = now;
  }

  /** Sends `out` (the packet stamped `timestamp`) when its cadence says, in order. */
  push(timestamp: number, out: () => void): void {
    const now = this.#now();
    if (this.#mediaMs === null) this.#mediaMs = 0;
    else {
      const deltaMs = ((timestamp - this.#lastTs) | 0) / this.#ticksPerMs;
      if (Math.abs(deltaMs) > JUMP_S * 1000) {
        // A new timeline (the encoder restarted, say): forget the old cadence.
        this.#late = [];
        this.#mediaMs = 0;
      } else this.#mediaMs += deltaMs;
    }
    this.#lastTs = timestamp >>> 0;
    const late = now - this.#mediaMs;
    while (this.#late.length && this.#late[this.#late.length - 1]!.late <= late) this.#late.pop();
    this.#late.push({ at: now, late });
    while (this.#late[0]!.at < now - WINDOW_MS) this.#late.shift();
    const due = Math.min(this.#late[0]!.late + this.#mediaMs, now + MAX_HOLD_MS);
    if (!this.#queue.length && due <= now + 0.5) { out(); return; }
    this.held++;
    this.heldMs += due - now;
    this.#queue.push({ due, out });
    this.#arm(now);
  }

  /** Drops what waits and stops the timer. */
  stop(): void {
    this.#queue = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(now: number): void {
    if (this.#timer || !this.#queue.length) return;
    this.#timer = setTimeout(() => { this.#timer = null; this.#drain(); }, Math.max(0, this.#queue[0]!.due - now));
    this.#timer.unref?.();
  }

  #drain(): void {
    const now = this.#now();
    while (this.#queue.length && this.#queue[0]!.due <= now + 0.5) this.#queue.shift()!.out();
    this.#arm(now);
  }
}
