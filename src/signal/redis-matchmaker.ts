/**
 * The multi-node matchmaker: queues, interest preference, rematch cooldown, private codes and
 * match records live in Redis; pairing runs in Lua scripts (atomic, so two nodes never hand one
 * waiting client to two partners), nearby pairing included (pairing.ts's rules, ported to Lua;
 * a waiting client's round trips sit in its hash until it leaves the queue). Notices for a client on another node travel through that
 * node's Redis Stream, read with a cursor the node keeps (redis-streams.ts), so a dropped
 * connection or a restart loses nothing; a node's heartbeat key lets the survivors clean up
 * after it dies.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createClusterMetrics, type ClusterMetrics, type DropReason, type WireKind } from './cluster-metrics.js';
import { NodeStreams } from './redis-streams.js';
import type { HubCount, PartnerLeftReason, SignalData } from '../protocol/index.js';
import { randomId } from './ids.js';
import type {
  Matchmaker, MatchmakerListener, MatchmakerOptions, MatchNotice, Placement, PrivateJoinResult, QueueEntry, RelayResult,
} from './matchmaker.js';
import { normaliseInterests } from './matchmaker.js';
import { DEFAULT_NEARBY_TIERS } from './pairing.js';
import { BLOCK_PAIR, CHECK, COUNTS, CREATE_PRIVATE, END_MATCH, ENQUEUE, JOIN_PRIVATE, REMOVE, TICK } from './redis-scripts.js';

/** Settings of the Redis matchmaker. */
export interface RedisMatchmakerOptions extends MatchmakerOptions {
  url: string;
  nodeId: string;
  /** A node missing its heartbeat this long is dead; its clients' partners are told. */
  nodeTtlMs: number;
  /** Key prefix (with the hash tag). */
  prefix?: string;
  log?: Logger;
  /** Where the cross-node metrics are registered (the server's /metrics registry). */
  registry?: Registry;
  /** A cross-node message not written to Redis within this long is dropped and its sender told, ms (default 60 s). */
  outboxMaxAgeMs?: number;
  /** Entries older than this are trimmed from a node's stream, read or not, ms (default 10 min). */
  streamMaxAgeMs?: number;
}

type Ended = { mid: string; partner: string; node: string } | undefined;
/** A local client's call: the match and where the partner is. */
type Call = { mid: string; partner: string; node: string };

/** What travels through a node's stream. A signal names its sender, so an undeliverable one can be answered. */
type Wire =
  | { t: 'matched'; to: string; notice: MatchNotice; partnerNode: string }
  | { t: 'left'; to: string; mid: string; reason: PartnerLeftReason }
  | { t: 'signal'; to: string; mid: string; data: SignalData; from: string; fn: string }
  | { t: 'expired'; to: string; code: string };

const MAX_SCAN = 500;
/**
 * Most candidates a nearby tick examines (each crossing client against the queue): about 50 ms
 * of Redis time. Hundreds of clients crossing a boundary at once are spread over a few ticks.
 */
const MAX_TICK_WORK = 40_000;

/** Redis-backed {@link Matchmaker}. */
export class RedisMatchmaker implements Matchmaker {
  readonly #o: Required<Omit<RedisMatchmakerOptions, 'log' | 'registry' | 'outboxMaxAgeMs' | 'streamMaxAgeMs'>> & { log?: Logger };
  /** The nearby tiers for the scripts (JSON), or "" with --pairing random (arrival order, no round trips kept). */
  readonly #tiersJson: string;
  readonly #listener: MatchmakerListener;
  readonly #redis: Redis;
  readonly #streams: NodeStreams;
  /** Cross-node delivery metrics (on the server's registry). */
  readonly metrics: ClusterMetrics;
  readonly #P: string;
  /** Local clients in a call: where their partner is, so signals skip Redis lookups. */
  readonly #calls = new Map<string, Call>();
  /**
   * Matches known to be over, for notices that arrive out of order: a "matched" notice and the
   * end of that match can travel through different nodes' channels. Ended by this node for its
   * own client ("self": the client never needs to hear of it) or by the partner ("partner": the
   * client hears matched, then partner-left).
   */
  readonly #ended = new Map<string, { by: 'self' | 'partner'; reason: PartnerLeftReason; at: number }>();
  readonly #timers: NodeJS.Timeout[] = [];
  #closed = false;
  #ticking = false;
  #wasDown = false;
  #recoverHandlers: (() => void)[] = [];
  #reaping = false;
  /** Last heartbeat Redis answered, ms. */
  #lastBeatOk = 0;
  /**
   * No node is declared dead before this time: after Redis was unreachable or stalled (a
   * SIGSTOP, a restart), every heartbeat key may have expired meanwhile while its node is fine.
   */
  #reapNotBefore = 0;
  /** Per local client: the number of the latest match it was told of (see MatchNotice.seq). */
  readonly #latestMatch = new Map<string, readonly [number, number]>();
  /** Matches whose sender was already answered for an undeliverable signal (bounded). */
  readonly #bounced = new Set<string>();

