/**
 * How long our packets wait in the path's queues now, from transport-wide feedback: each
 * packet's one-way delay (arrival in the receiver's clock minus send time in ours; the clocks'
 * offset is unknown but constant), the smallest of the last half second, minus the smallest one-way delay of the last
 * {@link BASE_WINDOW_MS}, which is the path without a queue (as LEDBAT, RFC 6817, measures it).
 * A standing queue is what a viewer feels as lag, and it shows here within a few packets, before
 * the trend filter of the estimate is sure; the ladder (src/peer/ladder.ts) steps down when it
 * grows long. Pure: times in ms, passed in.
 *
 * Packets are compared with packets of about their size ({@link sizeClass}): a packet's one-way
 * delay includes its own time on the narrowest link (32 ms for 1,200 bytes at 300 kbit/s), so a
 * base set by small packets made a window of large ones read as a queue. On the 3 fps
 * keep-alive rung every packet of the half second was a full one and the meter read 18-50 ms
 * of queue on an empty 300 kbit/s link, never under the 20 ms a step up needs: the call stayed
 * on the keep-alive to its end (one call in twelve under the lab's `low-upload`).
 */

import type { BandwidthEstimator } from './bandwidth/estimator.js';

/** The base (queue-free) delay is the minimum over this long, ms. */
const BASE_WINDOW_MS = 10_000;
/**
 * The current delay is the smallest over this long, ms: a keyframe burst queues behind itself at
 * the bottleneck for a moment (160 ms for 6 KB at 300 kbit/s) without any standing queue, and
 * only a standing queue delays every packet of the window.
 */
const CURRENT_WINDOW_MS = 500;
/** Samples are kept by send time for this long, ms ({@link QueueDelayMeter.queueOfSent}). */
const SENT_WINDOW_MS = 5000;
/** Loss is counted over this long, ms. */
const LOSS_WINDOW_MS = 2000;
/** Fewer losses than this in the window are not a loss rate. */
const MIN_LOST = 4;
/**
 * Nor are fewer reported packets than this: just after a rung change only the packets sent since
 * count, and 5 lost of 40 (12%) under 5% random loss is chance, not a path that loses more.
 */
const MIN_REPORTED = 60;
/** Packet sizes within this many bytes of each other are one class: 8 ms apart at most at 300 kbit/s, ms. */
const SIZE_CLASS_BYTES = 300;
/** Sizes from this class on are one class (full packets of a frame), bytes / {@link SIZE_CLASS_BYTES}. */
const LAST_SIZE_CLASS = 3;
/**
 * A class's own base counts once it has this much history, s: a class first seen in a standing
 * queue would take that queue for its base. Until then it is measured from the base of all sizes
 * (which can only overstate its queue).
 */
const CLASS_HISTORY_MS = 2000;

/** The size class of a packet of `sizeBytes` (-1: size not known). */
function sizeClass(sizeBytes: number | undefined): number {
  return sizeBytes === undefined ? -1 : Math.min(LAST_SIZE_CLASS, Math.floor(sizeBytes / SIZE_CLASS_BYTES));
}

/** A one-way delay sample, ms, and its packet's size class. */
interface Sample { owd: number; cls: number }

/** Measures the queueing delay of our packets. */
export class QueueDelayMeter {
  /** Packets sent and not yet reported: send time and size class, by transport-wide number. */
  readonly #sent = new Map<number, { at: number; cls: number }>();
  /** (time, one-way delay) samples of the current window. */
  #recent: (Sample & { at: number })[] = [];
  /** (send time, one-way delay) of the packets reported over the last {@link SENT_WINDOW_MS}. */
  #bySent: (Sample & { sentAt: number })[] = [];
  /** Per size class: minimum one-way delay per second, for the base window, and since when the class has been seen. */
  readonly #classes = new Map<number, { since: number; minima: { second: number; owd: number }[] }>();
  #lastAt = -Infinity;
  /** The send time of the newest packet the feedback reported (arrived or lost). */
  #reportedUpTo: number | null = null;
  /** Reported packets of the loss window: when, and whether lost. */
  #reports: { at: number; sentAt: number; lost: boolean }[] = [];

