/**
 * Cross-node delivery for the Redis matchmaker: each node reads its own Redis Stream
 * (`P s:<node>`) with a cursor it keeps, so nothing published while its reader was away (a
 * dropped connection, a Redis restart or pause, a node restart with the same id) is lost.
 *
 * - Writing: messages go through one FIFO outbox per node, written in order by one pump
 *   (pipelined) with a Lua script that numbers them per (sender, destination) and refuses
 *   duplicates and gaps, so a resend after an unanswered write can neither duplicate nor reorder.
 *   While Redis is unreachable the outbox holds them (bounded in count and age) and flushes when
 *   it is back.
 * - Reading: a dedicated connection loops on XREAD BLOCK from the cursor. The cursor is stored
 *   (`P cur:<node>`) and the stream trimmed up to it after each batch: that is the
 *   acknowledgement. A restarted node resumes from the stored cursor. The reader also drops, by
 *   sequence, anything it has already delivered, and counts gaps.
 *
 * Pub/sub, which this replaces, forgets whatever it could not push at once (Socket.IO's Redis
 * Streams adapter and Redis consumer groups keep messages for the same reason).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterMetrics, DropReason, WireKind } from './cluster-metrics.js';
import { randomId } from './ids.js';
import { XADD_SEQ } from './redis-scripts.js';

/** Settings of {@link NodeStreams}. */
export interface NodeStreamsOptions {
  url: string;
  nodeId: string;
  prefix: string;
  /** The command connection (shared with the matchmaker). */
  redis: Redis;
  metrics: ClusterMetrics;
  log?: Logger;
  /** Longest a node's stream grows (approximately), entries. */
  maxLen?: number;
  /** Entries older than this are trimmed from a stream, read or not, ms. */
  maxAgeMs?: number;
  /** A message not written to Redis within this long is dropped (its sender is told), ms. */
  outboxMaxAgeMs?: number;
  /** Most messages waiting for Redis. */
  outboxMax?: number;
}

/** One message read from this node's stream, with where it came from. */
export interface StreamDelivery {
  payload: string;
  fromNode: string;
  /** Read after the reader reconnected or the node restarted (it waited in the stream). */
  replayed: boolean;
}

interface Pending {
  dest: string;
  inc: string;
  seq: number;
  at: number;
  kind: WireKind;
  payload: string;
}

const BATCH = 256;
const READ_COUNT = 500;

/** The per-node stream transport. */
export class NodeStreams {
  readonly #o: Required<Omit<NodeStreamsOptions, 'log'>> & { log?: Logger };
  readonly #reader: Redis;
  readonly #outbox: Pending[] = [];
  /** Per destination: the incarnation and last sequence number used. */
  readonly #seq = new Map<string, { inc: string; seq: number }>();
  /** Per sender node: the incarnation and last sequence number delivered here. */
  readonly #seen = new Map<string, { inc: string; seq: number }>();
  /** This process: a restarted node starts its numbering over under a new incarnation. */
  readonly #incarnation = randomId(6);
  #epoch = 0;
  #cursor = '0-0';
  #pumping = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #reading: Promise<void> | null = null;
  /** The next batches read were waiting in the stream while the reader was away. */
  #resuming = false;
  #acking = false;
  #ackAgain = false;
  #onMessage: (d: StreamDelivery) => void = () => undefined;
  #onDrop: (payload: string, kind: WireKind, reason: DropReason) => void = () => undefined;

