// Reports that lead somewhere (issue 16): anonymous tokens, reports counted per reason, bans by
// distinct reporters only, escalation, the admin API, the age verifier hook, and bans over two
// Redis nodes. Real servers on port 0; clients come "from" different addresses through
// X-Forwarded-For behind one trusted proxy (--trust-proxy 1).
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { PROTOCOL_VERSION, parseClientFrame } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import type { SignalServerOptions } from '../../src/signal/options.js';
import { distinctReporters, MemorySafetyStore, type ReportRecord } from '../../src/signal/safety-store.js';
import { AnonIdentity } from '../../src/signal/anon-identity.js';
import { runConnect } from '../../src/cli/connect.js';
import { readToken } from '../../src/cli/token-store.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { joinOutcome, meet, report, SAFETY_ADMIN, tokenOf, useSafetyClients } from '../helpers/safety-clients.js';
import { TestClient } from '../helpers/ws-client.js';

const ADMIN = SAFETY_ADMIN;
const HOUR = 3_600_000;

const { serve, from, keep } = useSafetyClients();

async function metric(server: SignalServer, name: string, labels: string): Promise<number> {
  const text = await server.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

function admin(server: SignalServer, route: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
  return fetch(`${server.url}/api/admin/${route}`, {
    method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

describe('anonymous identity', () => {
  it('welcome brings a token; a hello with it keeps the same one, a forged one gets a fresh one', async () => {
    const s = await serve();
    const a = await from(s, '198.51.100.1');
    const token = tokenOf(a);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}$/);
    const again = await from(s, '198.51.100.1', { token });
    expect(tokenOf(again)).toBe(token);
    const forged = `${token.slice(0, -2)}AA` === token ? `${token.slice(0, -2)}BB` : `${token.slice(0, -2)}AA`;
    const other = await from(s, '198.51.100.1', { token: forged });
    expect(tokenOf(other)).not.toBe(token);
    expect(tokenOf(other)).not.toBe(forged);
    // The default screening mode is announced; no age verifier unless configured.
    const w = JSON.parse(a.raw[0]!) as Record<string, unknown>;
    expect(w.screening).toBe('blur-until-safe');
    expect(w.ageVerifier).toBeUndefined();
  });

  it('tokens and address hashes depend only on the secret', () => {
    const one = new AnonIdentity('secret-secret-secret');
    const two = new AnonIdentity('secret-secret-secret');
    const { anonId, token } = one.mint();
    expect(two.verify(token)).toBe(anonId);
    expect(new AnonIdentity('another-secret-value').verify(token)).toBeNull();
    expect(one.hashAddress('203.0.113.7')).toBe(two.hashAddress('203.0.113.7'));
    expect(one.hashAddress('203.0.113.7')).not.toContain('203');
  });

  it('a report reason is one of the list: free text is CHZ_ERR_BAD_MESSAGE', () => {
    const free = parseClientFrame(JSON.stringify({ type: 'report', matchId: 'Zr2x0n1L4qTz9bQk', reason: 'he was rude' }), 100, 65536);
    expect(free).toMatchObject({ ok: false, code: 'CHZ_ERR_BAD_MESSAGE' });
    const none = parseClientFrame(JSON.stringify({ type: 'report', matchId: 'Zr2x0n1L4qTz9bQk' }), 100, 65536);
    expect(none).toMatchObject({ ok: false, code: 'CHZ_ERR_BAD_MESSAGE' });
  });
});

describe('reports and bans (one node)', () => {
  it('three distinct reporters ban the person (token and address); reasons are counted; an unban and three more escalate to 24 h', async () => {
    const s = await serve();
    const target = await from(s, '203.0.113.99');
    const reasons = ['nudity', 'harassment', 'nudity'];
    for (let i = 0; i < 3; i++) {
      expect(await joinOutcome(target), `banned before report ${i + 1}`).toBeNull();
      await report(target, await from(s, `203.0.113.${i + 1}`), reasons[i]);
    }
    const wait = await joinOutcome(target);
    expect(wait).toBeGreaterThan(HOUR - 10_000);
    expect(wait).toBeLessThanOrEqual(HOUR);
    for (const ref of ['private-create', 'private-join']) {
      target.send(ref === 'private-create' ? { type: ref } : { type: ref, code: 'A'.repeat(22) });
      expect((await target.error('CHZ_ERR_BANNED')).ref).toBe(ref);
    }
    expect(await metric(s, 'chatzyo_reports_total', 'reason="nudity"')).toBe(2);
    expect(await metric(s, 'chatzyo_reports_total', 'reason="harassment"')).toBe(1);
    expect(await metric(s, 'chatzyo_reports_total', 'reason="minor"')).toBe(0);
    expect(await metric(s, 'chatzyo_bans_total', 'by="reports"')).toBe(1);

    // The same token from another address is banned, and so is a fresh token from the same address.
    const token = tokenOf(target);
    expect(await joinOutcome(await from(s, '192.0.2.200', { token }))).toBeGreaterThan(0);
    expect(await joinOutcome(await from(s, '203.0.113.99'))).toBeGreaterThan(0);

    // The admin sees the reports and the bans, lifts both bans; three more reports ban for 24 h.
    const bans = (await (await admin(s, 'bans')).json()) as { bans: { subject: { kind: string; id: string }; level: number }[] };
    expect(bans.bans.map((b) => b.subject.kind).sort()).toEqual(['addr', 'anon']);
    expect(bans.bans.every((b) => b.level === 1)).toBe(true);
    for (const b of bans.bans) {
      const body = b.subject.kind === 'anon' ? { anonId: b.subject.id } : { addressHash: b.subject.id };
      expect(await (await admin(s, 'unban', { method: 'POST', body })).json()).toEqual({ unbanned: true });
    }
    expect(await joinOutcome(target)).toBeNull();
    for (let i = 0; i < 3; i++) await report(target, await from(s, `203.0.113.${i + 11}`), 'spam');
    const second = await joinOutcome(target);
    expect(second).toBeGreaterThan(24 * HOUR - 10_000);
    expect(second).toBeLessThanOrEqual(24 * HOUR);
  });

  it('a client banned while in a call meets nobody new: Next ends the call and answers CHZ_ERR_BANNED', async () => {
    const s = await serve();
    const target = await from(s, '203.0.113.50');
    const partner = await from(s, '203.0.113.51');
    const matchId = await meet(target, partner);
    const anonId = tokenOf(target).split('.')[1]!;
    expect((await admin(s, 'ban', { method: 'POST', body: { anonId, durationMs: HOUR } })).status).toBe(200);
    target.send({ type: 'next' });
    const e = await target.error('CHZ_ERR_BANNED');
    expect(e.ref).toBe('next');
    expect(e.retryAfterMs).toBeGreaterThan(HOUR - 10_000);
    expect(await partner.next('partner-left')).toMatchObject({ matchId });
    await target.sync();
    expect(target.pending('queued')).toEqual([]);
  });

  it('one reporter reporting again and again bans nobody, and past its quota gets CHZ_ERR_REPORT_RATE_LIMITED', async () => {
    const s = await serve({ maxReports: 3 });
    const target = await from(s, '203.0.113.99');
    // One person: the same token and address, on a new connection each time (a reporter never
    // meets the one they reported again on the same connection).
    const first = await from(s, '203.0.113.1');
    const token = tokenOf(first);
    await report(target, first, 'harassment');
    for (let i = 0; i < 2; i++) await report(target, await from(s, '203.0.113.1', { token }), 'harassment');
    expect(await joinOutcome(target)).toBeNull();
    // The fourth: the match still ends and the reporter is re-queued, but the report is not counted.
    const reporter = await from(s, '203.0.113.1', { token });
    const matchId = await meet(target, reporter);
    reporter.send({ type: 'report', matchId, reason: 'harassment' });
    await target.next('partner-left');
    const e = await reporter.error('CHZ_ERR_REPORT_RATE_LIMITED');
    expect(e.retryAfterMs).toBeGreaterThan(0);
    await reporter.next('queued');
    expect(await metric(s, 'chatzyo_report_outcomes_total', 'outcome="rate-limited"')).toBe(1);
    expect(await metric(s, 'chatzyo_report_outcomes_total', 'outcome="counted"')).toBe(3);
    expect(await metric(s, 'chatzyo_bans_total', 'by="reports"')).toBe(0);
  });

  it('many reporters from one address (fresh tokens each) ban nobody', async () => {
    const s = await serve();
    const target = await from(s, '203.0.113.99');
    for (let i = 0; i < 4; i++) await report(target, await from(s, '203.0.113.50'), 'nudity');
    expect(await joinOutcome(target)).toBeNull();
    const listed = (await (await admin(s, 'reports')).json()) as { reported: { kind: string; total: number; distinctReporters: number; byReason: Record<string, number> }[] };
    const anon = listed.reported.find((r) => r.kind === 'anon')!;
    expect(anon).toMatchObject({ total: 4, distinctReporters: 1, byReason: { nudity: 4 } });
  });

  it('a report from a call shorter than --report-min-call is not counted', async () => {
    const s = await serve({ reportMinCallMs: 60_000 });
    const target = await from(s, '203.0.113.99');
    for (let i = 0; i < 3; i++) await report(target, await from(s, `203.0.113.${i + 1}`), 'spam');
    expect(await joinOutcome(target)).toBeNull();
    expect(await metric(s, 'chatzyo_report_outcomes_total', 'outcome="too-short"')).toBe(3);
    expect(await metric(s, 'chatzyo_reports_total', 'reason="spam"')).toBe(3);
  });

  it('distinct reporters differ in token and address; bans escalate 1 h, 24 h, 7 d and stay at 7 d', async () => {
    const r = (reporterAnon: string, reporterAddr: string, at = 0): ReportRecord => ({ at, reporterAnon, reporterAddr, reason: 'other' });
    expect(distinctReporters([r('a', 'x'), r('b', 'x'), r('c', 'x')])).toBe(1);
    expect(distinctReporters([r('a', 'x'), r('a', 'y'), r('a', 'z')])).toBe(1);
    expect(distinctReporters([r('a', 'x'), r('b', 'y'), r('c', 'z')])).toBe(3);
    let now = 1_000_000;
    const store = new MemorySafetyStore(() => now);
    const who = [{ kind: 'anon' as const, id: 'p' }, { kind: 'addr' as const, id: 'h' }];
    const durations = [HOUR, 24 * HOUR, 7 * 24 * HOUR];
    const lengths: number[] = [];
    for (let i = 0; i < 4; i++) {
      const bans = await store.banByReports(who, durations, 30 * 24 * HOUR);
      expect(bans).not.toBeNull();
      expect(await store.banByReports(who, durations, 30 * 24 * HOUR)).toBeNull(); // banned already: no second ban
      lengths.push(bans![0]!.until - now);
      now = bans![0]!.until + 1;
    }
    expect(lengths).toEqual([HOUR, 24 * HOUR, 7 * 24 * HOUR, 7 * 24 * HOUR]);
  });
});

describe('admin API', () => {
  it('a weak token or secret, one reporter enough to ban, or no ban durations stop the server at start', async () => {
    const cases: [Partial<SignalServerOptions>, RegExp][] = [
      [{ adminToken: 'short' }, /--admin-token must be at least 16/],
      [{ safetySecret: 'short' }, /--safety-secret must be at least 16/],
      [{ banAfterReports: 1 }, /--ban-after-reports must be 2 or more/],
      [{ banDurationsMs: [] }, /--ban-durations needs at least one/],
      [{ ageVerifier: 'ftp://x' }, /--age-verifier must be an http/],
    ];
    for (const [opts, why] of cases) {
      await expect(startServer(opts), why.source).rejects.toMatchObject({ code: 'CHZ_ERR_CONFIG', message: expect.stringMatching(why) });
    }
  });

  it('does not exist without --admin-token', async () => {
    const s = await serve({ adminToken: undefined });
    expect((await admin(s, 'reports')).status).toBe(404);
    expect((await admin(s, 'ban', { method: 'POST', body: { anonId: 'A'.repeat(16), durationMs: HOUR } })).status).toBe(404);
  });

  it('refuses a missing or wrong token; with the right one bans, unbans and exports', async () => {
    const s = await serve();
    expect((await admin(s, 'reports', { token: null })).status).toBe(401);
    expect((await admin(s, 'reports', { token: `${ADMIN}x` })).status).toBe(401);
    expect((await admin(s, 'export', { token: 'short' })).status).toBe(401);
    expect((await admin(s, 'ban', { method: 'POST', token: 'nope', body: { anonId: 'A'.repeat(16), durationMs: HOUR } })).status).toBe(401);

    const target = await from(s, '203.0.113.99');
    const anonId = tokenOf(target).split('.')[1]!;
    expect((await admin(s, 'ban', { method: 'POST', body: { anonId, addressHash: 'ab'.repeat(8), durationMs: HOUR } })).status).toBe(400);
    expect((await admin(s, 'ban', { method: 'POST', body: { anonId, durationMs: -5 } })).status).toBe(400);
    expect((await admin(s, 'ban')).status).toBe(405);
    const banned = await admin(s, 'ban', { method: 'POST', body: { anonId, durationMs: 2 * HOUR } });
    expect(banned.status).toBe(200);
    expect(((await banned.json()) as { ban: { by: string } }).ban.by).toBe('admin');
    expect(await joinOutcome(target)).toBeGreaterThan(2 * HOUR - 10_000);
    expect(await (await admin(s, 'unban', { method: 'POST', body: { anonId } })).json()).toEqual({ unbanned: true });
    expect(await joinOutcome(target)).toBeNull();

    await report(target, await from(s, '203.0.113.1'), 'minor');
    const exp = await admin(s, 'export');
    expect(exp.headers.get('cache-control')).toBe('no-store');
    const body = (await exp.json()) as { reasons: Record<string, number>; reported: unknown[]; bans: unknown[] };
    expect(body.reasons).toEqual({ nudity: 0, harassment: 0, minor: 1, spam: 0, other: 0 });
    expect(body.reported).toHaveLength(2);
    expect(body.bans).toEqual([]);
  });
});

describe('age verifier hook', () => {
  let stub: http.Server;
  let stubUrl = '';
  beforeAll(async () => {
    // A stub provider: "good" is over 18, "young" is not, anything else is not a valid assertion.
    stub = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const { assertion } = JSON.parse(body) as { assertion: string };
        if (req.method !== 'POST') res.writeHead(405).end();
        else if (assertion === 'good' || assertion === 'young') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ over18: assertion === 'good' }));
        else res.writeHead(403).end();
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/verify`;
  });
  afterAll(() => new Promise<void>((r) => stub.close(() => r())));

  async function refused(server: SignalServer, hello: Record<string, unknown>): Promise<string> {
    const c = new TestClient(server.wsUrl);
    keep(c);
    await withTimeout(new Promise((r) => c.ws.once('open', r)), 5000, 'open');
    c.send({ type: 'hello', version: PROTOCOL_VERSION, ...hello });
    const e = await c.error('CHZ_ERR_AGE_REQUIRED');
    expect(await withTimeout(c.closed, 5000, 'close 4007')).toBe(4007);
    return e.message;
  }

  it('admits an assertion the verifier accepts and refuses the rest with close 4007', async () => {
    const s = await serve({ ageVerifier: stubUrl });
    expect(await refused(s, {})).toContain(`needs an over-18 assertion from its age verifier (${stubUrl})`);
    expect(await refused(s, { ageAssertion: 'young' })).toMatch(/did not accept/);
    expect(await refused(s, { ageAssertion: 'forged' })).toMatch(/did not accept/);
    const ok = await from(s, '203.0.113.5', { ageAssertion: 'good' });
    expect((JSON.parse(ok.raw[0]!) as { ageVerifier?: string }).ageVerifier).toBe(stubUrl);
  });

  it('a verifier that cannot be reached admits nobody, with the retryable CHZ_ERR_UNAVAILABLE and close 1013, not CHZ_ERR_AGE_REQUIRED', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/verify`;
    await new Promise<void>((r) => closed.close(() => r()));
    const s = await serve({ ageVerifier: url });
    const c = new TestClient(s.wsUrl);
    keep(c);
    await withTimeout(new Promise((r) => c.ws.once('open', r)), 5000, 'open');
    c.send({ type: 'hello', version: PROTOCOL_VERSION, ageAssertion: 'good' });
    const e = await c.error('CHZ_ERR_UNAVAILABLE');
    expect(e.ref).toBe('hello');
    expect(e.message).toMatch(/could not be reached/);
    expect(await withTimeout(c.closed, 5000, 'close 1013')).toBe(1013);
    expect(c.pending('error')).toEqual([]);
  });
});