  /** A packet left: its transport-wide number (16 bits), send time and, when known, size on the wire. */
  onSent(seq: number, sentAtMs: number, sizeBytes?: number): void {
    this.#sent.set(seq & 0xffff, { at: sentAtMs, cls: sizeClass(sizeBytes) });
    if (this.#sent.size > 4096) {
      // Keep the newest; a number comes back after 65,536 packets, long after its feedback.
      const first = this.#sent.keys().next().value;
      if (first !== undefined) this.#sent.delete(first);
    }
  }

  /** Feedback arrived at `nowMs`: packets with their arrival time in the receiver's clock (null: lost). */
  onFeedback(results: readonly { seq: number; arrivalMs: number | null }[], nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    for (const r of results) {
      const packet = this.#sent.get(r.seq & 0xffff);
      if (packet === undefined) continue;
      const { at: sent, cls } = packet;
      if (this.#reportedUpTo === null || sent > this.#reportedUpTo) this.#reportedUpTo = sent;
      this.#reports.push({ at: nowMs, sentAt: sent, lost: r.arrivalMs === null });
      this.#sent.delete(r.seq & 0xffff);
      if (r.arrivalMs === null) continue;
      const owd = r.arrivalMs - sent;
      this.#recent.push({ at: nowMs, owd, cls });
      this.#bySent.push({ sentAt: sent, owd, cls });
      let c = this.#classes.get(cls);
      if (!c) this.#classes.set(cls, (c = { since: nowMs, minima: [] }));
      const minima = c.minima;
      const last = minima[minima.length - 1];
      if (last && last.second === second) last.owd = Math.min(last.owd, owd);
      else minima.push({ second, owd });
    }
    this.#lastAt = nowMs;
    this.#recent = this.#recent.filter((s) => nowMs - s.at <= CURRENT_WINDOW_MS);
    this.#reports = this.#reports.filter((s) => nowMs - s.at <= LOSS_WINDOW_MS);
    if (this.#bySent.length > 2048) this.#bySent = this.#bySent.slice(-1024);
    const oldest = Math.floor((nowMs - BASE_WINDOW_MS) / 1000);
    for (const [cls, c] of this.#classes) {
      while (c.minima.length && c.minima[0]!.second < oldest) c.minima.shift();
      if (!c.minima.length) this.#classes.delete(cls);
    }
  }

  /**
   * Each size class's base now, ms: its own (its least one-way delay of the base window) once it
   * has {@link CLASS_HISTORY_MS} of history, the base of all sizes before that (null: no base yet).
   */
  #baseOf(nowMs: number): ((cls: number) => number) | null {
    if (!this.#classes.size) return null;
    let all = Infinity;
    const own = new Map<number, number>();
    for (const [cls, c] of this.#classes) {
      const least = Math.min(...c.minima.map((m) => m.owd));
      all = Math.min(all, least);
      if (nowMs - c.since >= CLASS_HISTORY_MS) own.set(cls, least);
    }
    return (cls) => own.get(cls) ?? all;
  }

  /**
   * The queue that `samples` met, ms: the least of their one-way delays each less its size
   * class's base ({@link #baseOf}), plus `extra` of it when given, as a standing queue delays
   * every packet. Null with no samples or no base.
   */
  #queueOf<T extends Sample>(samples: readonly T[], nowMs: number, extra?: (x: T) => number): number | null {
    const base = this.#baseOf(nowMs);
    if (!samples.length || !base) return null;
    let queue = Infinity;
    for (const x of samples) queue = Math.min(queue, x.owd - base(x.cls) + (extra?.(x) ?? 0));
    return Math.max(0, queue);
  }

  /**
   * At most the queue a packet that left at `sentAtMs` and was not reported (an RTCP Sender
   * Report) met, ms, from the packets sent in the `spanMs` after it: one sent `d` ms after it
   * waited, in a first-in first-out queue, at least what it waited less `d`, so the least of each
   * one's queue plus its `d` bounds it from above. Null when none of them was reported.
   */
  queueMetBy(sentAtMs: number, spanMs: number): number | null {
    const after = this.#bySent.filter((x) => x.sentAt >= sentAtMs && x.sentAt <= sentAtMs + spanMs);
    return this.#queueOf(after, this.#lastAt, (x) => x.sentAt - sentAtMs);
  }

  /**
   * The share of our packets reported lost over the last {@link LOSS_WINDOW_MS}, when that is
   * telling: at least {@link MIN_LOST} lost (one loss among the five packets a second of a
   * keep-alive rung is 20%, and says nothing) of at least {@link MIN_REPORTED} reported; 0 otherwise. `sentAfter`: count only packets sent
   * after then (the losses of what the sender sent before a change it made are old news).
   */
  lossFraction(nowMs: number, sentAfter = -Infinity): number {
    return this.lossSample(nowMs, sentAfter).fraction;
  }

  /** {@link lossFraction}, and how many reported packets it counts (0 when it is not telling). */
  lossSample(nowMs: number, sentAfter = -Infinity): { fraction: number; packets: number } {
    const recent = this.#reports.filter((s) => nowMs - s.at <= LOSS_WINDOW_MS && s.sentAt > sentAfter);
    const lost = recent.filter((s) => s.lost).length;
    return lost >= MIN_LOST && recent.length >= MIN_REPORTED ? { fraction: lost / recent.length, packets: recent.length } : { fraction: 0, packets: 0 };
  }

  /**
   * The send time (our clock, ms) of the newest packet the feedback has reported: what the queue
   * and the loss say now is about packets sent up to then. Behind a long queue that is long ago,
   * so a sender that already stepped down must not step down again for the queue it left.
   */
  reportedUpTo(): number | null { return this.#reportedUpTo; }

  /**
   * The queue that packets sent in [`fromMs`, `toMs`] met, ms: the smallest of their one-way
   * delays (jitter aside, a standing queue delays each of them) minus the base. For a probe, the
   * last moments of what it sent: by then its excess has piled up. Null when none was reported.
   */
  queueOfSent(fromMs: number, toMs: number): number | null {
    const cutoff = (this.#bySent[this.#bySent.length - 1]?.sentAt ?? 0) - SENT_WINDOW_MS;
    if (this.#bySent.length && this.#bySent[0]!.sentAt < cutoff) this.#bySent = this.#bySent.filter((x) => x.sentAt >= cutoff);
    return this.#queueOf(this.#bySent.filter((x) => x.sentAt >= fromMs && x.sentAt <= toMs), this.#lastAt);
  }

  /** The queueing delay now, ms; null before any feedback or when feedback stopped a second ago. */
  queueMs(nowMs: number): number | null {
    if (nowMs - this.#lastAt > 1000) return null;
    return this.#queueOf(this.#recent, nowMs);
  }
}

/**
 * Feeds `meter` the packets and transport-wide feedback that reach `estimator` (the meter reads
 * the same ones; src/peer/adaptation.ts and the media bots' src/bots/media-feed.ts). `onFeedback`
 * hears when each message arrived.
 */
export function tapQueueMeter(estimator: BandwidthEstimator, meter: QueueDelayMeter, onFeedback?: (nowMs: number) => void): void {
  const sent = estimator.onPacketSent.bind(estimator);
  const fed = estimator.onTransportFeedback.bind(estimator);
  estimator.onPacketSent = (p) => { meter.onSent(p.seq, p.sentAtMs, p.sizeBytes); sent(p); };
  estimator.onTransportFeedback = (results, nowMs, sameBase) => {
    meter.onFeedback(results, nowMs);
    onFeedback?.(nowMs);
    fed(results, nowMs, sameBase);
  };
}

/** What a stream sent over about the last second, kbit/s, from a running byte count read now and then. */
export class SendRate {
  #samples: { at: number; bytes: number }[] = [];

  /** Adds the count `bytes` at `nowMs`; the rate since about a second ago, or undefined before half a second of samples. */
  update(nowMs: number, bytes: number): number | undefined {
    this.#samples.push({ at: nowMs, bytes });
    while (this.#samples.length > 2 && nowMs - this.#samples[1]!.at >= 1000) this.#samples.shift();
    const first = this.#samples[0]!;
    return nowMs - first.at >= 500 ? ((bytes - first.bytes) * 8) / (nowMs - first.at) : undefined;
  }
}
