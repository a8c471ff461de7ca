/**
 * Nearby pairing: which waiting stranger a client is paired with when the hub has several.
 * Pure functions, shared by the matchmakers and bench/pairing.ts.
 *
 * The round trip between two clients is estimated from their round trips to the server's
 * landmarks (Valve's ping locations): the smallest a_i + b_i over the landmarks both measured,
 * an upper bound on the path through that landmark and close to the direct one when the
 * landmark is near either of them. A pair is acceptable when that estimate is under a limit
 * that widens with the wait (GameLift's latency tiers): near partners only at first, then
 * farther ones, then anyone, so nobody waits long for a neighbour who is not coming. Among the
 * acceptable, a shared interest and a near partner beat either alone; then the nearer; then
 * whoever waited longest. A client without numbers (an old client, a bot, "prefer strangers
 * near me" off) is acceptable to anyone at once and paired as before.
 */
import type { LandmarkRtts } from '../protocol/index.js';

/** `--pairing`: `nearby` prefers near strangers (the default), `random` pairs in arrival order. */
export type PairingMode = 'nearby' | 'random';
export const PAIRING_MODES: readonly PairingMode[] = ['nearby', 'random'];

/** While the longer-waiting of two clients has waited less than `untilMs`, their estimate must be under `maxRttMs`. */
export interface NearbyTier { untilMs: number; maxRttMs: number }

/**
 * Near partners for 2 s, farther ones until 5 s, then anyone. The limits apply to the estimate,
 * which runs above the real round trip (it counts each landmark's own delay twice, and each side
 * is rounded up): in bench/pairing.ts's model by about 25 ms at the median. So 90 ms stands for a
 * real 60-65 ms (same city or region), and 180 ms for about 150 ms, ITU-T G.114's comfortable
 * one-way delay as a round trip. A first limit of 60 ms held almost everyone for the whole 2 s.
 */
export const DEFAULT_NEARBY_TIERS: readonly NearbyTier[] = [{ untilMs: 2000, maxRttMs: 90 }, { untilMs: 5000, maxRttMs: 180 }];

/** Estimated round trip between two clients, ms, or null when they measured no landmark in common. */
export function estimatePairRttMs(a: LandmarkRtts | undefined, b: LandmarkRtts | undefined): number | null {
  if (!a || !b) return null;
  let best: number | null = null;
  for (const [name, ra] of Object.entries(a)) {
    const rb = b[name];
    if (rb === undefined) continue;
    if (best === null || ra + rb < best) best = ra + rb;
  }
  return best;
}

/** The largest estimate acceptable after `waitedMs` of waiting (Infinity once past the last tier). */
export function acceptableRttMs(waitedMs: number, tiers: readonly NearbyTier[] = DEFAULT_NEARBY_TIERS): number {
  for (const t of tiers) if (waitedMs < t.untilMs) return t.maxRttMs;
  return Infinity;
}

/** When the widening stops: from then on anyone is acceptable. */
export function widestWaitMs(tiers: readonly NearbyTier[] = DEFAULT_NEARBY_TIERS): number {
  return tiers.length ? tiers[tiers.length - 1]!.untilMs : 0;
}

/** One side of a possible pair. */
export interface PairSide {
  waitedMs: number;
  rtts?: LandmarkRtts | undefined;
}

/** A waiting stranger the matchmaker already allows (hub, interests, cooldown), in arrival order. */
export interface PairCandidate extends PairSide {
  /** Shares an interest with the client being paired. */
  shared: boolean;
}

/** The chosen candidate's index and the pair's estimated round trip. */
export interface NearbyPick { index: number; estimateMs: number | null }

/**
 * The best acceptable candidate for `me` (see the module comment), or index -1 when none is
 * acceptable yet. Acceptable: no estimate, or an estimate under the limit of the longer wait.
 */
export function pickNearby(me: PairSide, candidates: readonly PairCandidate[], tiers: readonly NearbyTier[] = DEFAULT_NEARBY_TIERS): NearbyPick {
  const nearMs = tiers.length ? tiers[0]!.maxRttMs : Infinity;
  let best: NearbyPick = { index: -1, estimateMs: null };
  let bestScore = -1;
  let bestRtt = Infinity;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const est = estimatePairRttMs(me.rtts, c.rtts);
    if (est !== null && est > acceptableRttMs(Math.max(me.waitedMs, c.waitedMs), tiers)) continue;
    const score = (c.shared ? 1 : 0) + (est !== null && est <= nearMs ? 1 : 0);
    const rtt = est ?? Infinity;
    if (score > bestScore || (score === bestScore && rtt < bestRtt)) {
      best = { index: i, estimateMs: est };
      bestScore = score;
      bestRtt = rtt;
    }
  }
  return best;
}
