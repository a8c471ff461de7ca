/**
 * The multi-node matchmaker: queues, interest preference, rematch cooldown, private codes and
 * match records live in Redis; pairing runs in Lua scripts (atomic, so two nodes never hand one
 * waiting client to two partners). Notices for a client on another node travel over that node's
 * pub/sub channel; a node's heartbeat key lets the survivors clean up after it dies.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { HubCount, PartnerLeftReason, SignalData } from '../protocol/index.js';
import { randomId } from './ids.js';
import type {
  Matchmaker, MatchmakerListener, MatchmakerOptions, MatchNotice, Placement, PrivateJoinResult, QueueEntry, RelayResult,
} from './matchmaker.js';
import { normaliseInterests } from './matchmaker.js';
import { CHECK, COUNTS, CREATE_PRIVATE, END_MATCH, ENQUEUE, JOIN_PRIVATE, REMOVE, TICK } from './redis-scripts.js';

/** Settings of the Redis matchmaker. */
export interface RedisMatchmakerOptions extends MatchmakerOptions {
  url: string;
  nodeId: string;
  /** A node missing its heartbeat this long is dead; its clients' partners are told. */
  nodeTtlMs: number;
  /** Key prefix (with the hash tag). */
  prefix?: string;
  log?: Logger;
}

type Ended = { mid: string; partner: string; node: string } | undefined;

/** What travels on a node's channel. */
type Wire =
  | { t: 'matched'; to: string; notice: MatchNotice; partnerNode: string }
  | { t: 'left'; to: string; mid: string; reason: PartnerLeftReason }
  | { t: 'signal'; to: string; mid: string; data: SignalData }
  | { t: 'expired'; to: string; code: string };

const MAX_SCAN = 500;

/** Redis-backed {@link Matchmaker}. */
export class RedisMatchmaker implements Matchmaker {
  readonly #o: Required<Omit<RedisMatchmakerOptions, 'log'>> & { log?: Logger };
  readonly #listener: MatchmakerListener;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #P: string;
  /** Local clients in a call: where their partner is, so signals skip Redis lookups. */
  readonly #calls = new Map<string, { mid: string; partner: string; node: string }>();
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

