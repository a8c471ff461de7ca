/**
 * The video ladder of the headless peer and the rule that picks a rung from the bandwidth
 * estimate. ffmpeg encodes every rung at once from one input (src/peer/ffmpeg.ts ladderArgs);
 * the sender changes rungs at keyframes (src/peer/media-source.ts setRung), so a change costs no
 * encoder restart. Pure: time comes in as numbers, so the rule is tested without timers.
 *
 * The rule, in the spirit of what browsers do with one encoder (libwebrtc lowers the target on
 * delay-based overuse or heavy loss and raises it slowly, probing above what it sends):
 * - Down at once, to the best rung that fits the estimate, when the path says it is congested:
 *   the delay trend says overuse, or more than 10% of packets are lost, or the estimate has
 *   stayed below what the current rung needs for a second (a receiver's REMB cap, say). Overuse
 *   or heavy loss that the estimate does not reflect yet still takes one rung a second off.
 * - Up one rung at a time: to a rung the estimate already carries with a 10% margin after
 *   {@link LadderOptions.upHoldMs} of calm; or, as a probe, to the next rung above when the
 *   path has been calm (no overuse, under 2% loss) for the hold. A probe that ends in
 *   congestion within {@link LadderOptions.probeWindowMs} backs that rung off: the next probe
 *   waits twice as long, up to {@link LadderOptions.maxBackoffMs}, so a link that cannot carry
 *   the rung is not hit again and again, and a link that recovers is found again within
 *   seconds.
 * - Audio is budgeted first: a rung fits when its need plus the audio's fits the estimate, so
 *   video gives way, never the voice.
 */
import type { VideoEncodeOptions, VideoRung } from './ffmpeg.js';

/** Settings of {@link RungController}. */
export interface LadderOptions {
  /** Kept for the audio (its bitrate plus packet overhead) before any video rung, kbit/s. */
  audioKbps?: number;
  /** Calm needed before a step up, ms. */
  upHoldMs?: number;
  /** A step up that meets congestion within this is a failed probe, ms. */
  probeWindowMs?: number;
  /** First and longest wait before probing a rung that failed, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The rung to start on (default: the best that fits `startKbps`). */
  startRung?: number;
  /** The estimate to start from, kbit/s. */
  startKbps?: number;
}

/** What the bandwidth estimator says at one moment. */
export interface PathSignals {
  /** The estimated rate the path carries for our media (audio and video), kbit/s. */
  estimateKbps: number;
  /** The delay trend says the bottleneck queue is growing. */
  overuse: boolean;
  /** Recent fraction of our packets lost, 0..1. */
  lossFraction: number;
}

/** Why the rung changed. */
export type RungReason = 'start' | 'congestion' | 'loss' | 'limit' | 'fits' | 'probe';

/** Packet and rate-control overhead on top of a rung's target bitrate: RTP/SRTP/UDP/TURN headers, keyframe overshoot. */
export function rungNeedKbps(r: Pick<VideoRung, 'kbps' | 'fps'>): number {
  return r.kbps * 1.1 + r.fps * 0.6;
}

/**
 * The default ladder for encode settings `enc`: the encode size at its bitrate, three quarters
 * of it at half the bitrate, half of it at a quarter, and a keep-alive of 3 frames a second at
 * the half size, so the partner still sees us move when nothing else fits.
 */
export function defaultLadder(enc: Pick<VideoEncodeOptions, 'width' | 'height' | 'fps' | 'bitrateKbps'>): VideoRung[] {
  const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
  const { width: w, height: h, fps, bitrateKbps: kbps } = enc;
  const ladder: VideoRung[] = [
    { width: w, height: h, fps, kbps },
    { width: even(w * 0.75), height: even(h * 0.75), fps, kbps: Math.round(kbps * 0.5) },
    { width: even(w / 2), height: even(h / 2), fps, kbps: Math.round(kbps * 0.25) },
    { width: even(w / 2), height: even(h / 2), fps: Math.min(3, fps), kbps: Math.max(30, Math.round(kbps * 0.07)) },
  ];
  // Never a rung that is not cheaper than the one above it (a tiny encode size, say).
  return ladder.filter((r, i) => i === 0 || r.kbps < ladder[i - 1]!.kbps);
}