  constructor(options: NodeStreamsOptions) {
    this.#o = { maxLen: 100_000, maxAgeMs: 10 * 60_000, outboxMaxAgeMs: 60_000, outboxMax: 100_000, ...options };
    this.#reader = new Redis(options.url, {
      // Named, so an operator (or the soak) finds it in CLIENT LIST.
      lazyConnect: true, connectTimeout: 2000, connectionName: `chatzyo:reader:${options.nodeId}`,
      // The blocked read is resent after a reconnect: it only reads from the cursor, so that is safe.
      maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(100 * n, 1000),
    });
    this.#reader.on('error', (err: Error) => this.#o.log?.debug({ err: err.message }, 'redis reader error'));
    this.#reader.on('close', () => {
      if (this.#closed) return;
      this.#resuming = true;
      this.#o.log?.info('redis stream reader disconnected; it resumes from its cursor');
    });
    this.#o.redis.defineCommand('czXadd', { numberOfKeys: 0, lua: XADD_SEQ });
    this.#o.redis.on('ready', () => this.#kick());
  }

  #key(node: string): string { return `${this.#o.prefix}s:${node}`; }

  /**
   * Connects the reader, takes up the stored cursor (a restart resumes where the last run
   * stopped; a new node starts after whatever is in its stream) and starts reading.
   */
  async start(onMessage: (d: StreamDelivery) => void, onDrop: (payload: string, kind: WireKind, reason: DropReason) => void): Promise<void> {
    this.#onMessage = onMessage;
    this.#onDrop = onDrop;
    const r = this.#o.redis;
    const P = this.#o.prefix;
    const id = this.#o.nodeId;
    await this.#reader.connect();
    // A reaper set these to expire when it found this node dead; the node is back.
    await r.multi().persist(this.#key(id)).persist(`${P}cur:${id}`).persist(`${P}sq:${id}`).exec();
    const stored = await r.get(`${P}cur:${id}`);
    if (stored) {
      this.#cursor = stored;
      this.#resuming = true;
    } else {
      const last = await r.xrevrange(this.#key(id), '+', '-', 'COUNT', 1);
      this.#cursor = last[0]?.[0] ?? '0-0';
      await r.set(`${P}cur:${id}`, this.#cursor);
    }
    this.#reading = this.#readLoop();
    this.#reading.catch((err: unknown) => this.#o.log?.error({ err: (err as Error)?.message }, 'the stream reader stopped'));
  }

  /** Queues `payload` for `dest`'s stream; false when the outbox is full (dropped and counted). */
  send(dest: string, kind: WireKind, payload: string): boolean {
    if (this.#closed) return false;
    if (this.#outbox.length >= this.#o.outboxMax) {
      this.#o.metrics.dropped.inc({ reason: 'overflow' });
      this.#onDrop(payload, kind, 'overflow');
      return false;
    }
    const s = this.#seq.get(dest) ?? { inc: this.#inc(), seq: 0 };
    s.seq++;
    this.#seq.set(dest, s);
    this.#outbox.push({ dest, inc: s.inc, seq: s.seq, at: Date.now(), kind, payload });
    this.#o.metrics.outbox.set(this.#outbox.length);
    this.#kick();
    return true;
  }

  #inc(): string { return `${this.#incarnation}.${this.#epoch}`; }

  #kick(): void {
    if (this.#pumping || this.#closed || !this.#outbox.length) return;
    this.#pumping = true;
    this.#pump().catch((err: unknown) => this.#o.log?.warn({ err }, 'stream pump failed')).finally(() => {
      this.#pumping = false;
      if (this.#outbox.length && !this.#closed && !this.#retryTimer) {
        // Failed writes: try again soon (the 'ready' event also kicks).
        this.#retryTimer = setTimeout(() => { this.#retryTimer = null; this.#kick(); }, 100);
        this.#retryTimer.unref();
      }
    });
  }

  /** Writes the outbox in order, a pipelined batch at a time, until it is empty or a write fails. */
  async #pump(): Promise<void> {
    const r = this.#o.redis as Redis & { pipeline(): ReturnType<Redis['pipeline']> & Record<string, (...a: (string | number)[]) => unknown> };
    while (this.#outbox.length && !this.#closed) {
      this.#expire();
      if (!this.#outbox.length || r.status !== 'ready') return;
      const batch = this.#outbox.slice(0, BATCH);
      const pipe = r.pipeline() as unknown as Record<string, (...a: (string | number)[]) => unknown> & { exec(): Promise<[Error | null, unknown][] | null> };
      for (const e of batch) {
        pipe.czXadd!(this.#o.prefix, e.dest, this.#o.nodeId, e.inc, e.seq, this.#o.maxLen, this.#o.maxAgeMs, e.at, e.payload);
      }
      let results: [Error | null, unknown][] | null;
      try { results = await pipe.exec(); } catch { results = null; }
      let done = 0;
      let gap = false;
      for (const [err, res] of results ?? []) {
        // Everything after the first failure is resent: the script answers "dup" for what got in.
        if (res === 'gap') { gap = true; break; }
        if (err || (res !== 'ok' && res !== 'dup')) break;
        if (res === 'ok') this.#o.metrics.sent.inc({ kind: batch[done]!.kind });
        done++;
      }
      this.#outbox.splice(0, done);
      this.#o.metrics.outbox.set(this.#outbox.length);
      if (gap) {
        // Redis remembers an older number for this destination than the one we hold (it lost
        // its last writes in a restart): what it lost is gone, but what waits here must not
        // be held back. Number this destination afresh under a new epoch and go on at once.
        const dest = this.#outbox[0]!.dest;
        this.#o.log?.warn({ dest }, 'cross-node numbering out of step with Redis (it lost writes); renumbering');
        this.#renumber(new Set([dest]));
        continue;
      }
      if (done < batch.length) return;
    }
  }

  /** Drops messages that waited for Redis longer than the limit; their senders are told. */
  #expire(): void {
    const limit = Date.now() - this.#o.outboxMaxAgeMs;
    let n = 0;
    while (n < this.#outbox.length && this.#outbox[n]!.at < limit) n++;
    if (!n) return;
    const gone = this.#outbox.splice(0, n);
    // The destinations' numbering now has a hole the script would refuse: start a new epoch.
    this.#renumber(new Set(gone.map((g) => g.dest)));
    this.#o.log?.warn({ dropped: n }, 'cross-node messages dropped: Redis unreachable longer than the outbox age limit');
    for (const g of gone) {
      this.#o.metrics.dropped.inc({ reason: 'expired' });
      this.#onDrop(g.payload, g.kind, 'expired');
    }
    this.#o.metrics.outbox.set(this.#outbox.length);
  }

  /** Numbers what waits for `dests` afresh under a new epoch (the reader takes it as a new sender run). */
  #renumber(dests: ReadonlySet<string>): void {
    this.#epoch++;
    for (const d of dests) this.#seq.delete(d);
    for (const e of this.#outbox) {
      if (!dests.has(e.dest)) continue;
      const s = this.#seq.get(e.dest) ?? { inc: this.#inc(), seq: 0 };
      s.seq++;
      this.#seq.set(e.dest, s);
      e.inc = s.inc;
      e.seq = s.seq;
    }
  }

  async #readLoop(): Promise<void> {
    const key = this.#key(this.#o.nodeId);
    while (!this.#closed) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = await this.#reader.xread('COUNT', READ_COUNT, 'BLOCK', 2000, 'STREAMS', key, this.#cursor) as typeof res;
      } catch (err) {
        if (this.#closed) return;
        this.#o.log?.debug({ err: (err as Error).message }, 'stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 200).unref());
        continue;
      }
      if (this.#closed) return;
      if (!res) { this.#resuming = false; continue; }
      let read = 0;
      for (const [, entries] of res) {
        for (const [id, fields] of entries) {
          read++;
          this.#handle(fields);
          this.#cursor = id;
        }
      }
      // A full batch means more was waiting: still catching up.
      if (read < READ_COUNT) this.#resuming = false;
      this.#ack();
    }
  }

  #handle(fields: string[]): void {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    const m = this.#o.metrics;
    const seq = Number(f.q);
    if (!f.f || !f.i || !Number.isInteger(seq) || f.m === undefined) { m.dropped.inc({ reason: 'malformed' }); return; }
    if (this.#resuming) m.replayed.inc();
    const seen = this.#seen.get(f.f);
    if (seen && seen.inc === f.i) {
      if (seq <= seen.seq) { m.dropped.inc({ reason: 'duplicate' }); return; }
      if (seq !== seen.seq + 1) {
        m.dropped.inc({ reason: 'gap' }, seq - seen.seq - 1);
        this.#o.log?.warn({ from: f.f, missing: seq - seen.seq - 1 }, 'cross-node messages missing (trimmed before they were read)');
      }
    }
    this.#seen.set(f.f, { inc: f.i, seq });
    const sentAt = Number(f.t);
    if (Number.isFinite(sentAt)) m.lag.observe(Math.max(0, Date.now() - sentAt) / 1000);
    // One entry whose delivery throws (a bug downstream) must not stop the reader, nor crash the
    // node on every restart when the same entry is replayed: count it and move on.
    try {
      this.#onMessage({ payload: f.m, fromNode: f.f, replayed: this.#resuming });
    } catch (err) {
      m.dropped.inc({ reason: 'handler' });
      this.#o.log?.error({ err: (err as Error).message, from: f.f }, 'delivering a cross-node message failed; skipped');
    }
  }

  /** Stores the cursor and trims what was read (coalesced: one write in flight at a time). */
  #ack(): void {
    if (this.#acking) { this.#ackAgain = true; return; }
    this.#acking = true;
    const cursor = this.#cursor;
    const P = this.#o.prefix;
    this.#o.redis.multi()
      .set(`${P}cur:${this.#o.nodeId}`, cursor)
      .xtrim(this.#key(this.#o.nodeId), 'MINID', '~', cursor)
      .exec()
      .catch(() => { this.#ackAgain = true; })
      .finally(() => {
        this.#acking = false;
        if (this.#ackAgain && !this.#closed) {
          this.#ackAgain = false;
          setTimeout(() => this.#ack(), 50).unref();
        }
      });
  }

  /**
   * A node found dead: its stream, cursor and numbering expire after the age limit unless it
   * comes back (then it reads what waited for it, see {@link start}).
   */
  async expireNode(node: string): Promise<void> {
    const P = this.#o.prefix;
    const ttl = this.#o.maxAgeMs;
    await this.#o.redis.multi().pexpire(this.#key(node), ttl).pexpire(`${P}cur:${node}`, ttl).pexpire(`${P}sq:${node}`, ttl).exec();
  }

  /** Stops reading and writing (what is still in the outbox is dropped). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    // A read blocked in ioredis's offline queue is not always rejected by disconnect(): the loop
    // is not awaited; it ends at its next turn (it checks #closed).
    this.#reader.disconnect();
    this.#reading?.catch(() => undefined);
  }
}
