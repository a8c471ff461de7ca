/**
 * The video ladder of the headless peer and the rule that picks a rung from the bandwidth
 * estimate. Each rung is encoded from the one input, a fresh keyframe on request
 * (src/peer/rung-encoders.ts); the sender changes rungs at the new rung's keyframe
 * (src/peer/media-source.ts setRung), within a frame interval or so for the CLI, at the clip's
 * next keyframe for the bots. Pure: time comes in as numbers, so the rule is tested without
 * timers.
 *
 * The rule, in the spirit of what browsers do with one encoder (libwebrtc lowers the target on
 * delay-based overuse or heavy loss and raises it slowly, probing above what it sends):
 * - Down when the path says it is congested: the delay trend says overuse, the queue is long, or
 *   more than 10% of packets are lost: one rung at once, then one a second while it lasts; or
 *   to the rung that fits when a receiver's cap (REMB) has stayed below the current rung's need
 *   for a second.
 * - Up one rung at a time: to a rung the estimate already carries with a 10% margin after
 *   {@link LadderOptions.upHoldMs} of calm; or, as a probe, to the next rung above when the
 *   path has been calm (no overuse, under 2% loss, a short queue) for the hold (longer after a
 *   probe, counted from when the new rung took effect). A probe that ends in congestion within
 *   {@link LadderOptions.probeWindowMs} (from when its rung took effect) goes back to the rung it came from and backs the probed
 *   rung off: the next probe
 *   waits twice as long, up to {@link LadderOptions.maxBackoffMs}, so a link that cannot carry
 *   the rung is not hit again and again, and a link that recovers is found again within
 *   seconds.
 * - Audio is budgeted first: a rung fits when its need plus the audio's fits the estimate, so
 *   video gives way, never the voice.
 */
import type { VideoEncodeOptions, VideoRung } from './ffmpeg.js';

/** A queue this long is congestion, ms. */
const QUEUE_LIMIT_MS = 80;
/** ... while a probe is on, ms. */
const QUEUE_PROBE_LIMIT_MS = 40;
/** A step up needs the queue shorter than this, ms. */
const QUEUE_ROOMY_MS = 20;
/** How long the queue a failed probe filled is given to drain, ms. */
const PROBE_DRAIN_MS = 3000;
/** How long what a full path carried is trusted for stepping back up without a probe, ms. */
const CAPACITY_KEEP_MS = 30_000;
/** No probe of a rung the path was just measured not to carry, for this long after, ms. */
const CAPACITY_PROBE_WAIT_MS = 4000;
/**
 * How long a padding probe sends, ms: long enough that a path short of the probed rate by a
 * tenth of its rate adds a queue past {@link PAD_PROBE_GROWTH_MS} by the probe's tail, short
 * enough that the queue it makes on a narrow path drains within a second.
 */
const PAD_PROBE_MS = 250;
/**
 * A padding probe that adds more queue than this failed, ms: a path that carries the probed rate
 * adds none (jitter aside: each side is the least delay of its packets). Judged by the absolute
 * queue past {@link QUEUE_PROBE_LIMIT_MS}, a probe of a rung 15% over a 300 kbit/s uplink passed
 * with 37 ms, and the rung it proved filled the queue to 275 ms.
 */
const PAD_PROBE_GROWTH_MS = 10;
/**
 * The first probe of a call goes straight for the best rung, for this long, ms: a call starts on
 * the rung the start estimate fits (libwebrtc starts at 300 kbit/s and probes at several times
 * that at once); on a wide path the best rung follows within a keyframe, and on a narrow one the
 * short burst costs a queue of about a tenth of a second.
 */
const FIRST_PAD_PROBE_MS = 100;
/** The probe's queue is read off the packets it sent in its last this long, ms. */
export const PAD_PROBE_TAIL_MS = 150;
/**
 * A padding probe that added at most this much queue found a path with room to spare, ms: the
 * next probe goes for the best rung at once (briefly, {@link FIRST_PAD_PROBE_MS}) before the
 * step, so a path that widened is climbed in one keyframe wait, not one per rung with a probe
 * hold between (the lab's 300 kbit/s -> 5 Mbit/s recovery: 2 -> 1 -> 0 took 3.5 s of the 5.6).
 */
