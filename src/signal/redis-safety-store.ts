/**
 * The {@link SafetyStore} in Redis, for several nodes: every node reads a ban from Redis when a
 * client joins, so a ban made on one node holds on all of them at once. Keys (all under the
 * `{chz}:` hash tag, so one cluster slot holds them):
 * - `{chz}:safety:secret`: the deployment's secret when `--safety-secret` is not given (SET NX;
 *   every node sets it again, NX, after each reconnect, so a Redis that lost its data gets back
 *   the secret the nodes hold);
 * - `{chz}:safety:who:CLIENT`: a client's anonymous id and address hash (for a reporter on
 *   another node): 24 h at most while connected, 2 minutes after it disconnects;
 * - `{chz}:safety:quota:SUBJECT`: reports made in the current window (expires with it);
 * - `{chz}:safety:reports:SUBJECT`: sorted set of reports against a subject, by time (expires
 *   after the ban window); `{chz}:safety:reported`: the subjects, by their latest report;
 * - `{chz}:safety:ban:SUBJECT`: a ban (expires when it ends); `{chz}:safety:bans`: the bans, by
 *   end (ended ones are trimmed when a ban is made, at most 100 at a time, and when it is listed);
 * - `{chz}:safety:strikes:SUBJECT`: bans by reports so far (expires `strikeTtlMs` after the last);
 * - `{chz}:safety:reasons`: hash of report counts per reason.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { randomId } from './ids.js';
import {
  parseSubject, subjectKey, WHO_KEEP_AFTER_DISCONNECT_MS, type Ban, type Identity, type ReportRecord, type SafetyStore, type Subject,
} from './safety-store.js';

/** How long a connected client's identity is kept at most (a node that dies cannot delete it). */
const WHO_TTL_MS = 24 * 3_600_000;

/**
 * Drops up to 100 ended bans from the bans index KEYS[idx] (scores are ends, ms): bounded work
 * each time a ban is made, so the index does not grow with bans nobody lists.
 */
const TRIM_BANS = (idx: string, now: string) => `
local ended = redis.call('ZRANGEBYSCORE', KEYS[${idx}], '-inf', ${now}, 'LIMIT', 0, 100)
if #ended > 0 then redis.call('ZREM', KEYS[${idx}], unpack(ended)) end
`;

/** An admin's ban. KEYS: the ban key, the bans index. ARGV: the ban (JSON), duration, end, subject key, now. */
const BAN_BY_ADMIN = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
${TRIM_BANS('2', 'ARGV[5]')}
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`;

/**
 * Bans every subject unless one is banned already; escalates from the most strikes any has.
 * KEYS: n ban keys, n strike keys, n report keys, the bans index. ARGV: n, now, strike TTL,
 * durations (JSON), then the n subject keys.
 */
const BAN_BY_REPORTS = `
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local strikeTtl = tonumber(ARGV[3])
local durations = cjson.decode(ARGV[4])
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
local previous = 0
for i = 1, n do
  local s = tonumber(redis.call('GET', KEYS[n + i]) or '0')
  if s > previous then previous = s end
