/**
 * The embedded, single-process matchmaker: queues per hub, nearby pairing (pairing.ts) or
 * arrival order, interest preference with a timed fallback, a rematch cooldown, private codes
 * and match records, all in memory.
 */
import type { HubCount, PartnerLeftReason, SignalData } from '../protocol/index.js';
import { randomId } from './ids.js';
import type {
  Matchmaker, MatchmakerListener, MatchmakerOptions, Placement, PrivateJoinResult, QueueEntry, RelayResult,
} from './matchmaker.js';
import { normaliseInterests } from './matchmaker.js';
import { DEFAULT_NEARBY_TIERS, pickNearby, type NearbyPick } from './pairing.js';

interface Waiting extends QueueEntry { since: number }
interface MatchRecord { id: string; offerer: string; answerer: string; hub: string | null; private: boolean; code?: string }
interface PrivateRecord { code: string; owner: string; since: number; expiresAt: number; matchId?: string }

type Where =
  | { kind: 'queued'; hub: string }
  | { kind: 'private-waiting'; code: string }
  | { kind: 'matched'; matchId: string };

/** Most waiting entries examined per hub per tick, so one huge queue cannot stall the loop. */
const MAX_TICK_SCAN = 2000;

/** Pairs two waiting clients if they are compatible now. Exported for the Redis implementation's tests. */
function sharedInterests(a: readonly string[], b: readonly string[]): string[] {
  if (a.length === 0 || b.length === 0) return [];
  const set = new Set(b);
  return a.filter((t) => set.has(t));
}

/** In-memory {@link Matchmaker}. */
export class MemoryMatchmaker implements Matchmaker {
  readonly #opts: Required<MatchmakerOptions>;
  readonly #listener: MatchmakerListener;
  readonly #queues = new Map<string, Waiting[]>();
  readonly #where = new Map<string, Where>();
  readonly #matches = new Map<string, MatchRecord>();
  readonly #privates = new Map<string, PrivateRecord>();
  /** Pair key -> time until which the two may not be matched again (while others wait). */
  readonly #cooldown = new Map<string, number>();
  /** Pair key -> time until which the two are never matched (one reported the other). */
  readonly #blocked = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  /** When the last tick ran: a nearby tick examines clients whose wait crossed a boundary since. */
  #lastTick: number;
  #closed = false;

  constructor(options: MatchmakerOptions, listener: MatchmakerListener) {
    this.#opts = { tickMs: 250, now: Date.now, pairing: 'nearby', nearbyTiers: DEFAULT_NEARBY_TIERS, ...options };
    this.#listener = listener;
    for (const hub of options.hubs) this.#queues.set(hub, []);
    this.#lastTick = this.#opts.now();
    this.#timer = setInterval(() => this.tick(), this.#opts.tickMs);
    this.#timer.unref();
  }

  async enqueue(entry: QueueEntry): Promise<Placement> {
    this.#assertOpen();
    const queue = this.#queues.get(entry.hub);
    if (!queue) throw new Error(`unknown hub ${entry.hub}`);
    this.#detach(entry.clientId, 'leave');
    const now = this.#opts.now();
    const me: Waiting = { clientId: entry.clientId, hub: entry.hub, interests: normaliseInterests(entry.interests), since: now, ...(entry.rtts ? { rtts: entry.rtts } : {}) };
    const pick = this.#findPartner(queue, me, now, false);
    if (pick.index >= 0) {
      const [other] = queue.splice(pick.index, 1);
      this.#pair(other!, me, now, pick.estimateMs);
      return this.placement(entry.clientId);
    }
    queue.push(me);
    this.#where.set(me.clientId, { kind: 'queued', hub: me.hub });
    return { kind: 'queued', hub: me.hub, position: queue.length };
  }

  async remove(clientId: string, reason: PartnerLeftReason): Promise<void> {
    this.#detach(clientId, reason);
  }

  async endMatch(clientId: string, reason: PartnerLeftReason, opts: { blockMs?: number } = {}): Promise<string | null> {
    const where = this.#where.get(clientId);
    if (where?.kind !== 'matched') return null;
    if (opts.blockMs) {
      const m = this.#matches.get(where.matchId)!;
      this.#blocked.set(pairKey(m.offerer, m.answerer), this.#opts.now() + opts.blockMs);
    }
    this.#end(where.matchId, clientId, reason);
    return where.matchId;
  }

