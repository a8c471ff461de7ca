/**
 * One direction of a shaped link, in user space: random loss, a token-bucket bottleneck with a
 * bounded drop-tail queue, propagation delay with jitter, optional reordering. The kernel's
 * netem does this in the kernel; ours has none (and CI containers cannot load it), so packets
 * wait in a timer queue here instead.
 *
 * Order of the stages, as on a real access link: a packet is lost or not (radio), then waits
 * its turn at the bottleneck (serialization at `rateKbps`; dropped when the queue already
 * holds more than `queueMs` of data), then travels `delayMs` plus a jitter sample. The link
 * keeps packet order (a later packet never arrives before an earlier one) unless a packet is
 * picked for reordering, which holds it back so the next packets overtake it.
 *
 * Timing: Node's timers have about 1 ms granularity. A packet is delivered by the first timer
 * tick at or after its due time; due times are kept in fractional ms, so the error does not
 * add up over a queue.
 */
import { performance } from 'node:perf_hooks';

/** Settings of one direction. */
export interface LinkShape {
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Standard deviation of the delay, ms (uniform distribution of width 2·sqrt(3)·jitter, mean 0). */
  jitterMs: number;
  /** Random loss, percent. */
  lossPercent: number;
  /** Bottleneck rate, kbit/s; null: unlimited. */
  rateKbps: number | null;
  /** Queue limit at the bottleneck, ms of data at `rateKbps` (but never less than {@link MIN_QUEUE_BYTES}). */
  queueMs: number;
  /** Packets held back so that later ones overtake them, percent. */
  reorderPercent: number;
}

/** What a link did so far. */
export interface LinkCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Random (radio) losses. */
  lost: number;
  /** Drop-tail losses at the full bottleneck queue. */
  queueDrops: number;
  reordered: number;
}

/** A random number in [0, 1). */
export type Random = () => number;

/** mulberry32: a small seeded generator, so a test or benchmark can replay a run. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pending {
  due: number;
  data: Buffer;
}

/**
 * The bottleneck queue holds at least this much, whatever its time limit: cellular modems buffer
 * deeply, and a smaller queue would never let a 640x480 keyframe (tens of KB sent at once)
 * through a 300 kbit/s uplink.
 */
export const MIN_QUEUE_BYTES = 64 * 1024;

/** Extra hold of a reordered packet: long enough for a few packets to overtake it. */
const REORDER_HOLD_MS = 10;

/** One direction of a shaped link; `deliver` is called for every packet that makes it. */
export class ShapedLink {
  readonly counters: LinkCounters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, lost: 0, queueDrops: 0, reordered: 0 };
  #shape: LinkShape;
  readonly #deliver: (data: Buffer) => void;
  readonly #random: Random;
  /** When the bottleneck finishes sending what it holds (ms, performance clock). */
  #busyUntil = 0;
  /** Due time of the last in-order packet (later ones never arrive before it). */
  #lastDue = 0;
  /** Packets in flight, sorted by due time. */
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | null = null;
  #timerDue = Infinity;
  #closed = false;
  /** The most a packet went out after its due time since {@link takeLateMaxMs} (this thread's timers late), ms. */
  #lateMaxMs = 0;

  constructor(shape: LinkShape, deliver: (data: Buffer) => void, random: Random = Math.random) {
    this.#shape = shape;
    this.#deliver = deliver;
    this.#random = random;
  }

  /** The link's settings now. */
  get shape(): LinkShape { return this.#shape; }

  /**
   * Changes the link from now on, as a radio handover or a congested cell would: packets already
   * queued or in flight keep their due times, new ones meet the new rate, delay and loss.
   */
  setShape(shape: LinkShape): void {
    this.#shape = shape;
  }

  /** Packets waiting (in the bottleneck queue or in flight). */
  get inFlight(): number { return this.#queue.length; }

  /** Puts one packet on the link. */
  send(data: Buffer): void {
    if (this.#closed) return;
    const c = this.counters;
    c.packetsIn++;
    c.bytesIn += data.length;
    const s = this.#shape;
    if (s.lossPercent > 0 && this.#random() * 100 < s.lossPercent) { c.lost++; return; }
    const now = performance.now();
    let departure = now;
    if (s.rateKbps !== null) {
      // The bits on the wire: UDP payload plus IPv4 and UDP headers (28 bytes), as tc counts them.
      const txMs = ((data.length + 28) * 8) / s.rateKbps;
      const start = Math.max(now, this.#busyUntil);
      const limitMs = Math.max(s.queueMs, (MIN_QUEUE_BYTES * 8) / s.rateKbps);
      if (start - now > limitMs) { c.queueDrops++; return; }
      departure = start + txMs;
      this.#busyUntil = departure;
    }
    let due = departure + s.delayMs + this.#jitter();
    if (s.reorderPercent > 0 && this.#random() * 100 < s.reorderPercent) {
      c.reordered++;
      due = Math.max(due, this.#lastDue) + REORDER_HOLD_MS;
    } else {
      due = Math.max(due, this.#lastDue);
      this.#lastDue = due;
    }
    this.#insert({ due, data });
  }

  #jitter(): number {
    const j = this.#shape.jitterMs;
    if (j <= 0) return 0;
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    const a = j * Math.sqrt(3);
    return Math.max(-this.#shape.delayMs, (this.#random() * 2 - 1) * a);
  }

  #insert(p: Pending): void {
    const q = this.#queue;
    let i = q.length;
    while (i > 0 && q[i - 1]!.due > p.due) i--;
    q.splice(i, 0, p);
    this.#arm();
  }

  #arm(): void {
    const head = this.#queue[0];
    if (!head || this.#closed) return;
    if (this.#timer && this.#timerDue <= head.due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = head.due;
    // libuv fires a timer at or up to ~1 ms after its whole-ms deadline: floor keeps the mean on time.
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, Math.floor(head.due - performance.now())));
  }

  #flush(): void {
    this.#timer = null;
    this.#timerDue = Infinity;
    const at = performance.now();
    const now = at + 0.5;
    const q = this.#queue;
    while (q.length > 0 && q[0]!.due <= now) {
      const p = q.shift()!;
      this.#lateMaxMs = Math.max(this.#lateMaxMs, at - p.due);
      this.counters.packetsOut++;
      this.counters.bytesOut += p.data.length;
      this.#deliver(p.data);
    }
    this.#arm();
  }

  /**
   * The most a packet went out after its due time since the last call, ms, and starts afresh: how
   * far the thread running the link fell behind the profile (a loaded machine's stalls).
   */
  takeLateMaxMs(): number {
    const m = this.#lateMaxMs;
    this.#lateMaxMs = 0;
    return m;
  }

  /** Drops everything in flight and stops the timer. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue.length = 0;
  }
}