describe('chatzyo connect keeps its token', () => {
  it('stores the token in --cache-dir and presents it on the next run', async () => {
    const s = await serve();
    const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-tokens-'));
    try {
      const run = () => runConnect(
        { server: s.url, room: 'tamil', video: false, audio: false, codec: 'vp8', width: 320, height: 240, fps: 15, videoBitrate: 300, audioBitrate: 32, keyframeInterval: 1, json: true, cacheDir: dir },
        { out: new PassThrough(), err: new PassThrough(), tty: false },
        // Each run ends once it waits in the queue (after its welcome, whose token it stored).
        { signals: false, env: {}, onSession: (session) => { session.on('queued', () => void session.close('closed')); } },
      );
      await withTimeout(run(), 10_000, 'first connect run');
      const first = readToken(dir, s.url);
      expect(first).toMatch(/^v1\./);
      expect(readFileSync(path.join(dir, 'tokens.json'), 'utf8')).toContain(first);
      await withTimeout(run(), 10_000, 'second connect run');
      // A run without the stored token would have been given (and stored) a fresh one.
      expect(readToken(dir, s.url)).toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('chatzyo connect reports', () => {
  it('/report REASON reports the partner (the server counts it), and a bare /report says the reasons', async () => {
    const s = await serve();
    const partner = await from(s, '203.0.113.60');
    partner.send({ type: 'join', hub: 'tamil' });
    await partner.next('queued');
    const stdin = new PassThrough();
    const out = new PassThrough();
    let printed = '';
    out.on('data', (d: Buffer) => { printed += d.toString(); });
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'chatzyo-tokens-'));
    onTestFinished(() => rmSync(cacheDir, { recursive: true, force: true }));
    const run = runConnect(
      { server: s.url, room: 'tamil', video: false, audio: false, codec: 'vp8', width: 320, height: 240, fps: 15, videoBitrate: 300, audioBitrate: 32, keyframeInterval: 1, json: true, cacheDir },
      { in: stdin, out, err: new PassThrough(), tty: false },
      {
        signals: false, env: {}, onSession: (session) => {
          session.on('matched', () => { stdin.write('/report\n/report spam\n'); });
          session.on('reported', () => void session.close('closed'));
        },
      },
    );
    await partner.next('matched');
    const left = await partner.next('partner-left');
    expect(left.reason).toBe('next');
    await withTimeout(run, 10_000, 'connect ends after its report');
    const events = printed.trim().split('\n').map((l) => JSON.parse(l) as { event: string; message?: string; reason?: string });
    expect(events.find((e) => e.event === 'warning')?.message).toMatch(/\/report nudity\|harassment\|minor\|spam\|other/);
    expect(events.find((e) => e.event === 'reported')?.reason).toBe('spam');
    await until(async () => (await metric(s, 'chatzyo_reports_total', 'reason="spam"')) === 1, 5000, 'the server counts the report');
  });
});

describe('bans over two Redis nodes', () => {
  let redis: RedisServer;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });

  it('nodes share the secret; reports made on node A ban a client of node B; an admin ban on A holds on B at once', async () => {
    const a = await serve({ redisUrl: redis.url, nodeTtlMs: 1500 });
    const b = await serve({ redisUrl: redis.url, nodeTtlMs: 1500 });
    const target = await from(b, '203.0.113.99');
    // A token minted by node B is valid on node A (one deployment secret, kept in Redis).
    const token = tokenOf(target);
    expect(tokenOf(await from(a, '198.51.100.7', { token }))).toBe(token);

    for (let i = 0; i < 3; i++) await report(target, await from(a, `203.0.113.${i + 1}`), 'harassment');
    expect(await joinOutcome(target)).toBeGreaterThan(HOUR - 10_000);
    const onA = await from(a, '192.0.2.1', { token });
    expect(await joinOutcome(onA)).toBeGreaterThan(HOUR - 10_000);

    // An admin ban through node A, enforced by node B within a second.
    const other = await from(b, '203.0.113.77');
    const anonId = tokenOf(other).split('.')[1]!;
    expect(await joinOutcome(other)).toBeNull();
    const t0 = Date.now();
    expect((await admin(a, 'ban', { method: 'POST', body: { anonId, durationMs: HOUR } })).status).toBe(200);
    expect(await joinOutcome(other)).toBeGreaterThan(HOUR - 10_000);
    expect(Date.now() - t0).toBeLessThan(1000);
    // Node B's admin API sees the bans made through A and by reports.
    const listed = (await (await admin(b, 'bans')).json()) as { bans: unknown[] };
    expect(listed.bans).toHaveLength(3);
    // Report counts are cluster-wide in the export.
    const exported = (await (await admin(b, 'export')).json()) as { reasons: Record<string, number> };
    expect(exported.reasons.harassment).toBe(3);
  });
});

describe.each(['memory', 'redis'] as const)('after a report (%s)', (store) => {
  let redis: RedisServer | undefined;
  beforeAll(async () => { if (store === 'redis') redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });
  /** Two nodes over one Redis, or one node twice (the memory store has one node). */
  async function nodes(): Promise<[SignalServer, SignalServer]> {
    if (!redis) { const s = await serve(); return [s, s]; }
    return [await serve({ redisUrl: redis.url, nodeTtlMs: 1500 }), await serve({ redisUrl: redis.url, nodeTtlMs: 1500 })];
  }

  it('the reporter never meets the reported stranger again, though nobody else waits', async () => {
    const [a, b] = await nodes();
    const target = await from(a, '203.0.113.99');
    const reporter = await from(b, '203.0.113.1');
    const matchId = await meet(target, reporter);
    reporter.send({ type: 'report', matchId, reason: 'harassment' });
    await target.next('partner-left');
    await reporter.next('queued');
    // Both wait in the same hub and no rematch cooldown is set: without the block they would
    // be paired the moment the target joins again.
    target.send({ type: 'join', hub: 'tamil' });
    await target.next('queued');
    await Promise.all([target.sync(), reporter.sync()]);
    expect(target.pending('matched')).toEqual([]);
    expect(reporter.pending('matched')).toEqual([]);
    // Anyone else is still met at once.
    const other = await from(a, '203.0.113.2');
    other.send({ type: 'join', hub: 'tamil' });
    await other.next('matched');
  });

  it('the stranger who disconnected at once can still be reported, once', async () => {
    const [a, b] = await nodes();
    const target = await from(a, '203.0.113.98');
    const reporter = await from(b, '203.0.113.3');
    const matchId = await meet(target, reporter);
    // The stranger shows something and disconnects at once.
    await target.close();
    await reporter.next('partner-left');
    reporter.send({ type: 'report', matchId, reason: 'nudity', ended: true });
    await reporter.sync();
    expect(reporter.pending('error')).toEqual([]);
    await until(async () => (await metric(b, 'chatzyo_report_outcomes_total', 'outcome="counted"')) === 1, 5000, 'the late report is counted');
    // Once per match; an unknown match is refused.
    reporter.send({ type: 'report', matchId, reason: 'nudity', ended: true });
    expect((await reporter.error('CHZ_ERR_STALE_MATCH')).message).toMatch(/already reported/);
    reporter.send({ type: 'report', matchId: 'x'.repeat(16), reason: 'nudity', ended: true });
    await reporter.error('CHZ_ERR_STALE_MATCH');
    expect(await metric(b, 'chatzyo_reports_total', 'reason="nudity"')).toBe(1);
  });

  it('a report that crosses the partner leaving counts, and is answered so the reporter joins again', async () => {
    const [a, b] = await nodes();
    const target = await from(a, '203.0.113.96');
    const reporter = await from(b, '203.0.113.5');
    const matchId = await meet(target, reporter);
    // The partner's Next reaches the server first; the report was sent for the call the reporter
    // thought current (no \`ended\`), and the reporter expects to be queued again.
    target.send({ type: 'next' });
    await target.next('queued');
    await reporter.next('partner-left');
    reporter.send({ type: 'report', matchId, reason: 'harassment' });
    const e = await reporter.error('CHZ_ERR_NOT_MATCHED');
    expect(e.ref).toBe('report');
    await until(async () => (await metric(b, 'chatzyo_report_outcomes_total', 'outcome="counted"')) === 1, 5000, 'the crossed report is counted');
    // As after a crossed Next, the client joins: it is queued, and not with the one it reported.
    reporter.send({ type: 'join', hub: 'tamil' });
    await reporter.next('queued');
    await Promise.all([target.sync(), reporter.sync()]);
    expect(reporter.pending('matched')).toEqual([]);
  });

  it('a late report keeps the two apart when both look for someone again', async () => {
    const [a, b] = await nodes();
    const target = await from(a, '203.0.113.97');
    const reporter = await from(b, '203.0.113.4');
    const matchId = await meet(target, reporter);
    target.send({ type: 'leave' });
    await reporter.next('partner-left');
    reporter.send({ type: 'report', matchId, reason: 'spam', ended: true });
    await reporter.sync();
    expect(reporter.pending('error')).toEqual([]);
    reporter.send({ type: 'join', hub: 'tamil' });
    await reporter.next('queued');
    target.send({ type: 'join', hub: 'tamil' });
    await target.next('queued');
    await Promise.all([target.sync(), reporter.sync()]);
    expect(reporter.pending('matched')).toEqual([]);
  });
});
