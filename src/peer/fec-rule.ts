/**
 * When the werift peer's video goes out with FEC (src/peer/fec.ts) under `fec: 'auto'`: a pure
 * rule over what the adaptation reads each tick, so it can be tested without a call.
 *
 * - **A long path that lost a packet lately.** The path's round trip is at least
 *   {@link FEC_MIN_RTT_MS} and the partner asked for a resend (a NACK) in the last
 *   {@link FEC_LOSS_KEEP_MS}: a resend then comes too late to keep the picture moving (a freeze at
 *   15 fps is a gap of about 220 ms), where an FEC packet after every frame or two rebuilds a lost
 *   packet within a frame interval. On a short path the resend is fast enough and FEC would only
 *   cost bandwidth. The round trip is the path's own (the least lately,
 *   `BandwidthEstimator.baseRttMs`), not the latest: under `low-upload` (80 ms) a queue of our own
 *   video made it 206 ms, FEC went on, added its quarter to a full uplink, and the ladder fell to
 *   its keep-alive rung for the rest of the call. A call starts as if a packet had just been lost:
 *   a long path is protected until 30 s without a loss show it need not be (under `3g`, a freeze
 *   of 358 ms at the call's first loss, before FEC was on).
 * - **A lossy hop.** At any round trip, {@link FEC_MIN_LOSS} of our packets lost with no queue
 *   behind it (a lossy hop, not a full bottleneck, whose drops FEC would only add to): under the
 *   lab's `lossy-5` a resend comes within 60 ms, but a frame waits for it, two or three a second.
 *   The queue must have been short since before the lost packets left ({@link FEC_CALM_FOR_MS}).
 */
const FEC_MIN_RTT_MS = 150;
export const FEC_LOSS_KEEP_MS = 30_000;
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
  /** The path's own round trip, ms (undefined: no report yet). */
  baseRttMs: number | undefined;
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
  /**
   * The path's own round trip as read at the last tick our queue was short (undefined: none yet).
   * At a call's start every report may have waited behind the start's keyframes: under
   * `low-upload` (60 ms) the first reports read 160-200 ms, FEC went on, added its quarter to the
   * full uplink, and the queue's 160 ms took the ladder to its keep-alive rung for 3 s.
   */
  #calmRttMs: number | undefined;

  constructor(mode: 'auto' | 'on' | 'off' = 'auto') { this.#mode = mode; }

  /** Whether FEC is wanted at `now` (ms) given `inputs`. */
  update(now: number, inputs: FecInputs): boolean {
    if (this.#lossAt === null || inputs.nacked > this.#nackedBefore) this.#lossAt = now;
    this.#nackedBefore = inputs.nacked;
    if (this.#queuedAt === null || inputs.queueMs === null || inputs.queueMs >= FEC_CALM_QUEUE_MS) this.#queuedAt = now;
    if (inputs.lossFraction >= FEC_MIN_LOSS && now - this.#queuedAt >= FEC_CALM_FOR_MS) this.#heavyLossAt = now;
    if (this.#mode !== 'auto') return this.#mode === 'on';
    if (inputs.queueMs !== null && inputs.queueMs < FEC_CALM_QUEUE_MS && inputs.baseRttMs !== undefined) this.#calmRttMs = inputs.baseRttMs;
    const rtt = this.#calmRttMs;
    return now - this.#heavyLossAt < FEC_LOSS_KEEP_MS
      || (rtt !== undefined && rtt >= FEC_MIN_RTT_MS && now - this.#lossAt < FEC_LOSS_KEEP_MS);
  }
}