/** Picks the rung to send from {@link PathSignals}; see the module comment for the rule. */
export class RungController {
  readonly rungs: readonly VideoRung[];
  readonly #o: Required<Omit<LadderOptions, 'startRung' | 'startKbps'>>;
  #target: number;
  #reason: RungReason = 'start';
  /** Since when the path has been calm (no overuse, loss under 2%); null while it is not. */
  #calmSince: number | null = null;
  /** Since when the estimate has been under the current rung's need; null while it is not. */
  #shortSince: number | null = null;
  /** The last step up: to which rung and when, while its probe window is open. */
  #probe: { rung: number; at: number } | null = null;
  /** Per rung: the earliest time to probe it again and the current back-off. */
  readonly #backoff = new Map<number, { until: number; ms: number }>();
  #lastChangeAt = -Infinity;
  /** Rung changes so far. */
  changes = 0;

  constructor(rungs: readonly VideoRung[], opts: LadderOptions = {}) {
    if (!rungs.length) throw new Error('RungController needs at least one rung');
    this.rungs = rungs;
    this.#o = {
      audioKbps: opts.audioKbps ?? 50,
      upHoldMs: opts.upHoldMs ?? 1000,
      probeWindowMs: opts.probeWindowMs ?? 3000,
      minBackoffMs: opts.minBackoffMs ?? 2000,
      maxBackoffMs: opts.maxBackoffMs ?? 4000,
    };
    this.#target = opts.startRung !== undefined ? this.#clamp(opts.startRung) : this.fitting(opts.startKbps ?? 300);
  }

  /** The rung to send now. */
  get target(): number { return this.#target; }
  /** Why it is the rung it is. */
  get reason(): RungReason { return this.#reason; }
  /** What a rung needs on the wire, audio included, kbit/s. */
  needKbps(rung: number): number { return rungNeedKbps(this.rungs[this.#clamp(rung)]!) + this.#o.audioKbps; }

  /** The best rung whose need fits `kbps` (the last, the keep-alive, when none does). */
  fitting(kbps: number, margin = 1): number {
    for (let i = 0; i < this.rungs.length; i++) if (this.needKbps(i) * margin <= kbps) return i;
    return this.rungs.length - 1;
  }

  /** Takes the signals at `now` (ms) and returns the rung to send. */
  update(now: number, s: PathSignals): number {
    const cur = this.#target;
    const heavyLoss = s.lossFraction > 0.1;
    const calm = !s.overuse && s.lossFraction < 0.02;
    this.#calmSince = calm ? (this.#calmSince ?? now) : null;
    this.#shortSince = s.estimateKbps < this.needKbps(cur) * 0.9 ? (this.#shortSince ?? now) : null;
    if (this.#probe && now - this.#probe.at > this.#o.probeWindowMs) {
      this.#backoff.delete(this.#probe.rung); // it held: probing it later needs no back-off
      this.#probe = null;
    }

    // Down: congestion, heavy loss, or an estimate that stays short of this rung.
    const fit = this.fitting(s.estimateKbps);
    const down: RungReason | null = s.overuse ? 'congestion' : heavyLoss ? 'loss' : this.#shortSince !== null && now - this.#shortSince >= 1000 ? 'limit' : null;
    // Congestion or heavy loss the estimate does not show yet: one rung down, once a second.
    const oneDown = (down === 'congestion' || down === 'loss') && now - this.#lastChangeAt >= 1000 ? Math.min(this.rungs.length - 1, cur + 1) : cur;
    const to = down ? Math.max(fit, oneDown) : cur;
    if (to > cur) {
      if (this.#probe && this.#probe.rung === cur) this.#failProbe(now, cur);
      return this.#set(now, to, down!);
    }

    // Up: one rung, after a calm hold.
    if (cur === 0 || this.#calmSince === null || now - this.#calmSince < this.#o.upHoldMs || now - this.#lastChangeAt < this.#o.upHoldMs) return cur;
    const next = cur - 1;
    if (this.fitting(s.estimateKbps, 1.1) <= next) return this.#set(now, next, 'fits');
    const back = this.#backoff.get(next);
    if (back && now < back.until) return cur;
    this.#probe = { rung: next, at: now };
    return this.#set(now, next, 'probe');
  }

  #failProbe(now: number, rung: number): void {
    const prev = this.#backoff.get(rung);
    const ms = prev ? Math.min(this.#o.maxBackoffMs, prev.ms * 2) : this.#o.minBackoffMs;
    this.#backoff.set(rung, { until: now + ms, ms });
    this.#probe = null;
  }

  #set(now: number, rung: number, reason: RungReason): number {
    if (rung !== this.#target) {
      this.#target = rung;
      this.#reason = reason;
      this.#lastChangeAt = now;
      this.changes++;
      if (reason !== 'probe' && reason !== 'fits') this.#calmSince = null;
    }
    return this.#target;
  }

  #clamp(rung: number): number {
    return Math.max(0, Math.min(this.rungs.length - 1, Math.round(rung)));
  }
}