  private constructor(options: RedisMatchmakerOptions, listener: MatchmakerListener) {
    this.#o = {
      tickMs: 250, now: Date.now, prefix: '{chz}:', ...options,
      pairing: options.pairing ?? 'nearby', nearbyTiers: options.nearbyTiers ?? DEFAULT_NEARBY_TIERS,
    };
    this.#P = this.#o.prefix;
    // Infinity (no limit) travels as null, which the scripts read as no limit.
    this.#tiersJson = this.#o.pairing === 'nearby'
      ? JSON.stringify(this.#o.nearbyTiers.map((t) => ({ untilMs: finiteOrNull(t.untilMs), maxRttMs: finiteOrNull(t.maxRttMs) })))
      : '';
    this.#listener = listener;
    const common = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(200 * n, 2000) };
    this.#redis = new Redis(options.url, common);
    this.#redis.on('error', (err: Error) => this.#o.log?.debug({ err: err.message }, 'redis error'));
    this.#redis.on('close', () => { this.#wasDown = true; });
    this.metrics = createClusterMetrics(options.registry);
    this.#streams = new NodeStreams({
      url: options.url, nodeId: options.nodeId, prefix: this.#P, redis: this.#redis, metrics: this.metrics, log: options.log,
      ...(options.outboxMaxAgeMs !== undefined ? { outboxMaxAgeMs: options.outboxMaxAgeMs } : {}),
      ...(options.streamMaxAgeMs !== undefined ? { maxAgeMs: options.streamMaxAgeMs } : {}),
    });
    this.#redis.on('ready', () => {
      if (!this.#wasDown) return;
      this.#wasDown = false;
      this.#o.log?.info('redis is back');
      this.#reapNotBefore = Date.now() + this.#o.nodeTtlMs;
      // Redis may have lost its data and numbers matches afresh: what clients heard before no
      // longer orders what comes (a later epoch would, but a replica failover may not have one).
      this.#latestMatch.clear();
      void this.#heartbeat();
      for (const h of this.#recoverHandlers) h();
    });
    this.#redis.defineCommand('czEnqueue', { numberOfKeys: 0, lua: ENQUEUE });
    this.#redis.defineCommand('czRemove', { numberOfKeys: 0, lua: REMOVE });
    this.#redis.defineCommand('czEnd', { numberOfKeys: 0, lua: END_MATCH });
    this.#redis.defineCommand('czBlock', { numberOfKeys: 0, lua: BLOCK_PAIR });
    this.#redis.defineCommand('czCreatePrivate', { numberOfKeys: 0, lua: CREATE_PRIVATE });
    this.#redis.defineCommand('czJoinPrivate', { numberOfKeys: 0, lua: JOIN_PRIVATE });
    this.#redis.defineCommand('czTick', { numberOfKeys: 0, lua: TICK });
    this.#redis.defineCommand('czCounts', { numberOfKeys: 0, lua: COUNTS });
    this.#redis.defineCommand('czCheck', { numberOfKeys: 0, lua: CHECK });
  }

  /**
   * Connects, removes the clients a previous run of this node id left behind (their partners
   * are told), starts reading this node's stream from its stored cursor, starts heartbeats.
   */
  static async connect(options: RedisMatchmakerOptions, listener: MatchmakerListener): Promise<RedisMatchmaker> {
    const mm = new RedisMatchmaker(options, listener);
    try {
      await mm.#redis.connect();
      await mm.#reapSelf();
      await mm.#streams.start((d) => mm.#onWire(d.payload), (payload, kind, reason) => mm.#undeliverable(payload, kind, reason));
      await mm.#heartbeat();
    } catch (err) {
      await mm.close();
      throw new Error(`cannot reach Redis at ${redactUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    const ttl = options.nodeTtlMs;
    mm.#timers.push(setInterval(() => void mm.#heartbeat(), Math.max(50, Math.floor(ttl / 5))));
    mm.#timers.push(setInterval(() => void mm.#reap(), Math.max(50, Math.floor(ttl / 5))));
    mm.#timers.push(setInterval(() => void mm.tick(), mm.#o.tickMs));
    for (const t of mm.#timers) t.unref();
    return mm;
  }

  /** This node's id. */
  get nodeId(): string { return this.#o.nodeId; }

  /** Is the command connection up? */
  get healthy(): boolean { return this.#redis.status === 'ready'; }

  /** Registers a callback for when Redis comes back after an outage. */
  onRecover(handler: () => void): void { this.#recoverHandlers.push(handler); }

  #cmd(name: string, ...args: (string | number)[]): Promise<string> {
    return (this.#redis as unknown as Record<string, (...a: (string | number)[]) => Promise<string>>)[name]!(this.#P, ...args);
  }

  async enqueue(entry: QueueEntry): Promise<Placement> {
    const now = this.#o.now();
    const interests = normaliseInterests(entry.interests);
    const mid = randomId(12);
    // The round trips are kept (in the client's hash) only while it waits, and only for nearby pairing.
    const rtts = this.#tiersJson && entry.rtts ? JSON.stringify(entry.rtts) : '';
    const before = this.#calls.get(entry.clientId);
    const res = JSON.parse(await this.#cmd('czEnqueue', entry.clientId, this.#o.nodeId, entry.hub, JSON.stringify(interests), now,
      this.#o.interestFallbackMs, this.#o.rematchCooldownMs, mid, MAX_SCAN, rtts, this.#tiersJson));
    this.#afterEnded(entry.clientId, res.ended, 'leave', before);
    if (res.r === 'q') return { kind: 'queued', hub: entry.hub, position: res.position };
    const common = arr(res.common) as string[];
    const estimatedRttMs = estimate(res.est);
    // The one who waited is the offerer.
    const seq = seqOf(res.seq);
    this.#deliverMatched(res.partner, res.node, { matchId: mid, role: 'offerer', partnerId: entry.clientId, hub: entry.hub, private: false, commonInterests: common, waitedMs: res.waited, estimatedRttMs, seq }, this.#o.nodeId);
    this.#deliverMatched(entry.clientId, this.#o.nodeId, { matchId: mid, role: 'answerer', partnerId: res.partner, hub: entry.hub, private: false, commonInterests: common, waitedMs: 0, estimatedRttMs, seq }, res.node);
    return { kind: 'matched', matchId: mid, partnerId: res.partner };
  }

  async remove(clientId: string, reason: PartnerLeftReason): Promise<void> {
    const before = this.#calls.get(clientId);
    // Gone from this node (not a leave): no later notice can concern it.
    if (this.#listener.present && !this.#listener.present(clientId)) this.#latestMatch.delete(clientId);
    const res = JSON.parse(await this.#cmd('czRemove', clientId, this.#o.rematchCooldownMs, '1'));
    this.#afterEnded(clientId, res.ended, reason, before);
  }

  async endMatch(clientId: string, reason: PartnerLeftReason, opts: { blockMs?: number } = {}): Promise<string | null> {
    const before = this.#calls.get(clientId);
    const res = JSON.parse(await this.#cmd('czEnd', clientId, this.#o.rematchCooldownMs, opts.blockMs ?? 0));
    this.#afterEnded(clientId, res.ended, reason, before);
    return (res.ended as Ended)?.mid ?? null;
  }

  async block(a: string, b: string, ms: number): Promise<void> {
    await this.#cmd('czBlock', a, b, ms);
  }

  async relay(fromId: string, matchId: string, data: SignalData): Promise<RelayResult> {
    const call = this.#calls.get(fromId);
    if (!call) return 'not-matched';
    if (call.mid !== matchId) return 'stale-match';
    this.#send(call.node, { t: 'signal', to: call.partner, mid: matchId, data, from: fromId, fn: this.#o.nodeId });
    return 'relayed';
  }

  async createPrivate(clientId: string): Promise<{ code: string; expiresAt: number }> {
    const now = this.#o.now();
    const code = randomId(16);
    const expiresAt = now + this.#o.privateCodeTtlMs;
    const before = this.#calls.get(clientId);
    const res = JSON.parse(await this.#cmd('czCreatePrivate', clientId, this.#o.nodeId, code, now, expiresAt, this.#o.rematchCooldownMs));
    this.#afterEnded(clientId, res.ended, 'leave', before);
    return { code, expiresAt };
  }

  async joinPrivate(clientId: string, code: string): Promise<PrivateJoinResult> {
    const mid = randomId(12);
    const before = this.#calls.get(clientId);
    const res = JSON.parse(await this.#cmd('czJoinPrivate', clientId, this.#o.nodeId, code, this.#o.now(), mid, this.#o.rematchCooldownMs));
    if (res.r !== 'matched') return res.r;
    this.#afterEnded(clientId, res.ended, 'leave', before);
    const seq = seqOf(res.seq);
    this.#deliverMatched(res.owner, res.node, { matchId: mid, role: 'offerer', partnerId: clientId, hub: null, private: true, commonInterests: [], waitedMs: res.waited, seq }, this.#o.nodeId);
    this.#deliverMatched(clientId, this.#o.nodeId, { matchId: mid, role: 'answerer', partnerId: res.owner, hub: null, private: true, commonInterests: [], waitedMs: 0, seq }, res.node);
    return 'matched';
  }

  async placement(clientId: string): Promise<Placement> {
    const c = await this.#redis.hmget(`${this.#P}c:${clientId}`, 'st', 'hub', 'code', 'mid', 'partner');
    if (c[0] === 'q') {
      const ids = await this.#redis.lrange(`${this.#P}q:${c[1]}`, 0, -1);
      return { kind: 'queued', hub: c[1]!, position: ids.indexOf(clientId) + 1 };
    }
    if (c[0] === 'p') return { kind: 'private-waiting', code: c[2]! };
    if (c[0] === 'm') return { kind: 'matched', matchId: c[3]!, partnerId: c[4]! };
    return { kind: 'none' };
  }

  async counts(): Promise<HubCount[]> {
    const rows = JSON.parse(await this.#cmd('czCounts', JSON.stringify(this.#o.hubs))) as [string, number, number][];
    return rows.map(([name, waiting, inCall]) => ({ name, waiting, inCall }));
  }

  /** Throws when Redis holds an inconsistent state (tests). */
  async checkInvariants(): Promise<void> {
    const problem = await this.#cmd('czCheck', JSON.stringify(this.#o.hubs));
    if (problem) throw new Error(`redis invariant broken: ${problem}`);
  }

  /** Interest fallback, cooldown last resort, nearby widening and private expiry, for every hub. */
  async tick(): Promise<void> {
    if (this.#closed || this.#ticking || !this.healthy) return;
    this.#ticking = true;
    try {
      const mids = Array.from({ length: 16 }, () => randomId(12));
      const res = JSON.parse(await this.#cmd('czTick', JSON.stringify(this.#o.hubs), this.#o.now(), this.#o.interestFallbackMs, MAX_SCAN, JSON.stringify(mids), this.#tiersJson, MAX_TICK_WORK));
      for (const m of arr(res.matches) as { mid: string; seq?: unknown; hub: string; a: string; anode: string; awaited: number; b: string; bnode: string; bwaited: number; common: unknown; est?: unknown }[]) {
        const common = arr(m.common) as string[];
        const estimatedRttMs = estimate(m.est);
        const seq = seqOf(m.seq);
        this.#deliverMatched(m.a, m.anode, { matchId: m.mid, role: 'offerer', partnerId: m.b, hub: m.hub, private: false, commonInterests: common, waitedMs: m.awaited, estimatedRttMs, seq }, m.bnode);
        this.#deliverMatched(m.b, m.bnode, { matchId: m.mid, role: 'answerer', partnerId: m.a, hub: m.hub, private: false, commonInterests: common, waitedMs: m.bwaited, estimatedRttMs, seq }, m.anode);
      }
      for (const e of arr(res.expired) as { owner: string; node: string; code: string }[]) this.#send(e.node, { t: 'expired', to: e.owner, code: e.code });
    } catch (err) {
      this.#o.log?.debug({ err: (err as Error).message }, 'tick failed');
    } finally {
      this.#ticking = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    try {
      if (this.#redis.status === 'ready') {
        await this.#redis.multi().del(`${this.#P}hb:${this.#o.nodeId}`).srem(`${this.#P}nodes`, this.#o.nodeId).exec();
      }
    } catch { /* best effort */ }
    await this.#streams.close();
    this.#redis.disconnect();
  }

  // ------------------------------------------------------------------ delivery

  #deliverMatched(to: string, node: string, notice: MatchNotice, partnerNode: string): void {
    this.#send(node, { t: 'matched', to, notice, partnerNode });
  }

  /**
   * After a script that detached `by` from what it was doing: forgets the call it ended and tells
   * the partner. `before`: this node's record of `by`'s call when the script was sent. A match
   * that reached `by` through the stream while the script was on its way (its answer can come
   * after a notice another node sent since) is `by`'s current call: it is neither forgotten nor
   * taken for one Redis lost. If the script ended that very match (a re-queue after Redis came
   * back, a leave), `by` was told "matched" and hears it is over, once: the session sends
   * partner-left only while in that match (a leave then finds it ready and adds nothing; a
   * closed session hears nothing).
   */
  #afterEnded(by: string, ended: Ended, reason: PartnerLeftReason, before: Call | undefined): void {
    const now = this.#calls.get(by);
    if (now && (now === before || now.mid === ended?.mid)) {
      this.#calls.delete(by);
      if (now !== before) this.#listener.partnerLeft(by, now.mid, reason);
    }
    // Redis lost the match (restarted without its data) while both sides still hold it: this
    // node still knows the partner, so the partner is told all the same.
    if (!ended && before && now === before) ended = { mid: before.mid, partner: before.partner, node: before.node };
    if (!ended || !ended.partner) return;
    this.#markEnded(ended.mid, 'self', reason);
    this.#send(ended.node, { t: 'left', to: ended.partner, mid: ended.mid, reason });
  }

  /** Delivers locally when `node` is this one, else appends to that node's stream (in order, through the outbox). */
  #send(node: string, msg: Wire): void {
    if (node === this.#o.nodeId) { this.#dispatch(msg, false); return; }
    if (!node) return;
    this.#streams.send(node, msg.t, JSON.stringify(msg));
  }

  #onWire(text: string): void {
    let msg: Wire;
    try {
      msg = JSON.parse(text) as Wire;
      if (typeof msg?.to !== 'string' || !['matched', 'left', 'signal', 'expired'].includes(msg.t)) throw new Error('not a message');
    } catch {
      this.metrics.dropped.inc({ reason: 'malformed' });
      return;
    }
    this.#dispatch(msg, true);
  }

  /**
   * A message this node could not write to Redis in time (or at all). A signal's sender is told
   * its partner left: the call cannot be set up without it.
   */
  #undeliverable(payload: string, _kind: WireKind, reason: DropReason): void {
    let msg: Wire;
    try { msg = JSON.parse(payload) as Wire; } catch { return; }
    this.#o.log?.warn({ t: msg.t, to: msg.to, reason }, 'cross-node message dropped');
    if (msg.t === 'signal') this.#dispatch({ t: 'left', to: msg.from, mid: msg.mid, reason: 'disconnect' }, false);
  }

  /**
   * A signal for a client who has gone or whose match is over: its sender must not wait for an
   * answer that will never come. The addressee's record is removed if it is still there (its
   * partner is told through the usual path); if it is not, the sender is told directly. Once
   * per match.
   */
  #bounce(msg: Extract<Wire, { t: 'signal' }>, gone: boolean): void {
    if (this.#bounced.has(msg.mid)) return;
    if (this.#bounced.size >= 10_000) this.#bounced.delete(this.#bounced.values().next().value!);
    this.#bounced.add(msg.mid);
    const tellSender = () => this.#send(msg.fn, { t: 'left', to: msg.from, mid: msg.mid, reason: 'disconnect' });
    if (!gone) { tellSender(); return; }
    const before = this.#calls.get(msg.to);
    this.#cmd('czRemove', msg.to, 0, '1').then((text) => {
      const ended = (JSON.parse(text) as { ended: Ended }).ended;
      this.#afterEnded(msg.to, ended, 'disconnect', before);
      if (ended?.mid !== msg.mid) tellSender();
    }, () => tellSender());
  }

  #markEnded(mid: string, by: 'self' | 'partner', reason: PartnerLeftReason): void {
    const now = Date.now();
    if (this.#ended.size > 10_000) {
      for (const [k, v] of this.#ended) if (now - v.at > 30_000) this.#ended.delete(k);
    }
    if (!this.#ended.has(mid) || by === 'self') this.#ended.set(mid, { by, reason, at: now });
  }

  /** Hands a message to its client; `remote`: it came through this node's stream (counted). */
  #dispatch(msg: Wire, remote: boolean): void {
    const m = this.metrics;
    if (remote && this.#listener.present && !this.#listener.present(msg.to)) {
      m.dropped.inc({ reason: 'client-gone' });
      if (msg.t === 'signal') { this.#bounce(msg, true); return; }
      // A match for a client who left: undone here (the partner hears). Not through the listener:
      // a restarted node replays its stream before its server has finished starting.
      if (msg.t === 'matched') this.remove(msg.to, 'disconnect').catch((err: unknown) => this.#o.log?.warn({ err }, 'could not undo a match for a departed client'));
      return;
    }
    if (remote && msg.t !== 'signal') m.delivered.inc({ kind: msg.t });
    switch (msg.t) {
      case 'matched': {
        const over = this.#ended.get(msg.notice.matchId);
        if (over?.by === 'self') return; // this client ended it itself before hearing of it
        // Notices from different nodes can arrive out of the order Redis made the matches (a
        // lagging node sends one late): an older match than one this client has heard of is over.
        const seq = msg.notice.seq;
        const latest = this.#latestMatch.get(msg.to);
        if (seq !== undefined && latest !== undefined && notAfter(seq, latest)) {
          if (remote) m.dropped.inc({ reason: 'stale' });
          return;
        }
        if (seq !== undefined) this.#latestMatch.set(msg.to, seq);
        // Redis keeps a client in one match at most: a new one means the one this client was told
        // about is over (a re-queue after Redis came back ends it). Say so first, in order.
        const prev = this.#calls.get(msg.to);
        if (prev && prev.mid !== msg.notice.matchId) {
          this.#calls.delete(msg.to);
          this.#listener.partnerLeft(msg.to, prev.mid, 'leave');
        }
        this.#calls.set(msg.to, { mid: msg.notice.matchId, partner: msg.notice.partnerId, node: msg.partnerNode });
        this.#listener.matched(msg.to, msg.notice);
        if (over) {
          // The partner already left: tell it now, in order.
          this.#calls.delete(msg.to);
          this.#listener.partnerLeft(msg.to, msg.notice.matchId, over.reason);
        }
        return;
      }
      case 'left': {
        this.#markEnded(msg.mid, 'partner', msg.reason);
        const call = this.#calls.get(msg.to);
        if (call?.mid === msg.mid) this.#calls.delete(msg.to);
        this.#listener.partnerLeft(msg.to, msg.mid, msg.reason);
        return;
      }
      case 'signal': {
        const call = this.#calls.get(msg.to);
        if (remote && call?.mid !== msg.mid && this.#ended.has(msg.mid)) {
          m.dropped.inc({ reason: 'match-ended' });
          this.#bounce(msg, false);
          return;
        }
        const ok = this.#listener.signal(msg.to, msg.mid, msg.data);
        if (remote && ok !== false) m.delivered.inc({ kind: 'signal' });
        return;
      }
      case 'expired':
        this.#listener.privateExpired(msg.to, msg.code);
    }
  }

  // ------------------------------------------------------------------ node liveness

  async #heartbeat(): Promise<void> {
    if (this.#closed || !this.healthy) return;
    const sent = Date.now();
    try {
      await this.#redis.multi()
        .set(`${this.#P}hb:${this.#o.nodeId}`, String(Date.now()), 'PX', Math.max(100, Math.floor(this.#o.nodeTtlMs / 2)))
        .sadd(`${this.#P}nodes`, this.#o.nodeId)
        .exec();
      const now = Date.now();
      // A slow answer, or none for a while, means Redis (or this process) stalled: other nodes'
      // heartbeat keys may have expired meanwhile although those nodes are fine.
      if (now - sent > this.#o.nodeTtlMs / 4 || (this.#lastBeatOk && now - this.#lastBeatOk > this.#o.nodeTtlMs / 2)) {
        this.#reapNotBefore = Math.max(this.#reapNotBefore, now + this.#o.nodeTtlMs);
      }
      this.#lastBeatOk = now;
    } catch { /* retried on the next beat */ }
  }

  /** Whether a missing heartbeat key can be trusted now (see {@link #reapNotBefore}). */
  #mayReap(startedAt: number): boolean {
    const now = Date.now();
    return now >= this.#reapNotBefore && now - this.#lastBeatOk < this.#o.nodeTtlMs / 2 && now - startedAt < this.#o.nodeTtlMs / 4;
  }

  /** Finds nodes whose heartbeat expired and removes their clients, telling partners. */
  async #reap(): Promise<void> {
    if (this.#closed || !this.healthy || this.#reaping) return;
    this.#reaping = true;
    const t0 = Date.now();
    try {
      if (!this.#mayReap(t0)) return;
      const nodes = await this.#redis.smembers(`${this.#P}nodes`);
      for (const node of nodes) {
        if (node === this.#o.nodeId) continue;
        const t1 = Date.now();
        if (await this.#redis.exists(`${this.#P}hb:${node}`)) continue;
        // The answer came late, or Redis just stalled: the key may be missing for that reason.
        if (!this.#mayReap(t1)) return;
        const lock = await this.#redis.set(`${this.#P}reap:${node}`, this.#o.nodeId, 'PX', 5000, 'NX');
        if (lock !== 'OK') continue;
        const clients = await this.#redis.smembers(`${this.#P}nc:${node}`);
        this.#o.log?.warn({ node, clients: clients.length }, 'node is gone; removing its clients');
        await this.#removeClients(clients);
        // Only the clients seen: the node may be back already, with new ones.
        const tx = this.#redis.multi();
        if (clients.length) tx.srem(`${this.#P}nc:${node}`, ...clients);
        await tx.exec();
        if (!(await this.#redis.exists(`${this.#P}hb:${node}`))) {
          await this.#redis.srem(`${this.#P}nodes`, node);
          await this.#streams.expireNode(node);
        }
      }
    } catch (err) {
      this.#o.log?.debug({ err: (err as Error).message }, 'reap failed');
    } finally {
      this.#reaping = false;
    }
  }

  /** Removes clients of a dead node (or this node's previous run), telling their partners. */
  async #removeClients(ids: string[]): Promise<void> {
    for (const id of ids) {
      const before = this.#calls.get(id);
      const res = JSON.parse(await this.#cmd('czRemove', id, 0, '1'));
      this.#afterEnded(id, res.ended, 'disconnect', before);
    }
  }

  /**
   * A node restarted with the same id (sooner than the node TTL, so nobody reaped it) finds its
   * previous run's clients still registered: none of them is connected any more.
   */
  async #reapSelf(): Promise<void> {
    const clients = await this.#redis.smembers(`${this.#P}nc:${this.#o.nodeId}`);
    if (!clients.length) return;
    this.#o.log?.warn({ clients: clients.length }, 'removing the clients of this node id\'s previous run');
    await this.#removeClients(clients);
    await this.#redis.srem(`${this.#P}nc:${this.#o.nodeId}`, ...clients);
  }
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A script's pair estimate: a number, or null when unknown (absent). */
/** A script's match number [epoch, n], when it sent one. */
function seqOf(v: unknown): readonly [number, number] | undefined {
  return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x)) ? [v[0] as number, v[1] as number] : undefined;
}

/** Is match number `a` older than or the same as `b`? */
function notAfter(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

function estimate(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