  private constructor(options: RedisMatchmakerOptions, listener: MatchmakerListener) {
    this.#o = { tickMs: 250, now: Date.now, prefix: '{chz}:', ...options };
    this.#P = this.#o.prefix;
    this.#listener = listener;
    const common = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(200 * n, 2000) };
    this.#redis = new Redis(options.url, common);
    this.#sub = new Redis(options.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const r of [this.#redis, this.#sub]) r.on('error', (err: Error) => this.#o.log?.debug({ err: err.message }, 'redis error'));
    this.#redis.on('close', () => { this.#wasDown = true; });
    this.#sub.on('close', () => {
      if (this.#closed) return;
      // Pub/sub has no replay: whatever was published while this connection was down is lost.
      this.#o.log?.warn('redis pub/sub connection dropped; cross-node messages may have been lost '
        + '(if Redis cut it for its output buffer, raise client-output-buffer-limit pubsub)');
    });
    this.#redis.on('ready', () => {
      if (!this.#wasDown) return;
      this.#wasDown = false;
      this.#o.log?.info('redis is back');
      void this.#heartbeat();
      for (const h of this.#recoverHandlers) h();
    });
    this.#redis.defineCommand('czEnqueue', { numberOfKeys: 0, lua: ENQUEUE });
    this.#redis.defineCommand('czRemove', { numberOfKeys: 0, lua: REMOVE });
    this.#redis.defineCommand('czEnd', { numberOfKeys: 0, lua: END_MATCH });
    this.#redis.defineCommand('czCreatePrivate', { numberOfKeys: 0, lua: CREATE_PRIVATE });
    this.#redis.defineCommand('czJoinPrivate', { numberOfKeys: 0, lua: JOIN_PRIVATE });
    this.#redis.defineCommand('czTick', { numberOfKeys: 0, lua: TICK });
    this.#redis.defineCommand('czCounts', { numberOfKeys: 0, lua: COUNTS });
    this.#redis.defineCommand('czCheck', { numberOfKeys: 0, lua: CHECK });
  }

  /** Connects both Redis connections, subscribes to this node's channel, starts heartbeats. */
  static async connect(options: RedisMatchmakerOptions, listener: MatchmakerListener): Promise<RedisMatchmaker> {
    const mm = new RedisMatchmaker(options, listener);
    try {
      await Promise.all([mm.#redis.connect(), mm.#sub.connect()]);
      mm.#sub.on('message', (_ch: string, msg: string) => mm.#onWire(msg));
      await mm.#sub.subscribe(mm.#channel(options.nodeId));
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

  #channel(node: string): string { return `${this.#P}ch:${node}`; }

  #cmd(name: string, ...args: (string | number)[]): Promise<string> {
    return (this.#redis as unknown as Record<string, (...a: (string | number)[]) => Promise<string>>)[name]!(this.#P, ...args);
  }

  async enqueue(entry: QueueEntry): Promise<Placement> {
    const now = this.#o.now();
    const interests = normaliseInterests(entry.interests);
    const mid = randomId(12);
    const res = JSON.parse(await this.#cmd('czEnqueue', entry.clientId, this.#o.nodeId, entry.hub, JSON.stringify(interests), now,
      this.#o.interestFallbackMs, this.#o.rematchCooldownMs, mid, MAX_SCAN));
    this.#afterEnded(entry.clientId, res.ended, 'leave');
    if (res.r === 'q') return { kind: 'queued', hub: entry.hub, position: res.position };
    const common = arr(res.common) as string[];
    // The one who waited is the offerer.
    this.#deliverMatched(res.partner, res.node, { matchId: mid, role: 'offerer', partnerId: entry.clientId, hub: entry.hub, private: false, commonInterests: common, waitedMs: res.waited }, this.#o.nodeId);
    this.#deliverMatched(entry.clientId, this.#o.nodeId, { matchId: mid, role: 'answerer', partnerId: res.partner, hub: entry.hub, private: false, commonInterests: common, waitedMs: 0 }, res.node);
    return { kind: 'matched', matchId: mid, partnerId: res.partner };
  }

  async remove(clientId: string, reason: PartnerLeftReason): Promise<void> {
    const res = JSON.parse(await this.#cmd('czRemove', clientId, this.#o.rematchCooldownMs, '1'));
    this.#calls.delete(clientId);
    this.#afterEnded(clientId, res.ended, reason);
  }

  async endMatch(clientId: string, reason: PartnerLeftReason): Promise<string | null> {
    const res = JSON.parse(await this.#cmd('czEnd', clientId, this.#o.rematchCooldownMs));
    this.#calls.delete(clientId);
    this.#afterEnded(clientId, res.ended, reason);
    return (res.ended as Ended)?.mid ?? null;
  }

  async relay(fromId: string, matchId: string, data: SignalData): Promise<RelayResult> {
    const call = this.#calls.get(fromId);
    if (!call) return 'not-matched';
    if (call.mid !== matchId) return 'stale-match';
    this.#send(call.node, { t: 'signal', to: call.partner, mid: matchId, data });
    return 'relayed';
  }

  async createPrivate(clientId: string): Promise<{ code: string; expiresAt: number }> {
    const now = this.#o.now();
    const code = randomId(16);
    const expiresAt = now + this.#o.privateCodeTtlMs;
    const res = JSON.parse(await this.#cmd('czCreatePrivate', clientId, this.#o.nodeId, code, now, expiresAt, this.#o.rematchCooldownMs));
    this.#afterEnded(clientId, res.ended, 'leave');
    return { code, expiresAt };
  }

  async joinPrivate(clientId: string, code: string): Promise<PrivateJoinResult> {
    const mid = randomId(12);
    const res = JSON.parse(await this.#cmd('czJoinPrivate', clientId, this.#o.nodeId, code, this.#o.now(), mid, this.#o.rematchCooldownMs));
    if (res.r !== 'matched') return res.r;
    this.#afterEnded(clientId, res.ended, 'leave');
    this.#deliverMatched(res.owner, res.node, { matchId: mid, role: 'offerer', partnerId: clientId, hub: null, private: true, commonInterests: [], waitedMs: res.waited }, this.#o.nodeId);
    this.#deliverMatched(clientId, this.#o.nodeId, { matchId: mid, role: 'answerer', partnerId: res.owner, hub: null, private: true, commonInterests: [], waitedMs: 0 }, res.node);
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

  /** Interest fallback, cooldown last resort and private expiry, for every hub. */
  async tick(): Promise<void> {
    if (this.#closed || this.#ticking || !this.healthy) return;
    this.#ticking = true;
    try {
      const mids = Array.from({ length: 16 }, () => randomId(12));
      const res = JSON.parse(await this.#cmd('czTick', JSON.stringify(this.#o.hubs), this.#o.now(), this.#o.interestFallbackMs, MAX_SCAN, JSON.stringify(mids)));
      for (const m of arr(res.matches) as { mid: string; hub: string; a: string; anode: string; awaited: number; b: string; bnode: string; bwaited: number; common: unknown }[]) {
        const common = arr(m.common) as string[];
        this.#deliverMatched(m.a, m.anode, { matchId: m.mid, role: 'offerer', partnerId: m.b, hub: m.hub, private: false, commonInterests: common, waitedMs: m.awaited }, m.bnode);
        this.#deliverMatched(m.b, m.bnode, { matchId: m.mid, role: 'answerer', partnerId: m.a, hub: m.hub, private: false, commonInterests: common, waitedMs: m.bwaited }, m.anode);
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
    this.#sub.disconnect();
    this.#redis.disconnect();
  }

  // ------------------------------------------------------------------ delivery

  #deliverMatched(to: string, node: string, notice: MatchNotice, partnerNode: string): void {
    this.#send(node, { t: 'matched', to, notice, partnerNode });
  }

  #afterEnded(by: string, ended: Ended, reason: PartnerLeftReason): void {
    this.#calls.delete(by);
    if (!ended || !ended.partner) return;
    this.#markEnded(ended.mid, 'self', reason);
    this.#send(ended.node, { t: 'left', to: ended.partner, mid: ended.mid, reason });
  }

  /** Delivers locally when `node` is this one, else publishes on that node's channel. */
  #send(node: string, msg: Wire): void {
    if (node === this.#o.nodeId) { this.#dispatch(msg); return; }
    if (!node) return;
    this.#redis.publish(this.#channel(node), JSON.stringify(msg)).catch((err: Error) => {
      this.#o.log?.warn({ err: err.message, to: msg.to, t: msg.t }, 'cross-node delivery failed');
    });
  }

  #onWire(text: string): void {
    let msg: Wire;
    try { msg = JSON.parse(text); } catch { return; }
    this.#dispatch(msg);
  }

  #markEnded(mid: string, by: 'self' | 'partner', reason: PartnerLeftReason): void {
    const now = Date.now();
    if (this.#ended.size > 10_000) {
      for (const [k, v] of this.#ended) if (now - v.at > 30_000) this.#ended.delete(k);
    }
    if (!this.#ended.has(mid) || by === 'self') this.#ended.set(mid, { by, reason, at: now });
  }

  #dispatch(msg: Wire): void {
    switch (msg.t) {
      case 'matched': {
        const over = this.#ended.get(msg.notice.matchId);
        if (over?.by === 'self') return; // this client ended it itself before hearing of it
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
      case 'signal':
        this.#listener.signal(msg.to, msg.mid, msg.data);
        return;
      case 'expired':
        this.#listener.privateExpired(msg.to, msg.code);
    }
  }

  // ------------------------------------------------------------------ node liveness

  async #heartbeat(): Promise<void> {
    if (this.#closed || !this.healthy) return;
    try {
      await this.#redis.multi()
        .set(`${this.#P}hb:${this.#o.nodeId}`, String(Date.now()), 'PX', Math.max(100, Math.floor(this.#o.nodeTtlMs / 2)))
        .sadd(`${this.#P}nodes`, this.#o.nodeId)
        .exec();
    } catch { /* retried on the next beat */ }
  }

  /** Finds nodes whose heartbeat expired and removes their clients, telling partners. */
  async #reap(): Promise<void> {
    if (this.#closed || !this.healthy) return;
    try {
      const nodes = await this.#redis.smembers(`${this.#P}nodes`);
      for (const node of nodes) {
        if (node === this.#o.nodeId) continue;
        if (await this.#redis.exists(`${this.#P}hb:${node}`)) continue;
        const lock = await this.#redis.set(`${this.#P}reap:${node}`, this.#o.nodeId, 'PX', 5000, 'NX');
        if (lock !== 'OK') continue;
        const clients = await this.#redis.smembers(`${this.#P}nc:${node}`);
        this.#o.log?.warn({ node, clients: clients.length }, 'node is gone; removing its clients');
        for (const id of clients) {
          const res = JSON.parse(await this.#cmd('czRemove', id, 0, '1'));
          this.#afterEnded(id, res.ended, 'disconnect');
        }
        await this.#redis.multi().del(`${this.#P}nc:${node}`).srem(`${this.#P}nodes`, node).exec();
      }
    } catch (err) {
      this.#o.log?.debug({ err: (err as Error).message }, 'reap failed');
    }
  }
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
