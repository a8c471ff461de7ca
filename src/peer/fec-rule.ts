/**
 * When the werift peer's video goes out with FEC (src/peer/fec.ts) under `fec: 'auto'`: a pure
 * rule over what the adaptation reads each tick, so it can be tested without a call.
 *
 * - **A long path that lost a packet lately.** The path's round trip is at least
 *   {@link FEC_MIN_RTT_MS} and the partner asked for a resend (a NACK) in the last
 *   {@link FEC_LOSS_KEEP_MS}: a resend then comes too late to keep the picture moving (a freeze at
 *   15 fps is a gap of about 220 ms), where an FEC packet after every frame or two rebuilds a lost
 *   packet within a frame interval. On a short path the resend is fast enough and FEC would only
 *   cost bandwidth. The round trip is the path's own: each report's less the queue its Sender
 *   Report met in our uplink (it waits there like our media: at most what the packets sent just
 *   after it met plus how much later they left, from the transport-wide feedback), the least of
 *   the last {@link FEC_LOSS_KEEP_MS}'s, once there are {@link MIN_PATH_RTTS} of them. A call
 *   starts as if a packet had just been lost: a long path is protected until 30 s without a loss
 *   show it need not be (under `3g`, a freeze of 358 ms at the call's first loss, before FEC was
 *   on). Under `low-upload` (60 ms) the first reports waited
 *   behind the start's keyframes and first probe and read 150-310 ms, while the queue meter, which
 *   reads a standing queue and not a burst's, read under 30. Taken as the path's at a tick the
 *   queue read short (the rule before), they turned FEC on in 5 calls of 34: on the 150 kbit/s
 *   rung its packet per two frames added 45% to a full 300 kbit/s uplink, the queue passed 150 ms,
 *   and each of those calls fell to the 3 fps keep-alive rung (freeze up to 0.22, p95 up to 600 ms).
 * - **A lossy hop.** At any round trip, {@link FEC_MIN_LOSS} of our packets lost with no queue
 *   behind it (a lossy hop, not a full bottleneck, whose drops FEC would only add to): under the
 *   lab's `lossy-5` a resend comes within 60 ms, but a frame waits for it, two or three a second.
 *   The queue must have been short since before the lost packets left ({@link FEC_CALM_FOR_MS}).
 *
 * Either way, FEC that congestion took off (the ladder sheds it before a rung:
 * src/peer/ladder.ts `shedOverhead`) stays off for {@link FEC_SHED_HOLD_MS}, longer each time
 * after: the path had no room for it. Under `low-upload` 4 packets lost of 75 in the call's
 * first seconds (bad luck on 0.5% loss, or a burst) turned the lossy-hop arm on in 1 call of 14;
 * FEC then filled the uplink and that call fell to the 3 fps keep-alive.
 */
const FEC_MIN_RTT_MS = 150;
/** How long a report waits for the queue its Sender Report met to be known, ms. */
const REPORT_WAIT_MS = 1000;
/** Reports of the path's round trip needed before it counts (one may have met a queue the feedback had not told of yet). */
const MIN_PATH_RTTS = 2;
export const FEC_LOSS_KEEP_MS = 30_000;
/** FEC that congestion took off stays off this long, ms, twice as long after each shed up to {@link FEC_SHED_HOLD_MAX_MS}. */
const FEC_SHED_HOLD_MS = 30_000;
const FEC_SHED_HOLD_MAX_MS = 120_000;
const FEC_MIN_LOSS = 0.03;
/** A queue shorter than this, ms, is no bottleneck's. */
const FEC_CALM_QUEUE_MS = 30;
/**
 * The queue must have stayed short this long, ms, for loss to be a lossy hop's: the loss is
 * counted over the last 2 s of feedback (src/peer/queue-delay.ts), and a full drop-tail queue
 * drops at its longest, then drains once the ladder steps down while its drops are still counted.
 */
const FEC_CALM_FOR_MS = 2500;
/**
 * What FEC adds to a rung's video, as a share: one packet (the size of the longest it protects)
 * after each frame of four packets or more, else per two frames (media-source.ts
 * `fecAfterFrame`). For 640x480 at 600 kbit/s (4-6 packets a frame) that is 20-30% of the bytes.
 */