const CHAIN_PROBE_QUEUE_MS = 3;
/**
 * Loss within this long of a queue past {@link QUEUE_LIMIT_MS} is that queue's tail drops, ms:
 * congestion, which the congestion rule answers; it is no reason to step down once more for
 * loss (nor to keep a calm path from stepping up). Behind a link that narrowed, the drops of
 * the backlog came in after the step down had emptied the queue, and took the sender on to the
 * 3 fps keep-alive (2 s of the lab's recovery). The loss window is 2 s, reports come a round trip later.
 */
const TAIL_DROP_MS = 3000;
/** After a padding probe that failed, its queue is given this long to drain, ms. */
const PAD_PROBE_DRAIN_MS = 1500;
/** A padding probe whose packets the feedback has not covered this long after it ended failed, ms. */
const PAD_PROBE_TIMEOUT_MS = 2000;
/** Feedback about packets sent before a change is ignored for at most this long after it, ms. */
const STALE_MAX_MS = 3000;
/**
 * A step down for a queue this long (or a path that carries less than the rung, or feedback that
 * stopped) sends nothing more of the old rung until the new one starts, ms: every old frame
 * would only wait behind the queue. A shorter queue (a probe that overshot a little) keeps the
 * old rung going for the up-to-a-second until the new rung's keyframe: a frozen picture costs
 * the viewer more than a queue of a hundred milliseconds.
 */
const HOLD_QUEUE_MS = 150;
/**
 * Congestion with a queue this long, ms, while FEC is on (and may be shed) takes the FEC off
 * before any rung: see {@link RungController.shedOverhead}.
 */
const SHED_QUEUE_MS = 50;

/** Settings of {@link RungController}. */
export interface LadderOptions {
  /** Kept for the audio (its bitrate plus packet overhead) before any video rung, kbit/s. */
  audioKbps?: number;
  /** Calm needed before a step up, ms. */
  upHoldMs?: number;
  /** Calm needed on a probed rung (counted from when it took effect) before probing the next, ms. */
  probeHoldMs?: number;
  /** A step up that meets congestion within this (counted from when the new rung took effect) is a failed probe, ms. */
  probeWindowMs?: number;
  /** First and longest wait before probing a rung that failed, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The rung to start on (default: the best that fits `startKbps`). */
  startRung?: number;
  /** The estimate to start from, kbit/s. */
  startKbps?: number;
  /**
   * Probe with padding before stepping up (the sender can send padding-only packets, see
   * {@link RungController.paddingKbps}): for {@link PAD_PROBE_MS} the sender adds what the next
   * rung needs beyond this one, and steps up only if the feedback about those packets shows no
   * queue. A probe that fails then costs a short queue, not a second of a rendition the path
   * cannot carry (and a frozen viewer while it drains). Default false: probe by stepping up.
   * `'narrow'`: with padding only on a path lately found narrow ({@link RungController.pathLimited}),
   * by stepping up elsewhere (the media bots: near the CPU limit a bots process reads late arrival
   * stamps as a queue, and a padding probe judged by the queue failed where a step up held).
   */
  paddingProbes?: boolean | 'narrow';
}

/** Loss above this is the path refusing what is sent (GCC's loss-based back-off starts there). */
const HEAVY_LOSS = 0.1;

/**
 * Whether `fraction` of `packets` reported packets is heavy loss: above {@link HEAVY_LOSS}, by two
 * binomial standard deviations of such a sample when its size is known. Just after a rung change
 * the sample is the 60-100 packets sent since, and under 5% random loss (the lab's \`lossy-5\`)
 * 7 lost of 60 (11.7%) is chance: the CLI stepped down for it in one call of two and came back
 * with a probe 3 s later, a keyframe wait each way. The margin is 7.7 points at 60 packets,
 * 3.5 at 300; true loss of 20% passes it at once.
 */
function isHeavyLoss(fraction: number, packets?: number): boolean {
  const margin = packets ? 2 * Math.sqrt((HEAVY_LOSS * (1 - HEAVY_LOSS)) / packets) : 0;
  return fraction > HEAVY_LOSS + margin;
}

