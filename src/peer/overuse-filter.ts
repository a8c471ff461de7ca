/**
 * When the delay trend's overuse (src/peer/bandwidth/estimator.ts) counts as congestion for the
 * rung rule (src/peer/ladder.ts).
 *
 * The trend fits a line through the last groups' delay changes; a resend after a lost packet,
 * jitter, or a moment's stall of the receiving process can tilt it without any queue behind it.
 * A queue that really grows shows in the queue meter (src/peer/queue-delay.ts) within a tick:
 * so overuse while the meter sees less than `quietQueueMs` of queue counts only once it has
 * lasted `holdMs`. Measured in the CLI's traces (bench:quality --trace): under `lossy-5` (5%
 * random loss, no bottleneck) 20 of 21 overuse samples had under 5 ms of queue, and one in two
 * calls stepped down for one and went on a rung lower until a probe 3-4 s later (a keyframe wait
 * each way); under `low-upload` (a 300 kbit/s bottleneck) 3 of about 90 did.
 */

/** How long overuse must last when the queue does not back it, ms. */
export const OVERUSE_HOLD_MS = 400;
/** Less queue than this does not back the trend's overuse, ms. */
const QUIET_QUEUE_MS = 5;

/** Decides, update by update, whether the trend's overuse is congestion. */
export class OveruseFilter {
  #since: number | null = null;

  /**
   * @param holdMs how long unbacked overuse must last.
   * @param quietQueueMs overuse with at least this much queue counts at once (Infinity: never;
   * every overuse must last `holdMs`).
   */
  constructor(readonly holdMs = OVERUSE_HOLD_MS, readonly quietQueueMs = QUIET_QUEUE_MS) {}

  /**
   * `overuse`: the trend's state now; `queueMs`: the meter's queue now (null: no meter or no
   * feedback yet, and overuse counts as it is). Returns whether it counts.
   */
  update(now: number, overuse: boolean, queueMs: number | null): boolean {
    this.#since = overuse ? (this.#since ?? now) : null;
    if (!overuse) return false;
    // A queue (or no meter to say otherwise) backs it, unless nothing ever does (Infinity).
    if (Number.isFinite(this.quietQueueMs) && (queueMs === null || queueMs >= this.quietQueueMs)) return true;
    return now - this.#since! >= this.holdMs;
  }
}