  async block(a: string, b: string, ms: number): Promise<void> {
    this.#blocked.set(pairKey(a, b), this.#opts.now() + ms);
  }

  async relay(fromId: string, matchId: string, data: SignalData): Promise<RelayResult> {
    const where = this.#where.get(fromId);
    if (where?.kind !== 'matched') return 'not-matched';
    if (where.matchId !== matchId) return 'stale-match';
    const match = this.#matches.get(matchId)!;
    const to = match.offerer === fromId ? match.answerer : match.offerer;
    this.#listener.signal(to, matchId, data);
    return 'relayed';
  }

  async createPrivate(clientId: string): Promise<{ code: string; expiresAt: number }> {
    this.#assertOpen();
    this.#detach(clientId, 'leave');
    const now = this.#opts.now();
    const code = randomId(16); // 128 random bits, base64url
    const expiresAt = now + this.#opts.privateCodeTtlMs;
    this.#privates.set(code, { code, owner: clientId, since: now, expiresAt });
    this.#where.set(clientId, { kind: 'private-waiting', code });
    return { code, expiresAt };
  }

  async joinPrivate(clientId: string, code: string): Promise<PrivateJoinResult> {
    this.#assertOpen();
    const now = this.#opts.now();
    const rec = this.#privates.get(code);
    if (!rec || (rec.matchId === undefined && rec.expiresAt <= now)) return 'not-found';
    if (rec.owner === clientId) return 'own-code';
    if (rec.matchId !== undefined) return 'full';
    this.#detach(clientId, 'leave');
    const id = randomId(12);
    rec.matchId = id;
    const match: MatchRecord = { id, offerer: rec.owner, answerer: clientId, hub: null, private: true, code };
    this.#matches.set(id, match);
    this.#where.set(rec.owner, { kind: 'matched', matchId: id });
    this.#where.set(clientId, { kind: 'matched', matchId: id });
    this.#listener.matched(rec.owner, { matchId: id, role: 'offerer', partnerId: clientId, hub: null, private: true, commonInterests: [], waitedMs: now - rec.since });
    this.#listener.matched(clientId, { matchId: id, role: 'answerer', partnerId: rec.owner, hub: null, private: true, commonInterests: [], waitedMs: 0 });
    return 'matched';
  }

  async placement(clientId: string): Promise<Placement> {
    const where = this.#where.get(clientId);
    if (!where) return { kind: 'none' };
    if (where.kind === 'queued') {
      const queue = this.#queues.get(where.hub)!;
      return { kind: 'queued', hub: where.hub, position: queue.findIndex((w) => w.clientId === clientId) + 1 };
    }
    if (where.kind === 'private-waiting') return where;
    const m = this.#matches.get(where.matchId)!;
    return { kind: 'matched', matchId: m.id, partnerId: m.offerer === clientId ? m.answerer : m.offerer };
  }

