// The safety records themselves (safety-store.ts, redis-safety-store.ts) and what depends on
// them: identities kept after a disconnect, reporters told apart by network (IPv6 /48), the age
// verifier's outcomes, the Redis-shared secret after Redis lost its data, the bans index, a safety
// store that is down, and escalation past the first ban with Redis. Real servers on port 0 and a
// real redis-server; clients come "from" addresses through X-Forwarded-For (--trust-proxy 1).
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import type { Logger } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type ReportReason } from '../../src/protocol/index.js';
import { SignalClient } from '../../src/protocol/client/index.js';
import { wsDial } from '../../src/peer/signal-client.js';
import { verifyAge } from '../../src/signal/age-verifier.js';
import { AnonIdentity, reporterNetKey } from '../../src/signal/anon-identity.js';
import type { Matchmaker } from '../../src/signal/matchmaker.js';
import { MemoryMatchmaker } from '../../src/signal/memory-matchmaker.js';
import { createMetrics } from '../../src/signal/metrics.js';
import { DEFAULT_OPTIONS, type SignalServerOptions } from '../../src/signal/options.js';
import { RedisSafetyStore } from '../../src/signal/redis-safety-store.js';
import { Safety } from '../../src/signal/safety.js';
import {
  distinctReporters, MemorySafetyStore, WHO_KEEP_AFTER_DISCONNECT_MS, type Identity, type ReportRecord, type SafetyStore,
} from '../../src/signal/safety-store.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { joinOutcome, meet, report, SAFETY_ADMIN, tokenOf, useSafetyClients } from '../helpers/safety-clients.js';
import { TestClient } from '../helpers/ws-client.js';
import { until as untilHolds } from '../helpers/deadline.js';

const ADMIN = SAFETY_ADMIN;
const HOUR = 3_600_000;
const SECRET = 'safety-store-test-secret';

let stores: SafetyStore[] = [];

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  stores = [];
});

let redis: RedisServer;
let redisAdmin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  redisAdmin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  redisAdmin?.disconnect();
  await redis?.stop();
});

let prefixes = 0;
/** A Redis store under a prefix of its own (tests do not see each other's keys). */
async function redisStore(opts: { now?: () => number; log?: Logger; prefix?: string } = {}): Promise<RedisSafetyStore> {
  const store = await RedisSafetyStore.connect(redis.url, { prefix: opts.prefix ?? `{t${++prefixes}}:`, ...(opts.now ? { now: opts.now } : {}), ...(opts.log ? { log: opts.log } : {}) });
  stores.push(store);
  return store;
}

/** A Safety over `store` with the default policy (no minimum call length). */
function safetyOver(store: SafetyStore, o: Partial<SignalServerOptions> = {}, now?: () => number): Safety {
  const metrics = createMetrics(() => ({ counts: () => Promise.resolve([]) }) as unknown as Matchmaker, { defaultMetrics: false });
  return new Safety(store, SECRET, { ...DEFAULT_OPTIONS, reportMinCallMs: 0, ...o }, metrics, pino({ level: 'silent' }), now);
}

/** A logger that keeps what was logged at warn, info and error. */
function recordingLogger(): { log: Logger; warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  const log = {
    debug: () => undefined, trace: () => undefined,
    info: (...a: unknown[]) => { infos.push(String(a.find((x) => typeof x === 'string'))); },
    warn: (...a: unknown[]) => { warns.push(String(a.find((x) => typeof x === 'string'))); },
    error: (...a: unknown[]) => { warns.push(String(a.find((x) => typeof x === 'string'))); },
  } as unknown as Logger;
  return { log, warns, infos };
}

/** Polls `check` until it holds (the shared helper, with this file's argument order). */
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => untilHolds(check, ms, what);

const { serve, from, keep } = useSafetyClients();