end
local d = durations[math.min(previous + 1, #durations)]
local untilMs = now + d
${TRIM_BANS('3 * n + 1', 'now')}
local value = cjson.encode({ untilMs = untilMs, level = previous + 1, by = 'reports' })
for i = 1, n do
  redis.call('SET', KEYS[i], value, 'PX', d)
  redis.call('SET', KEYS[n + i], previous + 1, 'PX', strikeTtl)
  redis.call('DEL', KEYS[2 * n + i])
  redis.call('ZADD', KEYS[3 * n + 1], untilMs, ARGV[4 + i])
end
return { previous + 1, untilMs }
`;

type Cmd = (...args: (string | number)[]) => Promise<unknown>;

/** Redis-backed {@link SafetyStore}. */
export class RedisSafetyStore implements SafetyStore {
  readonly #redis: Redis;
  readonly #P: string;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  /** The secret {@link sharedSecret} settled on: this node's for good (the tokens it gave out carry it). */
  #secret: string | null = null;
  /** Redis was found holding another secret; said once until the two agree again. */
  #secretConflictLogged = false;
  /** The latest re-assertion of the secret after a reconnect (tests wait for it). */
  #reasserting: Promise<void> = Promise.resolve();

  private constructor(url: string, prefix: string, now: () => number, log?: Logger) {
    this.#P = `${prefix}safety:`;
    this.#now = now;
    this.#log = log;
    this.#redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(200 * n, 2000) });
    this.#redis.on('error', (err: Error) => log?.debug({ err: err.message }, 'safety store: redis error'));
    // Every 'ready' after the first is a reconnect: Redis may have restarted without its data.
    this.#redis.on('ready', () => { if (this.#secret !== null) this.#reasserting = this.#reassertSecret(this.#secret); });
    this.#redis.defineCommand('czBanByReports', { lua: BAN_BY_REPORTS });
    this.#redis.defineCommand('czBanByAdmin', { lua: BAN_BY_ADMIN });
  }

  /** Connects (rejects when Redis cannot be reached). */
  static async connect(url: string, opts: { prefix?: string; now?: () => number; log?: Logger } = {}): Promise<RedisSafetyStore> {
    const store = new RedisSafetyStore(url, opts.prefix ?? '{chz}:', opts.now ?? Date.now, opts.log);
    try {
      await store.#redis.connect();
    } catch (err) {
      store.#redis.disconnect();
      throw err;
    }
    return store;
  }

  #key(part: string, s?: Subject): string {
    return s ? `${this.#P}${part}:${subjectKey(s)}` : `${this.#P}${part}`;
  }

  async sharedSecret(candidate: string): Promise<string> {
    const key = this.#key('secret');
    await this.#redis.set(key, candidate, 'NX');
    const stored = await this.#redis.get(key);
    if (!stored) throw new Error('the shared safety secret vanished from Redis');
    this.#secret = stored;
    return stored;
  }

  /**
   * After a reconnect: stores this node's secret again unless Redis holds one (SET NX), so the
   * first node back after Redis lost its data writes back the secret every node holds, and a
   * node started meanwhile learns it. When Redis holds another secret (a node started in the gap
   * stored a fresh one), this node keeps its own, since the tokens it gave out must stay valid,
   * and says so once. Never rejects.
   */
  async #reassertSecret(mine: string): Promise<void> {
    const key = this.#key('secret');
    try {
      if ((await this.#redis.set(key, mine, 'NX')) === 'OK') {
        this.#log?.info('safety store: Redis had lost the shared safety secret; this node stored its own again');
        this.#secretConflictLogged = false;
        return;
      }
      const stored = await this.#redis.get(key);
      if (stored === null || stored === mine) { this.#secretConflictLogged = false; return; }
      if (this.#secretConflictLogged) return;
      this.#secretConflictLogged = true;
      this.#log?.warn('safety store: Redis holds another shared safety secret than this node (Redis lost its data and a node stored a new one); '
        + 'this node keeps its own, so its tokens and address hashes differ from those nodes\' until the nodes restart: set --safety-secret on every node to avoid this');
    } catch (err) {
      this.#log?.debug({ err: (err as Error).message }, 'safety store: could not check the shared secret after a reconnect');
    }
  }

  /** Settles when the latest check of the secret after a reconnect is done (for tests). */
  get secretChecked(): Promise<void> { return this.#reasserting; }

  async register(clientId: string, who: Identity): Promise<void> {
    await this.#redis.set(this.#key(`who:${clientId}`), JSON.stringify(who), 'PX', WHO_TTL_MS);
  }

  async forget(clientId: string): Promise<void> {
    // Kept a while, not deleted: the partner of the call it left may still report it.
    await this.#redis.pexpire(this.#key(`who:${clientId}`), WHO_KEEP_AFTER_DISCONNECT_MS);
  }

  async identityOf(clientId: string): Promise<Identity | null> {
    const raw = await this.#redis.get(this.#key(`who:${clientId}`));
    return raw ? (JSON.parse(raw) as Identity) : null;
  }

  async takeReportQuota(subjects: Subject[], limit: number, windowMs: number): Promise<number> {
    const m = this.#redis.multi();
    for (const s of subjects) {
      const k = this.#key('quota', s);
      // A fixed window from the first report (SET NX starts it; INCR keeps the expiry).
      m.set(k, 0, 'PX', windowMs, 'NX').incr(k).pttl(k);
    }
    const res = (await m.exec()) ?? [];
    let wait = 0;
    for (let i = 0; i < subjects.length; i++) {
      const count = Number(res[i * 3 + 1]![1]);
      const ttl = Number(res[i * 3 + 2]![1]);
      if (count > limit) wait = Math.max(wait, ttl > 0 ? ttl : windowMs);
    }
    return wait;
  }

  async addReport(subjects: Subject[], report: ReportRecord, windowMs: number): Promise<ReportRecord[][]> {
    const now = this.#now();
    const member = JSON.stringify({ ...report, n: randomId(6) });
    const m = this.#redis.multi();
    for (const s of subjects) {
      const k = this.#key('reports', s);
      m.zadd(k, report.at, member).zremrangebyscore(k, '-inf', now - windowMs).pexpire(k, windowMs).zrange(k, 0, -1);
      m.zadd(this.#key('reported'), now, subjectKey(s));
    }
    m.zremrangebyscore(this.#key('reported'), '-inf', now - windowMs);
    m.hincrby(this.#key('reasons'), report.reason, 1);
    const res = (await m.exec()) ?? [];
    return subjects.map((_, i) => (res[i * 5 + 3]![1] as string[]).map(parseReport).filter((r): r is ReportRecord => r !== null));
  }

  async banByReports(subjects: Subject[], durationsMs: number[], strikeTtlMs: number): Promise<Ban[] | null> {
    const keys = [
      ...subjects.map((s) => this.#key('ban', s)), ...subjects.map((s) => this.#key('strikes', s)), ...subjects.map((s) => this.#key('reports', s)),
      this.#key('bans'),
    ];
    const args = [subjects.length, this.#now(), strikeTtlMs, JSON.stringify(durationsMs), ...subjects.map(subjectKey)];
    const res = await (this.#redis as unknown as Record<string, Cmd>).czBanByReports!(keys.length, ...keys, ...args) as [number, number] | null;
    if (!res) return null;
    const [level, until] = res;
    return subjects.map((subject) => ({ subject, until: Number(until), level: Number(level), by: 'reports' }));
  }

  async banByAdmin(subject: Subject, durationMs: number): Promise<Ban> {
    const now = this.#now();
    const until = now + durationMs;
    const value = JSON.stringify({ untilMs: until, level: 0, by: 'admin' });
    await (this.#redis as unknown as Record<string, Cmd>).czBanByAdmin!(2, this.#key('ban', subject), this.#key('bans'), value, durationMs, until, subjectKey(subject), now);
    return { subject, until, level: 0, by: 'admin' };
  }

  async unban(subject: Subject): Promise<boolean> {
    const res = (await this.#redis.multi().del(this.#key('ban', subject)).zrem(this.#key('bans'), subjectKey(subject)).exec()) ?? [];
    return Number(res[0]?.[1]) > 0;
  }

  async bansOf(subjects: Subject[]): Promise<Ban[]> {
    if (!subjects.length) return [];
    const raw = await this.#redis.mget(subjects.map((s) => this.#key('ban', s)));
    return subjects.flatMap((subject, i) => {
      const ban = parseBan(subject, raw[i] ?? null);
      return ban && ban.until > this.#now() ? [ban] : [];
    });
  }

  async bans(max: number): Promise<Ban[]> {
    const index = this.#key('bans');
    await this.#redis.zremrangebyscore(index, '-inf', this.#now());
    const keys = (await this.#redis.zrevrange(index, 0, max - 1)).map(parseSubject).filter((s): s is Subject => s !== null);
    return this.bansOf(keys);
  }

  async recentReports(windowMs: number, max: number): Promise<{ subject: Subject; reports: ReportRecord[] }[]> {
    const since = this.#now() - windowMs;
    const subjects = (await this.#redis.zrevrangebyscore(this.#key('reported'), '+inf', since, 'LIMIT', 0, max))
      .map(parseSubject).filter((s): s is Subject => s !== null);
    if (!subjects.length) return [];
    const m = this.#redis.multi();
    for (const s of subjects) m.zrangebyscore(this.#key('reports', s), since, '+inf');
    const res = (await m.exec()) ?? [];
    return subjects
      .map((subject, i) => ({ subject, reports: ((res[i]?.[1] ?? []) as string[]).map(parseReport).filter((r): r is ReportRecord => r !== null) }))
      .filter((x) => x.reports.length > 0);
  }

  async reasonTotals(): Promise<Record<string, number>> {
    const raw = await this.#redis.hgetall(this.#key('reasons'));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}

function parseReport(raw: string): ReportRecord | null {
  try {
    const r = JSON.parse(raw) as ReportRecord;
    return { at: r.at, reporterAnon: r.reporterAnon, reporterAddr: r.reporterAddr, ...(typeof r.reporterNet === 'string' ? { reporterNet: r.reporterNet } : {}), reason: r.reason };
  } catch {
    return null;
  }
}

function parseBan(subject: Subject, raw: string | null): Ban | null {
  if (!raw) return null;
  try {
    const b = JSON.parse(raw) as { untilMs: number; level: number; by: Ban['by'] };
    return { subject, until: b.untilMs, level: b.level, by: b.by };
  } catch {
    return null;
  }
}