  async counts(): Promise<HubCount[]> {
    const inCall = new Map<string, number>();
    for (const m of this.#matches.values()) if (m.hub) inCall.set(m.hub, (inCall.get(m.hub) ?? 0) + 2);
    return [...this.#queues].map(([name, q]) => ({ name, waiting: q.length, inCall: inCall.get(name) ?? 0 }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
  }

  /**
   * Re-examines waiting clients: interest fallback, cooldown pairs as a last resort, and
   * private code expiry. Runs on a timer; public so tests can drive it with a fake clock.
   */
  tick(): void {
    if (this.#closed) return;
    const now = this.#opts.now();
    const since = this.#lastTick;
    this.#lastTick = now;
    const cooled = new Set<string>();
    for (const [key, until] of this.#cooldown) {
      if (until > now) continue;
      this.#cooldown.delete(key);
      for (const id of key.split('|')) cooled.add(id);
    }
    for (const [key, until] of this.#blocked) if (until <= now) this.#blocked.delete(key);
    if (this.#opts.pairing === 'nearby') this.#tickNearby(now, since, cooled);
    else this.#tickInOrder(now);
    for (const rec of this.#privates.values()) {
      if (rec.matchId === undefined && rec.expiresAt <= now) {
        this.#privates.delete(rec.code);
        this.#where.delete(rec.owner);
        this.#listener.privateExpired(rec.owner, rec.code);
      }
    }
  }

  /** Arrival order: every waiting client against those behind it, oldest first. */
  #tickInOrder(now: number): void {
    for (const queue of this.#queues.values()) {
      for (const allowCooldown of [false, true]) {
        for (let i = 0; i < queue.length && i < MAX_TICK_SCAN; i++) {
          const me = queue[i]!;
          const rest = queue.slice(i + 1, MAX_TICK_SCAN);
          const pick = this.#findPartner(rest, me, now, allowCooldown);
          if (pick.index < 0) continue;
          const other = rest[pick.index]!;
          queue.splice(i + 1 + pick.index, 1);
          queue.splice(i, 1);
          this.#pair(me, other, now, pick.estimateMs);
          i--;
        }
      }
    }
  }

  /**
   * Nearby: a waiting pair that was not acceptable becomes acceptable only when one of the two
   * crosses a boundary of its wait (a nearby tier, the interest fallback) or their cooldown
   * ends; every newcomer was already examined against everyone on arrival. So only those
   * clients are examined, each against the whole queue: a busy hub's queue of a few thousand
   * costs a tick a few hundred comparisons per crossing client, not its square.
   */
  #tickNearby(now: number, since: number, cooled: ReadonlySet<string>): void {
    const bounds = [...this.#opts.nearbyTiers.map((t) => t.untilMs), this.#opts.interestFallbackMs];
    const crossed = (w: Waiting) => cooled.has(w.clientId) || bounds.some((b) => now - w.since >= b && since - w.since < b);
    for (const queue of this.#queues.values()) {
      const movers = queue.slice(0, MAX_TICK_SCAN).filter(crossed);
      for (const me of movers) {
        const at = queue.indexOf(me);
        if (at < 0) continue; // paired meanwhile
        const others = queue.slice(0, MAX_TICK_SCAN).filter((w) => w !== me);
        let pick = this.#findPartner(others, me, now, false);
        if (pick.index < 0 && this.#cooldown.size) pick = this.#findPartner(others, me, now, true);
        if (pick.index < 0) continue;
        const other = others[pick.index]!;
        // The one who came first offers, as on arrival.
        const otherFirst = queue.indexOf(other) < at;
        queue.splice(queue.indexOf(other), 1);
        queue.splice(queue.indexOf(me), 1);
        if (otherFirst) this.#pair(other, me, now, pick.estimateMs);
        else this.#pair(me, other, now, pick.estimateMs);
      }
    }
  }

  /** Internal consistency check used by the churn tests: throws on a broken invariant. */
  checkInvariants(): void {
    const seen = new Set<string>();
    for (const [hub, q] of this.#queues) {
      for (const w of q) {
        if (seen.has(w.clientId)) throw new Error(`${w.clientId} queued twice`);
        seen.add(w.clientId);
        const where = this.#where.get(w.clientId);
        if (where?.kind !== 'queued' || where.hub !== hub) throw new Error(`${w.clientId} in ${hub} queue but placed ${JSON.stringify(where)}`);
      }
    }
    for (const m of this.#matches.values()) {
      for (const c of [m.offerer, m.answerer]) {
        if (seen.has(c)) throw new Error(`${c} both queued and matched, or in two matches`);
        seen.add(c);
        const where = this.#where.get(c);
        if (where?.kind !== 'matched' || where.matchId !== m.id) throw new Error(`${c} in match ${m.id} but placed ${JSON.stringify(where)}`);
      }
    }
    for (const [c, where] of this.#where) {
      if (where.kind === 'private-waiting' && seen.has(c)) throw new Error(`${c} private-waiting and placed elsewhere`);
      if (where.kind !== 'private-waiting' && !seen.has(c)) throw new Error(`${c} placed ${where.kind} but not found there`);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('matchmaker is closed');
  }

  #findPartner(candidates: readonly Waiting[], me: Waiting, now: number, allowCooldown: boolean): NearbyPick {
    const fallback = this.#opts.interestFallbackMs;
    const open = (w: Waiting) => w.interests.length === 0 || now - w.since >= fallback;
    const usable = (w: Waiting) => {
      if (w.clientId === me.clientId) return false;
      if ((this.#blocked.get(pairKey(w.clientId, me.clientId)) ?? 0) > now) return false;
      const cooling = (this.#cooldown.get(pairKey(w.clientId, me.clientId)) ?? 0) > now;
      if (!cooling) return true;
      return allowCooldown && now - w.since >= fallback && now - me.since >= fallback;
    };
    const shares = (w: Waiting) => me.interests.length > 0 && sharedInterests(me.interests, w.interests).length > 0;
    // A client without numbers is paired as before (and fast: the first allowed, not a full scan).
    if (this.#opts.pairing === 'nearby' && me.rtts) {
      // Anyone who shares an interest, and anyone open when we are: nearby pairing ranks them.
      const allowed: number[] = [];
      for (let i = 0; i < candidates.length; i++) {
        const w = candidates[i]!;
        if (usable(w) && (shares(w) || (open(me) && open(w)))) allowed.push(i);
      }
      const pick = pickNearby(
        { waitedMs: now - me.since, rtts: me.rtts },
        allowed.map((i) => { const w = candidates[i]!; return { waitedMs: now - w.since, rtts: w.rtts, shared: shares(w) }; }),
        this.#opts.nearbyTiers,
      );
      return pick.index < 0 ? pick : { index: allowed[pick.index]!, estimateMs: pick.estimateMs };
    }
    // First choice: the longest-waiting stranger who shares an interest.
    if (me.interests.length > 0) {
      const i = candidates.findIndex((w) => usable(w) && shares(w));
      if (i >= 0) return { index: i, estimateMs: null };
    }
    if (!open(me)) return { index: -1, estimateMs: null };
    return { index: candidates.findIndex((w) => usable(w) && open(w)), estimateMs: null };
  }

  #pair(first: Waiting, second: Waiting, now: number, estimatedRttMs: number | null): void {
    const id = randomId(12);
    const common = sharedInterests(first.interests, second.interests);
    this.#matches.set(id, { id, offerer: first.clientId, answerer: second.clientId, hub: first.hub, private: false });
    this.#where.set(first.clientId, { kind: 'matched', matchId: id });
    this.#where.set(second.clientId, { kind: 'matched', matchId: id });
    this.#listener.matched(first.clientId, { matchId: id, role: 'offerer', partnerId: second.clientId, hub: first.hub, private: false, commonInterests: common, waitedMs: now - first.since, estimatedRttMs });
    this.#listener.matched(second.clientId, { matchId: id, role: 'answerer', partnerId: first.clientId, hub: first.hub, private: false, commonInterests: common, waitedMs: now - second.since, estimatedRttMs });
  }

  #end(matchId: string, by: string, reason: PartnerLeftReason): void {
    const m = this.#matches.get(matchId);
    if (!m) return;
    this.#matches.delete(matchId);
    if (m.code) this.#privates.delete(m.code);
    this.#where.delete(m.offerer);
    this.#where.delete(m.answerer);
    this.#cooldown.set(pairKey(m.offerer, m.answerer), this.#opts.now() + this.#opts.rematchCooldownMs);
    const partner = m.offerer === by ? m.answerer : m.offerer;
    this.#listener.partnerLeft(partner, matchId, reason);
  }

  #detach(clientId: string, reason: PartnerLeftReason): void {
    const where = this.#where.get(clientId);
    if (!where) return;
    if (where.kind === 'queued') {
      const q = this.#queues.get(where.hub)!;
      const i = q.findIndex((w) => w.clientId === clientId);
      if (i >= 0) q.splice(i, 1);
      this.#where.delete(clientId);
    } else if (where.kind === 'private-waiting') {
      this.#privates.delete(where.code);
      this.#where.delete(clientId);
    } else {
      this.#end(where.matchId, clientId, reason);
    }
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