function admin(server: SignalServer, route: string, body?: unknown): Promise<Response> {
  return fetch(`${server.url}/api/admin/${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

// ------------------------------------------------------------ 1. identities after a disconnect

describe('a disconnected client stays known for WHO_KEEP_AFTER_DISCONNECT_MS', () => {
  const who: Identity = { anonId: 'AAAAAAAAAAAAAAAA', addressHash: '0123456789abcdef' };

  it('is 2 minutes (a late report is taken for 60 s after the call ended)', () => {
    expect(WHO_KEEP_AFTER_DISCONNECT_MS).toBe(2 * 60_000);
  });

  it('memory store: known until 2 minutes after forget, then gone (and dropped from memory)', async () => {
    let now = 1_000_000;
    const store = new MemorySafetyStore(() => now);
    await store.register('c1', who);
    await store.register('c2', { ...who, anonId: 'BBBBBBBBBBBBBBBB' });
    await store.forget('c1');
    now += WHO_KEEP_AFTER_DISCONNECT_MS - 1;
    expect(await store.identityOf('c1')).toEqual(who);
    // Forgetting again does not restart the 2 minutes.
    await store.forget('c1');
    now += 1;
    expect(await store.identityOf('c1')).toBeNull();
    // The connected one stays, however long; the expired one is no longer held.
    now += 100 * HOUR;
    expect(await store.identityOf('c2')).toMatchObject({ anonId: 'BBBBBBBBBBBBBBBB' });
    expect(store.identities).toBe(1);
  });

  it('Redis store: forget keeps the record with a 2-minute expiry instead of deleting it', async () => {
    const store = await redisStore({ prefix: '{who}:' });
    await store.register('c1', who);
    expect(await redisAdmin.pttl('{who}:safety:who:c1')).toBeGreaterThan(WHO_KEEP_AFTER_DISCONNECT_MS);
    await store.forget('c1');
    expect(await store.identityOf('c1')).toEqual(who);
    const ttl = await redisAdmin.pttl('{who}:safety:who:c1');
    expect(ttl).toBeGreaterThan(WHO_KEEP_AFTER_DISCONNECT_MS - 5000);
    expect(ttl).toBeLessThanOrEqual(WHO_KEEP_AFTER_DISCONNECT_MS);
    // Forgetting an unknown client stores nothing.
    await store.forget('nobody');
    expect(await redisAdmin.exists('{who}:safety:who:nobody')).toBe(0);
  });

  for (const kind of ['memory', 'redis'] as const) {
    it(`${kind}: a report of a partner who already disconnected still counts`, async () => {
      const store = kind === 'memory' ? new MemorySafetyStore() : await redisStore();
      const safety = safetyOver(store);
      await safety.register('flasher', who);
      await safety.forget('flasher');
      const r = await safety.report({
        reporter: { anonId: 'CCCCCCCCCCCCCCCC', addressHash: 'fedcba9876543210' }, reporterSession: 's', reportedClientId: 'flasher', reason: 'nudity', inCallMs: 10_000,
      });
      expect(r.outcome).toBe('counted');
    });
  }

  for (const kind of ['memory', 'redis'] as const) {
    it(`through the server (${kind}): strangers who disconnect at once are still reported by their partners, and three such reports ban`, async () => {
      if (kind === 'redis') await redisAdmin.flushall();
      const a = await serve(kind === 'redis' ? { redisUrl: redis.url, nodeTtlMs: 1500 } : {});
      const b = kind === 'redis' ? await serve({ redisUrl: redis.url, nodeTtlMs: 1500 }) : a;
      let token: string | undefined;
      for (let i = 0; i < 3; i++) {
        const flasher = await from(a, '203.0.113.90', token ? { token } : {});
        token ??= tokenOf(flasher);
        const partner = await from(b, `198.51.100.${i + 1}`);
        const matchId = await meet(flasher, partner);
        // Shows something and disconnects at once: the partner reports the call that just ended.
        await flasher.close();
        await partner.next('partner-left');
        partner.send({ type: 'report', matchId, reason: 'nudity', ended: true });
        await partner.sync();
        expect(partner.pending('error')).toEqual([]);
      }
      await until('three counted reports', async () => (await metricValue(b, 'chatzyo_report_outcomes_total', 'outcome="counted"')) === 3);
      expect(await joinOutcome(await from(a, '192.0.2.5', { token }))).toBeGreaterThan(HOUR - 10_000);
      if (kind === 'redis') await redisAdmin.flushall();
    });
  }
});

// ------------------------------------------------------------ 2. reporters by network

describe('reporters are told apart by IPv4 address or IPv6 /48', () => {
  it('reporterNetKey: IPv6 by its /48 (raw or as the /64 address key), IPv4 as is', () => {
    expect(reporterNetKey('2001:db8:7:1::5')).toBe('2001:db8:7::/48');
    expect(reporterNetKey('2001:0DB8:0007:00ff:1:2:3:4')).toBe('2001:db8:7::/48');
    expect(reporterNetKey('2001:db8:7:ff::/64')).toBe('2001:db8:7::/48');
    expect(reporterNetKey('2001:db8::1')).toBe('2001:db8:0::/48');
    expect(reporterNetKey('::1')).toBe('0:0:0::/48');
    expect(reporterNetKey('fe80::1%eth0')).toBe('fe80:0:0::/48');
    expect(reporterNetKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0::/48');
    expect(reporterNetKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(reporterNetKey('203.0.113.7')).toBe('203.0.113.7');
    expect(reporterNetKey('unknown')).toBe('unknown');
  });

  it('hashReporterNet: one hash for the /64s of one /48; for IPv4 the address hash itself', () => {
    const id = new AnonIdentity(SECRET);
    expect(id.hashReporterNet('2001:db8:7:1::/64')).toBe(id.hashReporterNet('2001:db8:7:2::/64'));
    expect(id.hashReporterNet('2001:db8:7:1::/64')).not.toBe(id.hashReporterNet('2001:db8:8:1::/64'));
    expect(id.hashReporterNet('2001:db8:7:1::/64')).not.toBe(id.hashAddress('2001:db8:7:1::/64'));
    expect(id.hashReporterNet('203.0.113.7')).toBe(id.hashAddress('203.0.113.7'));
    expect(id.hashReporterNet('2001:db8:7:1::/64')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('distinctReporters counts by reporterNet, by reporterAddr where a record has none', () => {
    const r = (reporterAnon: string, reporterAddr: string, reporterNet?: string): ReportRecord => ({ at: 0, reporterAnon, reporterAddr, reason: 'other', ...(reporterNet ? { reporterNet } : {}) });
    expect(distinctReporters([r('a', 'x1', 'n'), r('b', 'x2', 'n'), r('c', 'x3', 'n')])).toBe(1);
    expect(distinctReporters([r('a', 'x1', 'n1'), r('b', 'x2', 'n2'), r('c', 'x3', 'n3')])).toBe(3);
    // Old records (no reporterNet) still count by address.
    expect(distinctReporters([r('a', 'x1'), r('b', 'x2'), r('c', 'x3')])).toBe(3);
    expect(distinctReporters([r('a', 'x1'), r('b', 'x1'), r('c', 'x3', 'n3')])).toBe(2);
  });

  for (const kind of ['memory', 'redis'] as const) {
    it(`${kind}: three reporters from three /64s of one /48 ban nobody; from three /48s they do`, async () => {
      const store = kind === 'memory' ? new MemorySafetyStore() : await redisStore();
      const safety = safetyOver(store);
      const id = safety.identity;
      const reporterFrom = (n: number, net: string): Identity => ({
        anonId: `R${String(n).padStart(15, '0')}`, addressHash: id.hashAddress(`${net}:${n}::/64`), reporterNetHash: id.hashReporterNet(`${net}:${n}::/64`),
      });
      const target = (n: number): Identity => ({ anonId: `T${String(n).padStart(15, '0')}`, addressHash: id.hashAddress(`198.51.100.${n}`) });

      await safety.register('t1', target(1));
      for (let i = 1; i <= 3; i++) {
        expect((await safety.report({ reporter: reporterFrom(i, '2001:db8:7'), reporterSession: `r${i}`, reportedClientId: 't1', reason: 'nudity', inCallMs: 10_000 })).outcome).toBe('counted');
      }
      expect(await safety.bannedFor(target(1))).toBeNull();
      const listed = await safety.recentReports();
      expect(listed.find((x) => x.kind === 'anon')).toMatchObject({ total: 3, distinctReporters: 1 });

      await safety.register('t2', target(2));
      for (let i = 1; i <= 3; i++) {
        await safety.report({ reporter: reporterFrom(i, `2001:db8:${i}0`), reporterSession: `q${i}`, reportedClientId: 't2', reason: 'nudity', inCallMs: 10_000 });
      }
      expect(await safety.bannedFor(target(2))).toBeGreaterThan(HOUR - 10_000);
    });
  }

  it('through the server: three reporters from one IPv6 /48 count as one; two more from two other /48s make the three that ban', async () => {
    const s = await serve();
    const target = await from(s, '203.0.113.99');
    for (let i = 1; i <= 3; i++) await report(target, await from(s, `2001:db8:7:${i}::1`), 'nudity');
    expect(await joinOutcome(target)).toBeNull();
    await report(target, await from(s, '2001:db8:10:1::1'), 'nudity');
    expect(await joinOutcome(target)).toBeNull();
    await report(target, await from(s, '2001:db8:20:1::1'), 'nudity');
    expect(await joinOutcome(target)).toBeGreaterThan(HOUR - 10_000);
  });
});

// ------------------------------------------------------------ 3. the age verifier's outcomes

describe('age verifier outcomes', () => {
  let stub: http.Server;
  let base = '';
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // The path says what the stub answers.
    stub = http.createServer((req, res) => {
      const [, kind, arg] = (req.url ?? '/').split('/');
      req.resume();
      req.on('end', () => {
        if (kind === 'status') res.writeHead(Number(arg)).end();
        else if (kind === 'json') res.writeHead(200, { 'content-type': 'application/json' }).end(decodeURIComponent(arg!));
        else if (kind === 'redirect') res.writeHead(302, { location: '/json/%7B%22over18%22%3Atrue%7D' }).end();
        else if (kind === 'stall') { /* never answers */ }
        else if (kind === 'stall-body') { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{"over18":'); }
        else if (kind === 'hangup') req.socket.destroy();
      });
    });
    stub.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => stub.close(() => r()));
  });

  const json = (body: string) => `${base}/json/${encodeURIComponent(body)}`;

  it('admits only 200 {"over18":true}', async () => {
    expect(await verifyAge(json('{"over18":true}'), 'a')).toBe('over18');
  });

  it('an explicit no (200 {"over18":false}, or a 4xx) is refused', async () => {
    expect(await verifyAge(json('{"over18":false}'), 'a')).toBe('refused');
    for (const status of [400, 401, 403, 404, 410, 422]) expect(await verifyAge(`${base}/status/${status}`, 'a'), String(status)).toBe('refused');
  });

  it('an outage (5xx, 408, 429, a redirect, a body that is no verdict, a hang-up, no answer in time, nobody listening) is unavailable, never refused', async () => {
    for (const status of [500, 502, 503, 504, 408, 429, 204, 201]) expect(await verifyAge(`${base}/status/${status}`, 'a'), String(status)).toBe('unavailable');
    expect(await verifyAge(`${base}/redirect/`, 'a')).toBe('unavailable');
    for (const body of ['not json', '{}', '{"over18":"yes"}', 'null', '[]']) expect(await verifyAge(json(body), 'a'), body).toBe('unavailable');
    expect(await verifyAge(`${base}/hangup/`, 'a')).toBe('unavailable');
    const t0 = Date.now();
    expect(await verifyAge(`${base}/stall/`, 'a', 300)).toBe('unavailable');
    expect(await verifyAge(`${base}/stall-body/`, 'a', 300)).toBe('unavailable');
    expect(Date.now() - t0).toBeLessThan(3000);
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await verifyAge(`http://127.0.0.1:${port}/verify`, 'a')).toBe('unavailable');
  });

  it('through the server: an outage answers hello with CHZ_ERR_UNAVAILABLE and close 1013; the client core retries and is welcomed once the verifier answers', async () => {
    let outage = true;
    const flaky = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (outage) res.writeHead(503).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"over18":true}');
      });
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    try {
      const s = await serve({ ageVerifier: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/verify` });
      const raw = new TestClient(s.wsUrl);
      keep(raw);
      await new Promise((r) => raw.ws.once('open', r));
      raw.send({ type: 'hello', version: PROTOCOL_VERSION, ageAssertion: 'good' });
      expect((await raw.error('CHZ_ERR_UNAVAILABLE')).ref).toBe('hello');
      expect(await raw.closed).toBe(1013);
      const client = new SignalClient({ url: s.wsUrl, clientName: 'test', dial: wsDial({ handshakeTimeoutMs: 5000 }), retryFirstConnect: true, ageAssertion: 'good' });
      try {
        const welcomed = client.connect();
        setTimeout(() => { outage = false; }, 300);
        expect((await welcomed).type).toBe('welcome');
      } finally {
        await client.close();
      }
    } finally {
      flaky.closeAllConnections();
      await new Promise<void>((r) => flaky.close(() => r()));
    }
  });
});

// ------------------------------------------------------------ 4. the Redis-shared secret

describe('the shared secret after Redis lost its data', () => {
  /** Drops every normal client connection (the stores reconnect), sparing the admin's. */
  async function dropConnections(): Promise<void> {
    await redisAdmin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  }

  /** Waits until `store` answers again, then for its check of the secret after that reconnect. */
  async function reconnected(store: RedisSafetyStore): Promise<void> {
    await until('the store reconnected', () => store.reasonTotals().then(() => true, () => false));
    await store.secretChecked;
  }

  it('the first node back writes its secret again; a node started later gets the same one', async () => {
    const prefix = `{sec${++prefixes}}:`;
    const key = `${prefix}safety:secret`;
    const a = await redisStore({ prefix });
    const b = await redisStore({ prefix });
    expect(await a.sharedSecret('secret-of-node-a-000')).toBe('secret-of-node-a-000');
    expect(await b.sharedSecret('secret-of-node-b-000')).toBe('secret-of-node-a-000');
    await redisAdmin.flushall();
    await dropConnections();
    await until('the secret written back', async () => (await redisAdmin.get(key)) !== null);
    expect(await redisAdmin.get(key)).toBe('secret-of-node-a-000');
    const c = await redisStore({ prefix });
    expect(await c.sharedSecret('secret-of-node-c-000')).toBe('secret-of-node-a-000');
  });

  it('a node that finds another secret keeps its own and says so once', async () => {
    const prefix = `{sec${++prefixes}}:`;
    const { log, warns } = recordingLogger();
    const a = await redisStore({ prefix, log });
    expect(await a.sharedSecret('secret-of-node-a-111')).toBe('secret-of-node-a-111');
    await redisAdmin.flushall();
    // A node that starts while Redis is empty stores a fresh secret before node A is back.
    const late = await redisStore({ prefix });
    expect(await late.sharedSecret('secret-of-late-node-1')).toBe('secret-of-late-node-1');
    for (let i = 0; i < 2; i++) {
      await dropConnections();
      await reconnected(a);
    }
    expect(warns.filter((w) => /another shared safety secret/.test(w))).toHaveLength(1);
    expect(await redisAdmin.get(`${prefix}safety:secret`)).toBe('secret-of-late-node-1');
  });

  it('through servers: a token from node A is valid on a node started after Redis lost its data', async () => {
    const a = await serve({ redisUrl: redis.url, nodeTtlMs: 1500 });
    const token = tokenOf(await from(a, '198.51.100.7'));
    await redisAdmin.flushall();
    await dropConnections();
    await until('the secret written back', async () => (await redisAdmin.get('{chz}:safety:secret')) !== null);
    const c = await serve({ redisUrl: redis.url, nodeTtlMs: 1500 });
    expect(tokenOf(await from(c, '198.51.100.8', { token }))).toBe(token);
    // And node A still knows its own tokens.
    expect(tokenOf(await from(a, '198.51.100.9', { token }))).toBe(token);
    await redisAdmin.flushall();
  });
});

// ------------------------------------------------------------ 5. the bans index

describe('the bans index is trimmed when a ban is made', () => {
  it('an admin ban or a ban by reports drops ended bans from the index (at most 100 a time)', async () => {
    let now = 1_000_000_000;
    const prefix = `{bans${++prefixes}}:`;
    const index = `${prefix}safety:bans`;
    const store = await redisStore({ prefix, now: () => now });
    await store.banByAdmin({ kind: 'anon', id: 'old-one' }, 1000);
    await store.banByAdmin({ kind: 'anon', id: 'old-two' }, 2000);
    expect(await redisAdmin.zcard(index)).toBe(2);
    now += 5000;
    await store.banByAdmin({ kind: 'anon', id: 'new' }, HOUR);
    expect(await redisAdmin.zrange(index, 0, -1)).toEqual(['anon:new']);

    await store.banByAdmin({ kind: 'addr', id: 'short' }, 1000);
    now += 5000;
    const bans = await store.banByReports([{ kind: 'anon', id: 'p' }, { kind: 'addr', id: 'h' }], [HOUR], 30 * 24 * HOUR);
    expect(bans).not.toBeNull();
    expect((await redisAdmin.zrange(index, 0, -1)).sort()).toEqual(['addr:h', 'anon:new', 'anon:p']);

    // Bounded: 150 ended bans take two bans made to clear.
    for (let i = 0; i < 150; i++) await store.banByAdmin({ kind: 'anon', id: `x${i}` }, 1000);
    now += 5000;
    await store.banByAdmin({ kind: 'anon', id: 'y1' }, HOUR);
    expect(await redisAdmin.zcard(index)).toBe(3 + 50 + 1);
    await store.banByAdmin({ kind: 'anon', id: 'y2' }, HOUR);
    expect(await redisAdmin.zcard(index)).toBe(3 + 2);
  });
});

// ------------------------------------------------------------ 6a. the safety store down

describe('the safety store down', () => {
  it('Redis safety store, memory matchmaker: a report ends the call without a crash; join answers CHZ_ERR_UNAVAILABLE until Redis is back', async () => {
    const own = await startRedis();
    try {
      const s = await serve({ redisUrl: own.url }, { matchmaker: (o, l) => new MemoryMatchmaker(o, l) });
      const target = await from(s, '203.0.113.99');
      const reporter = await from(s, '203.0.113.1');
      const matchId = await meet(target, reporter);
      await own.stop();
      reporter.send({ type: 'report', matchId, reason: 'nudity' });
      // The call ends for both; the report could not be recorded, nor the reporter's ban checked.
      expect(await target.next('partner-left')).toMatchObject({ matchId });
      const e = await reporter.error('CHZ_ERR_UNAVAILABLE');
      expect(e.ref).toBe('report');
      await reporter.sync();
      expect(reporter.pending('queued')).toEqual([]);
      // Join fails closed (a ban cannot be checked) with the retryable CHZ_ERR_UNAVAILABLE.
      reporter.send({ type: 'join', hub: 'tamil' });
      expect((await reporter.error('CHZ_ERR_UNAVAILABLE')).ref).toBe('join');
      // A new client is still welcomed (its identity is registered at its first join).
      const late = await from(s, '203.0.113.2');
      late.send({ type: 'join', hub: 'tamil' });
      expect((await late.error('CHZ_ERR_UNAVAILABLE')).ref).toBe('join');
      // The server is alive and, with Redis back, joins work again.
      await own.restart();
      await until('join works again', async () => {
        late.send({ type: 'join', hub: 'tamil' });
        await late.sync();
        const queued = late.pending('queued').length > 0;
        late.received.splice(0);
        return queued;
      }, 10_000);
      expect(await metricValue(s, 'chatzyo_reports_total', 'reason="nudity"')).toBe(1);
    } finally {
      await own.stop();
    }
  });

  it('Redis for both (the default with --redis): a report answers CHZ_ERR_UNAVAILABLE without a crash, the server stays up; join answers CHZ_ERR_UNAVAILABLE', async () => {
    const own = await startRedis();
    try {
      const s = await serve({ redisUrl: own.url, nodeTtlMs: 1500 });
      const target = await from(s, '203.0.113.99');
      const reporter = await from(s, '203.0.113.1');
      const matchId = await meet(target, reporter);
      await own.stop();
      reporter.send({ type: 'report', matchId, reason: 'nudity' });
      // The match cannot be ended in Redis either: the reporter is told to retry; its client ends
      // the peer connection (the partner's sees it drop). The server itself stays up.
      expect((await reporter.error('CHZ_ERR_UNAVAILABLE')).ref).toBe('report');
      await reporter.sync();
      const late = await from(s, '203.0.113.2');
      late.send({ type: 'join', hub: 'tamil' });
      expect((await late.error('CHZ_ERR_UNAVAILABLE')).ref).toBe('join');
      const health = await fetch(`${s.url}/healthz`);
      expect(health.status).toBe(503);
    } finally {
      await own.stop();
    }
  });
});

async function metricValue(server: SignalServer, name: string, labels: string): Promise<number> {
  const text = await server.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

// ------------------------------------------------------------ 6b. escalation with Redis

describe('escalation past the first ban, with Redis', () => {
  // The servers share the file's redis-server: start from nothing (no bans, strikes or secret).
  beforeEach(async () => { await redisAdmin.flushall(); });

  it('three distinct reporters ban for the first duration; once it ended, three more ban for the second', async () => {
    const s = await serve({ redisUrl: redis.url, nodeTtlMs: 1500, banDurationsMs: [1500, HOUR, 7 * 24 * HOUR] });
    const target = await from(s, '203.0.113.99');
    const reasons: ReportReason[] = ['nudity', 'harassment', 'minor'];
    for (let i = 0; i < 3; i++) await report(target, await from(s, `203.0.113.${i + 1}`), reasons[i]);
    const first = await joinOutcome(target);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(1500);
    const bans = (await (await admin(s, 'bans')).json()) as { bans: { level: number }[] };
    expect(bans.bans.map((b) => b.level)).toEqual([1, 1]);
    await new Promise((r) => setTimeout(r, (first ?? 0) + 50));
    expect(await joinOutcome(target)).toBeNull();
    for (let i = 0; i < 3; i++) await report(target, await from(s, `203.0.113.${i + 11}`), 'spam');
    const second = await joinOutcome(target);
    expect(second).toBeGreaterThan(HOUR - 10_000);
    expect(second).toBeLessThanOrEqual(HOUR);
    const again = (await (await admin(s, 'bans')).json()) as { bans: { level: number }[] };
    expect(again.bans.map((b) => b.level)).toEqual([2, 2]);
  });

  it('after an admin unban, three more distinct reporters ban for the second duration', async () => {
    const s = await serve({ redisUrl: redis.url, nodeTtlMs: 1500 });
    const target = await from(s, '203.0.113.98');
    for (let i = 0; i < 3; i++) await report(target, await from(s, `198.51.100.${i + 1}`), 'nudity');
    expect(await joinOutcome(target)).toBeGreaterThan(HOUR - 10_000);
    const anonId = tokenOf(target).split('.')[1]!;
    const bans = (await (await admin(s, 'bans')).json()) as { bans: { subject: { kind: string; id: string } }[] };
    const mine = bans.bans.filter((b) => b.subject.kind === 'addr' || b.subject.id === anonId);
    for (const b of mine) {
      const body = b.subject.kind === 'anon' ? { anonId: b.subject.id } : { addressHash: b.subject.id };
      expect(await (await admin(s, 'unban', body)).json()).toEqual({ unbanned: true });
    }
    expect(await joinOutcome(target)).toBeNull();
    for (let i = 0; i < 3; i++) await report(target, await from(s, `198.51.100.${i + 11}`), 'nudity');
    const second = await joinOutcome(target);
    expect(second).toBeGreaterThan(24 * HOUR - 10_000);
    expect(second).toBeLessThanOrEqual(24 * HOUR);
  });
});