export const FEC_SHARE = 0.25;

/** What the rule reads at each tick. */
export interface FecInputs {
  /** Packets the partner has asked to resend so far (NACKed), a running count. */
  nacked: number;
  /** Recent loss of our packets, 0..1. */
  lossFraction: number;
  /** How long our packets wait in the path's queue now, ms (null: not known). */
  queueMs: number | null;
  /** The latest round trip from a receiver report, ms (undefined: no report yet). */
  rttMs: number | undefined;
  /** When that report came, ms, the clock of `now` (undefined: no report yet). */
  rttAtMs: number | undefined;
  /** The queue in our uplink that report's Sender Report met, ms (null or undefined: not known, and the report does not count). */
  rttQueueMs?: number | null | undefined;
}

/** Decides, tick by tick, whether FEC is wanted (`auto`), or says what it was told (`on`, `off`). */
export class FecRule {
  readonly #mode: 'auto' | 'on' | 'off';
  #nackedBefore = 0;
  /** The last NACK; a call starts as if it had just had one. */
  #lossAt: number | null = null;
  #heavyLossAt = -Infinity;
  /** The last tick the queue was long or not known (the first tick's, as nothing was known before). */
  #queuedAt: number | null = null;
  /** The path's round trips (reports less the queue they met) of the last {@link FEC_LOSS_KEEP_MS}, and when. */
  #pathRtts: { ms: number; at: number }[] = [];
  /** When the last report the rule looked at came. */
  #rttSeenAt: number | undefined;
  /** Until when FEC stays off because congestion took it off, and for how long the last time. */
  #shedUntil = -Infinity;
  #shedHoldMs = 0;

  constructor(mode: 'auto' | 'on' | 'off' = 'auto') { this.#mode = mode; }

  /**
   * Congestion took FEC off at `now` (ms): under `auto` it stays off for {@link FEC_SHED_HOLD_MS},
   * and twice as long each time after (a loss in the meantime would bring it back to be shed again).
   */
  shed(now: number): void {
    this.#shedHoldMs = Math.min(FEC_SHED_HOLD_MAX_MS, this.#shedHoldMs ? this.#shedHoldMs * 2 : FEC_SHED_HOLD_MS);
    this.#shedUntil = now + this.#shedHoldMs;
  }

  /** Whether FEC is wanted at `now` (ms) given `inputs`. */
  update(now: number, inputs: FecInputs): boolean {
    if (this.#lossAt === null || inputs.nacked > this.#nackedBefore) this.#lossAt = now;
    this.#nackedBefore = inputs.nacked;
    // A report whose queue is not known yet (the feedback about the packets after its Sender
    // Report is on its way) is looked at again at the next tick, for up to REPORT_WAIT_MS.
    if (inputs.rttMs !== undefined && inputs.rttAtMs !== undefined && inputs.rttAtMs !== this.#rttSeenAt) {
      const q = inputs.rttQueueMs ?? null;
      if (q !== null) this.#pathRtts.push({ ms: Math.max(0, inputs.rttMs - q), at: now });
      if (q !== null || now - inputs.rttAtMs > REPORT_WAIT_MS) this.#rttSeenAt = inputs.rttAtMs;
    }
    while (this.#pathRtts.length && now - this.#pathRtts[0]!.at > FEC_LOSS_KEEP_MS) this.#pathRtts.shift();
    if (this.#queuedAt === null || inputs.queueMs === null || inputs.queueMs >= FEC_CALM_QUEUE_MS) this.#queuedAt = now;
    if (inputs.lossFraction >= FEC_MIN_LOSS && now - this.#queuedAt >= FEC_CALM_FOR_MS) this.#heavyLossAt = now;
    if (this.#mode !== 'auto') return this.#mode === 'on';
    if (now < this.#shedUntil) return false;
    const rtt = this.#pathRtts.length >= MIN_PATH_RTTS ? Math.min(...this.#pathRtts.map((r) => r.ms)) : undefined;
    return now - this.#heavyLossAt < FEC_LOSS_KEEP_MS
      || (rtt !== undefined && rtt >= FEC_MIN_RTT_MS && now - this.#lossAt < FEC_LOSS_KEEP_MS);
  }
}