/** What the bandwidth estimator says at one moment. */
export interface PathSignals {
  /** The estimated rate the path carries for our media (audio and video), kbit/s. */
  estimateKbps: number;
  /** The delay trend says the bottleneck queue is growing. */
  overuse: boolean;
  /** Recent fraction of our packets lost, 0..1. */
  lossFraction: number;
  /**
   * How many reported packets `lossFraction` was counted over, when known: heavy loss must then
   * stand above 10% by two standard deviations of a sample that size ({@link isHeavyLoss}).
   */
  lossPackets?: number;
  /**
   * A hard cap the receiver announced (REMB), kbit/s, when it has one. The estimate itself
   * caps nothing on its own: it ramps up slowly from what is sent (at most 1.5 times what the
   * receiver acknowledged), so a rung above it is a probe, and only congestion proves it wrong.
   */
  limitKbps?: number;
  /** How long our packets wait in the path's queue now, ms (null or undefined: not known). */
  queueMs?: number | null;
  /**
   * The rung the track carries now (it follows a change at the new rung's next keyframe): the
   * calm hold before the next step up counts from when a change took effect.
   */
  carrying?: number;
  /**
   * What the receiver acknowledged getting of the video, kbit/s (the transport-wide feedback's
   * delivery rate). While a queue stands at the bottleneck this is what the path carries (less
   * the audio), which a down step can go straight to.
   */
  ackedKbps?: number;
  /**
   * The send time of the newest packet the feedback reported (same clock as `now`): the queue,
   * the trend and the loss describe packets sent up to then. Congestion seen only in packets sent
   * before the current rung took effect was already answered by that change.
   */
  reportedUpTo?: number | null;
  /** Feedback stopped while we send: nothing gets through. Congestion that nothing masks. */
  stalled?: boolean;
  /**
   * What we sent of the video over the last second, kbit/s (packets handed to the network, padding
   * included). The path is over capacity when it acknowledges clearly less than this: an encoder
   * that undershoots its rung's bitrate is not a path that cannot carry the rung.
   */
  sentKbps?: number;
  /**
   * The queue the padding probe added: what its last packets met ({@link RungController.padProbe}'s
   * last {@link PAD_PROBE_TAIL_MS}) less what the packets sent just before it met, once the
   * feedback reported them, ms (null or undefined: not yet).
   */
  probeQueueMs?: number | null;
  /** The padding probe ended having sent less than half its padding (between keyframes, say): it proved nothing. */
  probeSentLittle?: boolean;
}

/** A padding probe: of which rung, sent from when to when (ms), and the rung a probe just before it proved (a chained probe). */
export interface PadProbe { rung: number; from: number; to: number; proven?: number }

/** Why the rung changed. */
export type RungReason = 'start' | 'congestion' | 'loss' | 'limit' | 'fits' | 'probe';

