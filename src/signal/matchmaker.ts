/**
 * The matchmaking seam: queues, matches and private codes live behind this interface so that
 * the in-memory implementation (the default) and a Redis-backed one for several nodes are
 * interchangeable. Sessions call it; it calls back through {@link MatchmakerListener} to tell
 * a client (wherever it is connected) about matches, partners leaving and relayed signals.
 */
import type { PartnerLeftReason, SignalData, HubCount, LandmarkRtts } from '../protocol/index.js';
import type { NearbyTier, PairingMode } from './pairing.js';

/** A waiting client's request. */
export interface QueueEntry {
  clientId: string;
  hub: string;
  /** Lower-cased, de-duplicated interest tags. */
  interests: string[];
  /** Round trips to the landmarks (pairing.ts); kept only while the client waits, never passed on. */
  rtts?: LandmarkRtts | undefined;
}

/** What one side of a new match is told. */
export interface MatchNotice {
  matchId: string;
  role: 'offerer' | 'answerer';
  partnerId: string;
  hub: string | null;
  private: boolean;
  commonInterests: string[];
  /** Milliseconds this client waited in the queue (or for its private partner). */
  waitedMs: number;
  /** The pair's estimated round trip from the landmarks (pairing.ts), ms; null when unknown. */
  estimatedRttMs?: number | null;
  /**
   * The match's number in the order the store made matches, [epoch, n] (the Redis matchmaker):
   * a notice that arrives after one with a higher number for the same client is stale.
   */
  seq?: readonly [number, number];
}

/** Callbacks from the matchmaker to the clients it concerns. */
export interface MatchmakerListener {
  matched(clientId: string, notice: MatchNotice): void;
  partnerLeft(clientId: string, matchId: string, reason: PartnerLeftReason): void;
  /** Hands a partner's signal over; false when the client is not in that match (not delivered). */
  signal(clientId: string, matchId: string, data: SignalData): boolean | void;
  privateExpired(clientId: string, code: string): void;
  /**
   * Whether the client is connected to this node. The Redis matchmaker asks before handing over
   * a message from another node: one for a client who has gone is dropped and counted, and the
   * sender of an undeliverable signal is told its partner left.
   */
  present?(clientId: string): boolean;
}

/** Result of relaying a signal. */
export type RelayResult = 'relayed' | 'not-matched' | 'stale-match';

/** Result of joining a private call. */
export type PrivateJoinResult = 'matched' | 'not-found' | 'full' | 'own-code';

/** Where a client stands, from the matchmaker's point of view. */
export type Placement =
  | { kind: 'none' }
  | { kind: 'queued'; hub: string; position: number }
  | { kind: 'private-waiting'; code: string }
  | { kind: 'matched'; matchId: string; partnerId: string };

/** The matchmaking interface. All methods are async so that remote stores fit behind it. */
export interface Matchmaker {
  /** Puts a client in a hub queue, matching at once when a compatible stranger waits. */
  enqueue(entry: QueueEntry): Promise<Placement>;
  /** Removes a client from wherever it is (queue, private code, match) and notifies its partner. */
  remove(clientId: string, reason: PartnerLeftReason): Promise<void>;
  /**
   * Ends the client's current match (its partner is told `reason`); returns the ended match id.
   * `blockMs`: the two are never paired again for that long, not even as a last resort (a
   * report: nobody meets the person they reported again).
   */
  endMatch(clientId: string, reason: PartnerLeftReason, opts?: { blockMs?: number }): Promise<string | null>;
  /** Never pairs `a` and `b` for `ms` (a report of a match that already ended). */
  block(a: string, b: string, ms: number): Promise<void>;
  /** Relays signaling data to the sender's partner in `matchId`. */
  relay(fromId: string, matchId: string, data: SignalData): Promise<RelayResult>;
  /** Creates a private call code owned by `clientId`. */
  createPrivate(clientId: string): Promise<{ code: string; expiresAt: number }>;
  /** Joins a private call by code. */
  joinPrivate(clientId: string, code: string): Promise<PrivateJoinResult>;
  /** Where the client stands now. */
  placement(clientId: string): Promise<Placement>;
  /** Waiting and in-call counts per hub. */
  counts(): Promise<HubCount[]>;
  /** Closes timers and connections. Idempotent. */
  close(): Promise<void>;
}

/** Settings shared by every implementation. */
export interface MatchmakerOptions {
  hubs: string[];
  interestFallbackMs: number;
  rematchCooldownMs: number;
  privateCodeTtlMs: number;
  /** How often waiting clients are re-examined (interest fallback, cooldown expiry, code expiry, nearby widening). */
  tickMs?: number;
  /** `nearby` (default): prefer strangers near each other (pairing.ts); `random`: arrival order. */
  pairing?: PairingMode;
  /** How the nearby limit widens with the wait (default DEFAULT_NEARBY_TIERS). */
  nearbyTiers?: readonly NearbyTier[];
  now?: () => number;
}

/** Normalises interest tags: trimmed, lower-case, unique, non-empty. */
export function normaliseInterests(tags: readonly string[] | undefined): string[] {
  const out = new Set<string>();
  for (const t of tags ?? []) {
    const n = t.trim().toLowerCase();
    if (n) out.add(n);
  }
  return [...out];
}