/** Packet and rate-control overhead on top of a rung's target bitrate: RTP/SRTP/UDP/TURN headers, keyframe overshoot. */
function rungNeedKbps(r: Pick<VideoRung, 'kbps' | 'fps'>): number {
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
  /** Video sent beside each rung's own, as a share of it (FEC), counted in its need. */
  #videoOverhead = 0;
  /** Whether congestion may take {@link #videoOverhead} off before a rung (FEC the rule chose, not the user). */
  #overheadSheddable = false;
  /** When {@link #videoOverhead} was last set (what `reportedUpTo` must pass to tell of it). */
  #overheadAt = -Infinity;
  #shed = false;
  /** When congestion last shed the overhead. */
  #shedAt = -Infinity;
  /** When a probe last failed (the path was found not to carry more). */
  #lastFailAt = -Infinity;
  /** No padding probe yet in this call: the first goes for the best rung. */
  #firstPadProbe = true;
  /**
   * The padding probe on now: of which rung, sent from when to when, and the rung a probe just
   * before it proved (chained probes: {@link CHAIN_PROBE_QUEUE_MS}) (null: none).
   */
  #padProbe: PadProbe | null = null;
  /** When the queue was last past {@link QUEUE_LIMIT_MS}. */
  #longQueueAt = -Infinity;
  #target: number;
  #reason: RungReason = 'start';
  #overuseNow = false;
  /** Since when the path has been calm (no overuse, loss under 2%); null while it is not. */
  #calmSince: number | null = null;
  /** Since when the estimate has been under the current rung's need; null while it is not. */
  #shortSince: number | null = null;
  /** The last step up: to which rung, from which (always a rung below it), and when, while its probe window is open. */
  #probe: { rung: number; from: number; at: number } | null = null;
  /** Per rung: the earliest time to probe it again and the current back-off. */
  readonly #backoff = new Map<number, { until: number; ms: number }>();
  #lastChangeAt = -Infinity;
  /** What the path carried (audio included) when a queue last stood at the bottleneck, kbit/s, and when. */
  #capacity: { kbps: number; at: number } | null = null;
  /** The rung last stepped up to because the remembered capacity carries it (null: none). */
  #upByCapacity: number | null = null;
  /** The queue a second or so ago (is it draining?). */
  #queueBefore: { at: number; ms: number } | null = null;
  /** Congestion that does not show the rung is over what the path carries waits until then: the queue a failed probe filled drains. */
  #drainUntil = -Infinity;
  /**
   * Until then, the queue is a failed padding probe's, and nothing but a stall steps down for
   * congestion: the rung it probed from was carried, calm, until the padding went out.
   */
  #padDrainUntil = -Infinity;
  /** When the last step down straight to what the acknowledged rate carries was taken (null: none yet). */
  #jumpedAt: number | null = null;
  /** The last step down asked to send nothing of the old rung until the new one starts. */
  #hold = false;
  /** What the current update says about holding, should it step down. */
  #holdNow = false;
  /** Rung changes so far. */
  changes = 0;

  constructor(rungs: readonly VideoRung[], opts: LadderOptions = {}) {
    if (!rungs.length) throw new Error('RungController needs at least one rung');
    this.rungs = rungs;
    this.#o = {
      audioKbps: opts.audioKbps ?? 50,
      upHoldMs: opts.upHoldMs ?? 500,
      probeHoldMs: opts.probeHoldMs ?? 1000,
      probeWindowMs: opts.probeWindowMs ?? 3000,
      minBackoffMs: opts.minBackoffMs ?? 2500,
      maxBackoffMs: opts.maxBackoffMs ?? 10_000,
      paddingProbes: opts.paddingProbes ?? false,
    };
    this.#target = opts.startRung !== undefined ? this.#clamp(opts.startRung) : this.fitting(opts.startKbps ?? 300);
  }

  /** The rung to send now. */
  get target(): number { return this.#target; }
  /** Why it is the rung it is. */
  get reason(): RungReason { return this.#reason; }
  /** Whether the last update saw congestion (the delay trend's overuse, or a long queue). */
  get congested(): boolean { return this.#overuseNow; }
  /**
   * The path was lately found narrow: a standing queue measured what it carries, or a probe of a
   * higher rung failed, within the last {@link CAPACITY_KEEP_MS}.
   */
  pathLimited(now: number): boolean {
    return (this.#capacity !== null && now - this.#capacity.at < CAPACITY_KEEP_MS) || now - this.#lastFailAt < CAPACITY_KEEP_MS;
  }
  /** What a rung's video needs on the wire, kbit/s (its need less the audio's budget). */
  videoNeedKbps(rung: number): number { return this.needKbps(rung) - this.#o.audioKbps; }
  /** The padding probe on now, and when it sends (null: none). */
  get padProbe(): PadProbe | null { return this.#padProbe; }
  /**
   * Padding to add now, kbit/s: what the probed rung needs beyond the current one, while a padding
   * probe is on (0 otherwise).
   */
  paddingKbps(now: number): number {
    const p = this.#padProbe;
    if (!p || now < p.from || now >= p.to) return 0;
    return Math.max(0, this.needKbps(p.rung) - this.needKbps(this.#target));
  }
  /** The last change was a step down for a queue that old frames would only lengthen: send nothing more of the old rung. */
  get hold(): boolean { return this.#hold; }
  /** When the rung last changed (or, after a change, when the track took it up), ms. */
  get changedAt(): number { return this.#lastChangeAt; }
  /** What a rung needs on the wire, audio included, kbit/s (with the FEC's share of the video when it is on). */
  needKbps(rung: number): number { return rungNeedKbps(this.rungs[this.#clamp(rung)]!) * (1 + this.#videoOverhead) + this.#o.audioKbps; }
  /**
   * Video sent beside each rung's own, as a share of it (FEC: src/peer/fec.ts), from `now` on;
   * 0 by default. `sheddable`: congestion takes it off before it takes a rung ({@link shedOverhead}).
   */
  setVideoOverhead(share: number, now: number, sheddable = false): void {
    this.#videoOverhead = Math.max(0, share);
    this.#overheadAt = now;
    this.#overheadSheddable = sheddable && this.#videoOverhead > 0;
  }
  /**
   * The last update met congestion with FEC on and took the FEC off rather than a rung: its
   * sender must stop sending it. FEC goes on top of a rung the path carried, and on a narrow
   * uplink that is what fills it (on the 150 kbit/s rung a packet per two frames is 45% more,
   * behind a 300 kbit/s `low-upload` uplink; the queue then grew 2.5 s and the ladder went to the
   * 3 fps keep-alive). Only for a standing queue ({@link SHED_QUEUE_MS}) in packets sent after
   * FEC went on, and not while a probe is on or a failed one's queue drains (nor the backlog
   * after a step down straight to what the receiver acknowledges): a delay trend alone, a probe,
   * and a rung the path does not carry even without FEC are answered as without FEC.
   */
  get shedOverhead(): boolean { return this.#shed; }

  /** The best rung whose need fits `kbps` (the last, the keep-alive, when none does). */
  fitting(kbps: number, margin = 1): number {
    for (let i = 0; i < this.rungs.length; i++) if (this.needKbps(i) * margin <= kbps) return i;
    return this.rungs.length - 1;
  }

  /** Takes the signals at `now` (ms) and returns the rung to send. */
  update(now: number, s: PathSignals): number {
    const cur = this.#target;
    this.#shed = false;
    // Until the change takes effect, the hold has not started.
    if (s.carrying !== undefined && s.carrying !== cur) this.#lastChangeAt = now;
    const heavyLoss = isHeavyLoss(s.lossFraction, s.lossPackets);
    // A queue is congestion past 80 ms (LEDBAT's target is 100), past 40 ms while a probe is on:
    // a probe that fills the queue is wrong, and the sooner it goes back the less the viewer sees.
    const q = s.queueMs ?? null;
    const probing = this.#probe !== null && this.#probe.rung === cur;
    // A long queue that shrinks, on a rung the path was measured to carry, is draining: the
    // congestion it tells of was answered already.
    const cap = this.#capacity !== null && now - this.#capacity.at < CAPACITY_KEEP_MS ? this.#capacity.kbps : 0;
    const before = this.#queueBefore;
    const draining = q !== null && before !== null && q < before.ms - 20 && this.needKbps(cur) <= cap;
    if (q !== null && (before === null || now - before.at >= 1000)) this.#queueBefore = { at: now, ms: q };
    const longQueue = !draining && q !== null && q > (probing ? QUEUE_PROBE_LIMIT_MS : QUEUE_LIMIT_MS);
    if (q !== null && q > QUEUE_LIMIT_MS) this.#longQueueAt = now;
    const tailDrops = now - this.#longQueueAt < TAIL_DROP_MS;
    // Congestion in packets sent before the current rung took effect was answered by that
    // change: behind a queue of a second, the feedback still tells of the rung before it.
    // (For at most STALE_MAX_MS: feedback that never reaches the new rung is a stall, below.)
    // So was congestion in packets sent before FEC was shed.
    const reported = s.reportedUpTo ?? null;
    const answeredAt = (t: number) => reported !== null && reported <= t && now - t < STALE_MAX_MS;
    const stale = (answeredAt(this.#lastChangeAt) && this.#reason !== 'probe' && this.#reason !== 'fits' && this.#reason !== 'start')
      || answeredAt(this.#shedAt);
    const overuse = (!stale && (s.overuse || longQueue)) || s.stalled === true;
    this.#overuseNow = overuse;
    // Calm needs feedback that says so: a queue meter that has none yet (null; or feedback that
    // stopped) knows nothing. (Signals without a queue meter at all judge by the rest.)
    // Loss of a few percent with no queue at all is the path's, not ours (radio, a lossy hop):
    // NACKs repair it, and a lower rung would lose as much, so it does not keep the rule from
    // stepping up. Without a queue meter, calm means under 2% loss as GCC has it.
    const roomy = q !== null && q < QUEUE_ROOMY_MS;
    const calm = !overuse && (s.queueMs === undefined ? s.lossFraction < 0.02 : roomy && (s.lossFraction < (q < 5 ? 0.1 : 0.02) || (tailDrops && q < 5)));
    this.#calmSince = calm ? (this.#calmSince ?? now) : null;
    this.#shortSince = s.limitKbps !== undefined && s.limitKbps < this.needKbps(cur) * 0.9 ? (this.#shortSince ?? now) : null;
    // The probe's window opens when its rung took effect, not when it was asked for: the switch
    // waits for that rung's keyframe (a frame interval or so for the CLI, up to two seconds for the bots' clip), and a
    // rung the path cannot carry shows it only once it is sent. (Counted from the ask, a bot's
    // probe failed past the window, lost its back-off, and was tried again 2.5 s later, all call.)
    // (At most STALE_MAX_MS later than the ask: a rung that never takes effect does not keep it open.)
    const probeFrom = this.#probe === null ? 0
      : this.#probe.rung === cur ? Math.max(this.#probe.at, Math.min(this.#lastChangeAt, this.#probe.at + STALE_MAX_MS)) : this.#probe.at;
    if (this.#probe && now - probeFrom > this.#o.probeWindowMs) {
      this.#backoff.delete(this.#probe.rung); // it held: probing it later needs no back-off
      this.#probe = null;
    }

    // A padding probe: judged by the feedback about its own packets.
    const pad = this.#padProbe;
    if (pad) {
      const reported = s.reportedUpTo ?? null;
      const allIn = reported !== null && reported >= pad.to;
      const pq = s.probeQueueMs ?? null;
      const failed = pad.rung >= cur || now > pad.to + PAD_PROBE_TIMEOUT_MS || (s.stalled === true) || s.probeSentLittle === true
        || (reported !== null && reported >= pad.from && (overuse || (heavyLoss && !tailDrops))) || (allIn && pq !== null && pq > PAD_PROBE_GROWTH_MS);
      if (failed) {
        // The path did not carry it (or the rung moved on): back that rung off, as a failed probe,
        // and give the little queue the probe made its time to drain.
        this.#padProbe = null;
        if (pad.rung < cur) {
          this.#failProbe(now, pad.rung, PAD_PROBE_DRAIN_MS);
          this.#padDrainUntil = now + PAD_PROBE_DRAIN_MS;
          // A chained probe that queued (or proved nothing): the rung the probe before it proved
          // still fits, unless the path stalls or loses heavily. Congestion now is the queue the
          // brief probe itself made (a 100 ms burst of the best rung's need on a path that
          // carries the proven rung only may pass 80 ms); it drains on the proven rung, which
          // #failProbe's drain time keeps from reading it as congestion for 1.5 s.
          if (pad.proven !== undefined && pad.proven < cur && s.stalled !== true && !(heavyLoss && !tailDrops)) {
            this.#probe = { rung: pad.proven, from: cur, at: now };
            return this.#set(now, pad.proven, 'probe');
          }
          if (s.stalled !== true) return cur;
        }
      } else if (allIn && pq !== null) {
        // Every packet of the probe reported, and no queue: the path carries the next rung.
        this.#padProbe = null;
        if (pad.proven === undefined && pad.rung > 0 && pq <= CHAIN_PROBE_QUEUE_MS && !this.#backedOff(now, 0)) {
          // Room to spare: try the best rung before stepping (it falls back to this one).
          this.#padProbe = { rung: 0, from: now, to: now + FIRST_PAD_PROBE_MS, proven: pad.rung };
          return cur;
        }
        this.#probe = { rung: pad.rung, from: cur, at: now };
        return this.#set(now, pad.rung, 'probe');
      } else {
        return cur;
      }
    }

    // Down: congestion, heavy loss, or an estimate that stays short of this rung.
    const fit = this.fitting(s.limitKbps !== undefined && this.#shortSince !== null ? Math.min(s.estimateKbps, s.limitKbps) : s.estimateKbps);
    const down: RungReason | null = overuse ? 'congestion' : heavyLoss && !tailDrops ? 'loss' : this.#shortSince !== null && now - this.#shortSince >= 1000 ? 'limit' : null;
    // Congestion or heavy loss the estimate does not show yet: one rung down, once a second.
    // After a failed probe the queue it filled takes a while to drain: the rung it came back to
    // carried the path before, so congestion does not take it off until the drain had its time.
    // (Unless what the receiver acknowledges shows that rung does not fit either: below.)
    const overCapacity = down === 'congestion' && longQueue && s.ackedKbps !== undefined && this.needKbps(cur) > s.ackedKbps + this.#o.audioKbps
      && (s.sentKbps === undefined || s.ackedKbps < 0.9 * s.sentKbps);
    this.#holdNow = down === 'congestion' && (overCapacity || s.stalled === true || (q !== null && q > HOLD_QUEUE_MS));
    if (down === 'congestion' && !overCapacity && s.stalled !== true && now < this.#drainUntil) return cur;
    // What the receiver acknowledges does not measure the path while a failed padding probe's
    // queue drains: the padding took its share of the link, and the media sent into that queue is
    // acknowledged later than sent. (Behind a 300 kbit/s uplink, the 150 kbit/s rung read as over
    // capacity there, 160 acknowledged of 180 sent, and the sender went to the 3 fps keep-alive.)
    if (down === 'congestion' && s.stalled !== true && now < this.#padDrainUntil) return cur;
    // The trend's overuse in those seconds is the backlog's own packets arriving later and later
    // (the feedback tells of them last); what the receiver acknowledges meanwhile says whether the
    // new rung fits: more than it needs, and the queue drains. (Media bots behind a 300 kbit/s
    // uplink stepped on down for it a second after each jump, from the rung that fitted.)
    const ackCarries = s.ackedKbps !== undefined && s.ackedKbps + this.#o.audioKbps >= 1.1 * this.needKbps(cur);
    const drainingBacklog = longQueue && (!s.overuse || ackCarries) && s.stalled !== true && !overCapacity;
    if (down === 'congestion' && drainingBacklog && this.#jumpedAt !== null && now - this.#jumpedAt < PROBE_DRAIN_MS) return cur;
    // FEC first (see shedOverhead): the rung stays, and a step down waits a second, as after one.
    // Not for a queue the feedback has not shown FEC in yet. Where what the receiver acknowledges
    // shows the path over capacity, FEC goes too, and the jump below picks the rung without it.
    const shed = down === 'congestion' && this.#overheadSheddable && q !== null && q >= SHED_QUEUE_MS
      && this.#probe?.rung !== cur && reported !== null && reported > this.#overheadAt;
    if (shed) {
      this.#videoOverhead = 0;
      this.#overheadSheddable = false;
      this.#shed = true;
      this.#shedAt = now;
      if (!overCapacity) return cur;
    }
    // Congestion and heavy loss take one rung at a time, a second apart: the estimate measured
    // while a queue fills undersells the path (it sent a 300 kbit/s link's sender to the 3 fps
    // keep-alive where 150 kbit/s fitted). A receiver's cap goes straight to what fits it.
    let oneDown = now - this.#lastChangeAt >= 1000 && (shed || now - this.#shedAt >= 1000) ? Math.min(this.rungs.length - 1, cur + 1) : cur;
    // A standing queue means the bottleneck is full: what the receiver acknowledges is what the
    // path carries, so go straight to the rung that fits it (with 10% to spare for the queue to
    // drain), rather than a rung a second while the viewer's picture lags further behind.
    if (overCapacity) {
      const carried = s.ackedKbps! + this.#o.audioKbps;
      this.#capacity = { kbps: carried, at: now };
      oneDown = Math.max(cur + 1, this.fitting(0.9 * carried));
      // The queue the old rung left still drains for a while, and the new rung's first packets
      // wait behind it: that is no sign the new rung does not fit (it sent a 300 kbit/s link's
      // sender on from the rung that fitted to the keep-alive). As after a failed probe, only
      // what the receiver acknowledges can take it lower before the drain had its time.
      if (oneDown > cur) this.#jumpedAt = now;
    }
    // The keep-alive rung is a freeze by design (a frame every third of a second): congestion
    // takes the sender there only when the path falls short of the rung above it (what the
    // receiver acknowledges, a stall, a queue past HOLD_QUEUE_MS), not for a delay trend or a
    // shorter queue. Behind a 300 kbit/s uplink, that rung's keyframe each second and a probe's
    // padding queue a while; each step they caused froze the viewer's picture for the rest of the call.
    if (down === 'congestion' && cur === this.rungs.length - 2 && !overCapacity && s.stalled !== true && !(q !== null && q > HOLD_QUEUE_MS)
      && this.#probe?.rung !== cur) return cur;
    const to = down === 'limit' ? Math.max(fit, cur) : down ? Math.min(this.rungs.length - 1, oneDown) : cur;
    if (to > cur) {
      // Congestion on a rung the remembered capacity said fits: that capacity is out of date
      // (cross traffic came): forget it rather than climb back to the same rung again and again.
      if (down === 'congestion' && this.#upByCapacity === cur && !overCapacity) this.#capacity = null;
      if (this.#probe && this.#probe.rung === cur) {
        // A probe that failed goes back to where it came from: that rung was carried until the
        // probe, and the estimate of a queue the probe itself filled undersells the path. For the
        // call's first probe, which jumps to the best rung, that is two rungs down, not one: the
        // rung between, on a path that carried only the one it came from, added its keyframe
        // to the queue and stepped down a second later all the same (a low-upload call whose first
        // probe passed: queue 135 -> 418 ms on the rung between, 590 ms after; p95 819 ms).
        const back = this.#probe.from;
        this.#failProbe(now, cur);
        return this.#set(now, back, down!);
      }
      return this.#set(now, to, down!);
    }

    // Up: one rung, after a calm hold.
    const hold = this.#reason === 'probe' ? this.#o.probeHoldMs : this.#o.upHoldMs;
    if (cur === 0 || this.#calmSince === null || now - this.#calmSince < this.#o.upHoldMs || now - this.#lastChangeAt < hold) return cur;
    const next = cur - 1;
    if (this.fitting(s.estimateKbps, 1.1) <= next) return this.#set(now, next, 'fits');
    // Below what the path was measured to carry when it was full (a queue drained on a lower
    // rung, or loss took it lower): back up without probing. Above it, no probe for a while.
    if (this.needKbps(next) <= 0.9 * cap) {
      this.#upByCapacity = next;
      return this.#set(now, next, 'fits');
    }
    if (cap > 0 && now - this.#capacity!.at < CAPACITY_PROBE_WAIT_MS) return cur;
    if (this.#backedOff(now, next)) return cur;
    if (this.#o.paddingProbes === true || (this.#o.paddingProbes === 'narrow' && this.pathLimited(now))) {
      // (Only when every probe pads: with padding only on a narrow path, that path was just
      // measured, and a burst for the best rung would only queue.)
      const first = this.#firstPadProbe && next > 0 && this.#o.paddingProbes === true;
      this.#firstPadProbe = false;
      this.#padProbe = first ? { rung: 0, from: now, to: now + FIRST_PAD_PROBE_MS } : { rung: next, from: now, to: now + PAD_PROBE_MS };
      return cur;
    }
    this.#probe = { rung: next, from: cur, at: now };
    return this.#set(now, next, 'probe');
  }

  /** A probe of `rung` failed lately: no probe of it until its back-off ends. */
  #backedOff(now: number, rung: number): boolean {
    const back = this.#backoff.get(rung);
    return back !== undefined && now < back.until;
  }

  /** A probe of `rung` failed: back it off, and give the queue it filled `drainMs` to drain. */
  #failProbe(now: number, rung: number, drainMs = PROBE_DRAIN_MS): void {
    const prev = this.#backoff.get(rung);
    const ms = prev ? Math.min(this.#o.maxBackoffMs, prev.ms * 2) : this.#o.minBackoffMs;
    this.#backoff.set(rung, { until: now + ms, ms });
    this.#probe = null;
    this.#lastFailAt = now;
    this.#drainUntil = Math.max(this.#drainUntil, now + drainMs);
  }

  #set(now: number, rung: number, reason: RungReason): number {
    if (rung !== this.#target) {
      this.#hold = rung > this.#target && this.#holdNow;
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
