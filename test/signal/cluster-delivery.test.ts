// Cross-node delivery through per-node Redis Streams: nothing lost, nothing duplicated, across
// dropped reader connections, dropped command connections, a Redis pause and a node restart.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import type { RedisMatchmaker } from '../../src/signal/redis-matchmaker.js';
import { END_MATCH } from '../../src/signal/redis-scripts.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');
const FAST = { messagesPerSecond: 1e6, bytesPerSecond: 1e9, maxErrors: 1e9, maxConnectionsPerAddress: 10_000 };
let redis: RedisServer;
let admin: Redis;
let nodes: SignalServer[] = [];
let clients: TestClient[] = [];
let children: ChildProcess[] = [];
let proxies: net.Server[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  admin.on('error', () => { /* the pause test stalls it on purpose */ });
  await admin.connect();
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});
beforeEach(async () => { await redis.flush(); });
afterEach(async () => {
  try { redis.proc.kill('SIGCONT'); } catch { /* not running */ }
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all(nodes.map((n) => n.close()));
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(proxies.map((p) => new Promise((r) => p.close(r))));
  proxies = [];
  clients = [];
  nodes = [];
  children = [];
});

async function node(nodeId: string, opts: Parameters<typeof startServer>[0] = {}): Promise<SignalServer> {
  const n = await startServer({ redisUrl: redis.url, nodeId, nodeTtlMs: 2000, logLevel: process.env.DBG ? 'debug' : 'silent', ...FAST, ...opts });
  nodes.push(n);
  return n;
}
async function client(url: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  clients.push(c);
  return c;
}

/** x (on url1) and y (on url2) matched; returns both and the match id. */
async function crossPair(url1: string, url2: string, hub = 'tamil'): Promise<{ x: TestClient; y: TestClient; mid: string }> {
  const x = await client(url1);
  const y = await client(url2);
  x.send({ type: 'join', hub });
  await x.next('queued');
  y.send({ type: 'join', hub });
  const mx = await x.next('matched');
  const my = await y.next('matched');
  expect(my.matchId).toBe(mx.matchId);
  return { x, y, mid: mx.matchId };
}

function candidate(i: number) { return { kind: 'candidate', candidate: { candidate: `n${i}` } } as const; }
/** The numbers of the candidates `c` received, in arrival order. */
function numbers(c: TestClient): number[] {
  return c.pending('signal').map((m) => Number((m.data as { candidate: { candidate: string } }).candidate.candidate.slice(1)));
}

/** CLIENT KILLs the connection named `name` (a node's stream reader); resolves with how many were killed. */
async function killByName(name: string): Promise<number> {
  const list = await admin.client('LIST') as string;
  const ids = list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /\bid=(\d+)/.exec(l)![1]!);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** A node in its own process with a fixed id (it can be SIGKILLed and restarted as the same node). */
async function childNode(nodeId: string, ttl: number): Promise<{ url: string; wsUrl: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--no-stun', '--json', '--log-level', 'silent',
    '--redis', redis.url, '--node-id', nodeId, '--node-ttl', String(ttl), '--max-messages-per-second', '100000', '--max-connections-per-address', '10000'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const line = await withTimeout(new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); });
    proc.once('exit', (c) => reject(new Error(`node ${nodeId} exited ${c}`)));
  }), 20_000, `child node ${nodeId} listening`);
  const url = JSON.parse(line).url as string;
  return { url, wsUrl: url.replace('http', 'ws') + '/ws', proc };
}

/**
 * A TCP proxy in front of Redis that can hold back every reply on a node's command connection
 * (order kept), while its stream reader (named chatzyo:reader:*) is passed at once: a node's
 * replies then reach it after what other nodes sent it through its stream since, as on a node
 * whose event loop lags. Replies pass at once until `hold(ms)` (so the node starts quickly);
 * `holdRequests(ms)` holds the commands on the way to Redis the same way (so a command reaches
 * Redis after what other nodes did meanwhile); `dropCommands()` cuts every connection but the
 * reader (the node reconnects, through the proxy, with the delays in force).
 */
async function slowRepliesProxy(): Promise<{ url: string; hold(ms: number): void; holdRequests(ms: number): void; dropCommands(): number }> {
  const target = new URL(redis.url);
  let delayMs = 0;
  let requestDelayMs = 0;
  const commands = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port), target.hostname);
    let reader: boolean | null = null;
    inbound.on('data', (d) => {
      if (reader === null) {
        reader = d.toString('latin1').includes('chatzyo:reader:');
        if (!reader) commands.add(inbound);
      }
      // Only ever raised, so a request never overtakes one held before it.
      if (reader || requestDelayMs === 0) outbound.write(d);
      else setTimeout(() => { if (!outbound.destroyed) outbound.write(d); }, requestDelayMs);
    });
    // Only ever raised, so a reply never overtakes one held before it.
    outbound.on('data', (d) => {
      if (reader || delayMs === 0) inbound.write(d);
      else setTimeout(() => { if (!inbound.destroyed) inbound.write(d); }, delayMs);
    });
    const end = () => { commands.delete(inbound); inbound.destroy(); outbound.destroy(); };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  proxies.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hold: (ms) => { delayMs = Math.max(delayMs, ms); },
    holdRequests: (ms) => { requestDelayMs = Math.max(requestDelayMs, ms); },
    dropCommands: () => {
      const n = commands.size;
      for (const s of [...commands]) s.destroy();
      return n;
    },
  };
}

describe('cross-node delivery through per-node streams', () => {
  it('a match reaches a waiting client before its own node has the answer to its join: the match stands (its partner is not told partner-left) and signals flow both ways', async () => {
    // Seen in the soak on nodes stalled by garbage collection: the join's "queued" answer came
    // after the "matched" another node had sent through the stream, and the node took the new
    // match for one Redis had lost, ended it, and told the partner it left.
    const proxy = await slowRepliesProxy();
    const a = await node('a', { redisUrl: proxy.url });
    const b = await node('b');
    proxy.hold(1500);
    const x = await client(a.wsUrl);
    const y = await client(b.wsUrl);
    x.send({ type: 'join', hub: 'tamil' });
    // x is in the queue in Redis long before node a hears so.
    await until(async () => (await admin.lrange('{chz}:q:tamil', 0, -1)).length === 1, 2000, 'x queued in Redis');
    y.send({ type: 'join', hub: 'tamil' });
    const mx = await x.next('matched');
    const my = await y.next('matched');
    expect(my.matchId).toBe(mx.matchId);
    x.send({ type: 'signal', matchId: mx.matchId, data: candidate(1) });
    expect((await y.next('signal')).data).toEqual(candidate(1));
    y.send({ type: 'signal', matchId: my.matchId, data: candidate(2) });
    expect((await x.next('signal')).data).toEqual(candidate(2));
    await Promise.all([x.sync(), y.sync()]);
    expect(y.pending('partner-left')).toEqual([]);
    expect(x.pending('error')).toEqual([]);
    expect(x.pending('queued')).toEqual([]);
    await (b.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('a waiting client re-queued after its node\'s Redis connection came back, matched by another node while the re-queue was on its way: it hears partner-left for that match (which the re-queue ended) before its next matched', async () => {
    // Seen in the soak ("a bot was matched while still in a match"): the re-queue's answer
    // reported the match it had ended, the node forgot it, told the partner, and not the client.
    const proxy = await slowRepliesProxy();
    const a = await node('a', { redisUrl: proxy.url, nodeTtlMs: 20_000 });
    const b = await node('b', { nodeTtlMs: 20_000 });
    const x = await client(a.wsUrl);
    x.send({ type: 'join', hub: 'tamil' });
    await x.next('queued');
    // Node a's command connection drops and comes back slow: its re-queue of x reaches Redis late.
    // 1.5 s: y's join and its match must reach x first, on a loaded machine too (each of the
    // node's handshake commands waits as long: the test takes about 9 s).
    proxy.holdRequests(1500);
    expect(proxy.dropCommands()).toBeGreaterThan(0);
    const mm = a.matchmaker as RedisMatchmaker;
    await until(() => !mm.healthy, 5000, 'node a\'s command connection down');
    await until(() => mm.healthy, 20_000, 'node a\'s command connection back');
    // y is matched with x (still waiting in Redis) while the re-queue is on its way; the re-queue ends that match.
    const y = await client(b.wsUrl);
    y.send({ type: 'join', hub: 'tamil' });
    const m1 = await x.next('matched');
    expect((await y.next('matched')).matchId).toBe(m1.matchId);
    expect(await y.next('partner-left', 8000)).toMatchObject({ matchId: m1.matchId });
    // x hears the match is over as soon as its node has the re-queue's answer, not only when a new match comes.
    expect(await x.next('partner-left', 8000)).toMatchObject({ matchId: m1.matchId });
    // x is still waiting in Redis: the next arrival is its partner.
    const z = await client(b.wsUrl);
    z.send({ type: 'join', hub: 'tamil' });
    const m2 = await x.next('matched');
    expect((await z.next('matched')).matchId).toBe(m2.matchId);
    await x.sync();
    const told = x.raw.map((t) => JSON.parse(t) as { type: string; matchId?: string })
      .filter((m) => m.type === 'matched' || m.type === 'partner-left').map((m) => `${m.type} ${m.matchId}`);
    expect(told).toEqual([`matched ${m1.matchId}`, `partner-left ${m1.matchId}`, `matched ${m2.matchId}`]);
    await (b.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('a late notice of a match that is already over does not end the client\'s newer match (notices are taken in the order Redis made the matches)', async () => {
    const a = await node('a');
    const b = await node('b');
    // Node l answers late: its notice of the match it makes arrives after the client moved on.
    const proxy = await slowRepliesProxy();
    const l = await node('l', { redisUrl: proxy.url });
    proxy.hold(1500);
    const y = await client(b.wsUrl);
    y.send({ type: 'join', hub: 'usa' });
    await y.next('queued');
    const x = await client(a.wsUrl);
    x.send({ type: 'private-create' });
    const { code } = await x.next('private-created');
    const w = await client(l.wsUrl);
    w.send({ type: 'private-join', code });
    // The match of x and w exists in Redis; node l has not heard so yet.
    let old = '';
    await until(async () => (old = (await admin.hget(`{chz}:c:${x.sessionId}`, 'mid')) ?? '') !== '', 2000, 'the first match in Redis');
    // It ends from w's side (as w's node would end it), before anyone told x of it.
    await admin.eval(END_MATCH, 0, '{chz}:', w.sessionId, '0');
    x.send({ type: 'leave' });
    await x.sync();
    x.send({ type: 'join', hub: 'usa' });
    const mx = await x.next('matched');
    const my = await y.next('matched');
    expect(my.matchId).toBe(mx.matchId);
    // Node l's notice of the first match reaches node a now, and is dropped as stale.
    await until(async () => (await metric(a.url, 'chatzyo_cross_node_dropped_total{reason="stale"}')) === 1, 5000, 'the late notice dropped as stale');
    x.send({ type: 'signal', matchId: mx.matchId, data: candidate(1) });
    expect((await y.next('signal')).data).toEqual(candidate(1));
    y.send({ type: 'signal', matchId: my.matchId, data: candidate(2) });
    expect((await x.next('signal')).data).toEqual(candidate(2));
    await x.sync();
    expect(x.pending('matched').map((m) => m.matchId)).not.toContain(old);
    expect(x.pending('partner-left')).toEqual([]);
  });

  it('after Redis loses its data (matches numbered afresh), a client matched before still hears of its next match', async () => {
    const a = await node('a');
    const b = await node('b');
    const { x, y, mid } = await crossPair(a.wsUrl, b.wsUrl);
    await redis.flush();
    // x moves on; the node still knows the partner and tells it (Redis forgot the match).
    x.send({ type: 'next' });
    expect(await y.next('partner-left')).toMatchObject({ matchId: mid });
    await x.next('queued');
    const z = await client(b.wsUrl);
    z.send({ type: 'join', hub: 'tamil' });
    const mz = await z.next('matched');
    // The new match's number restarted at 1 under a later epoch: node a must not take it for stale.
    expect((await x.next('matched')).matchId).toBe(mz.matchId);
    expect(await metric(a.url, 'chatzyo_cross_node_dropped_total{reason="stale"}')).toBe(0);
  });

  it('the receiving node\'s reader connection is killed mid-stream (5 times): every signal arrives once, in order, and the catch-up is counted as replayed', async () => {
    const a = await node('a');
    const b = await node('b');
    const { x, y, mid } = await crossPair(a.wsUrl, b.wsUrl);
    const N = 3000;
    let kills = 0;
    for (let i = 0; i < N; i++) {
      x.send({ type: 'signal', matchId: mid, data: candidate(i) });
      if (i % 500 === 250) {
        await x.sync();
        // The reader may still be reconnecting from the last kill.
        const before = kills;
        await until(async () => (kills += await killByName('chatzyo:reader:b')) > before, 5000, 'reader to kill');
      }
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    await until(() => y.pending('signal').length >= N, 20_000, `y got ${y.pending('signal').length}/${N}`);
    await y.sync();
    expect(numbers(y)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(await metric(b.url, 'chatzyo_cross_node_replayed_total')).toBeGreaterThan(0);
    expect(await metric(b.url, 'chatzyo_cross_node_delivered_total{kind="signal"}')).toBe(N);
    expect(await metric(a.url, 'chatzyo_cross_node_sent_total{kind="signal"}')).toBe(N);
    expect(y.pending('partner-left')).toEqual([]);
  });

  it('every Redis connection is killed mid-stream (writers too, both directions): resent writes are not duplicated and nothing is lost', async () => {
    const a = await node('a');
    const b = await node('b');
    const { x, y, mid } = await crossPair(a.wsUrl, b.wsUrl);
    const N = 2000;
    for (let i = 0; i < N; i++) {
      x.send({ type: 'signal', matchId: mid, data: candidate(i) });
      y.send({ type: 'signal', matchId: mid, data: candidate(i) });
      if (i % 400 === 200) await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    }
    await until(() => y.pending('signal').length >= N && x.pending('signal').length >= N, 20_000,
      `x got ${x.pending('signal').length}, y got ${y.pending('signal').length} of ${N}`);
    await Promise.all([x.sync(), y.sync()]);
    const all = Array.from({ length: N }, (_, i) => i);
    expect(numbers(y)).toEqual(all);
    expect(numbers(x)).toEqual(all);
    await (a.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('Redis forgets the last numbers it stored (lost writes in a restart): the sender renumbers at once instead of holding the destination until the outbox age limit', async () => {
    const a = await node('a');
    const b = await node('b');
    const { x, y, mid } = await crossPair(a.wsUrl, b.wsUrl);
    for (let i = 0; i < 10; i++) x.send({ type: 'signal', matchId: mid, data: candidate(i) });
    await until(() => y.pending('signal').length >= 10, 5000, 'first ten signals');
    // What Redis would hold had it lost the last three writes: an older sequence for (a -> b).
    const key = '{chz}:sq:b';
    const last = await admin.hget(key, 'a');
    const [inc, seq] = last!.split(':');
    await admin.hset(key, 'a', `${inc}:${Number(seq) - 3}`);
    for (let i = 10; i < 20; i++) x.send({ type: 'signal', matchId: mid, data: candidate(i) });
    // The outbox age limit is 60 s: a sender that waited for it would miss this deadline by far.
    await until(() => y.pending('signal').length >= 20, 5000, `after the lost writes y got ${y.pending('signal').length}/20`);
    await y.sync();
    expect(numbers(y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await metric(a.url, 'chatzyo_cross_node_sent_total{kind="signal"}')).toBe(20);
  });

  it('Redis paused (SIGSTOP) longer than the node TTL: no node is declared dead, and what was sent meanwhile arrives in order after', async () => {
    const ttl = 1500;
    const a = await node('a', { nodeTtlMs: ttl });
    const b = await node('b', { nodeTtlMs: ttl });
    const { x, y, mid } = await crossPair(a.wsUrl, b.wsUrl);
    redis.proc.kill('SIGSTOP');
    const resumeAt = Date.now() + 2 * ttl;
    for (let i = 0; i < 50; i++) x.send({ type: 'signal', matchId: mid, data: candidate(i) });
    // The pause itself is the fault under test: it has to last this long.
    await until(() => Date.now() >= resumeAt, 3 * ttl, 'pause');
    redis.proc.kill('SIGCONT');
    await until(() => y.pending('signal').length >= 50, 10_000, `y got ${y.pending('signal').length}/50 after the pause`);
    expect(numbers(y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Two node TTLs later still matched on both sides: nobody reaped a live node.
    const settle = Date.now() + 2 * ttl;
    await until(() => Date.now() >= settle || x.pending('partner-left').length + y.pending('partner-left').length > 0, 3 * ttl, 'settle');
    expect(x.pending('partner-left')).toEqual([]);
    expect(y.pending('partner-left')).toEqual([]);
    y.send({ type: 'signal', matchId: mid, data: candidate(99) });
    expect((await x.next('signal')).data).toEqual(candidate(99));
    await (a.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('a node restarted with the same --node-id replays what waited in its stream; the signals for its departed clients are dropped and their senders told partner-left long before the node TTL', async () => {
    const ttl = 15_000;
    const a = await node('a', { nodeTtlMs: ttl });
    let b = await childNode('b', ttl);
    const { x, mid } = await crossPair(a.wsUrl, b.wsUrl);
    const waiter = await client(b.wsUrl);
    waiter.send({ type: 'join', hub: 'hindi' });
    await waiter.next('queued');
    b.proc.kill('SIGKILL');
    await withTimeout(new Promise((r) => b.proc.once('exit', r)), 5000, 'node b exits');
    const t0 = Date.now();
    // Written to b's stream while b is down: signals, and the notice of a match with its waiter.
    for (let i = 0; i < 20; i++) x.send({ type: 'signal', matchId: mid, data: candidate(i) });
    const z = await client(a.wsUrl);
    z.send({ type: 'join', hub: 'hindi' });
    const mz = await z.next('matched');
    await until(async () => (await admin.xlen('{chz}:s:b')) >= 21, 5000, 'messages waiting in b\'s stream');
    b = await childNode('b', ttl);
    const left = await x.next('partner-left', 8000);
    expect(left).toEqual({ type: 'partner-left', matchId: mid, reason: 'disconnect' });
    expect(await z.next('partner-left', 8000)).toEqual({ type: 'partner-left', matchId: mz.matchId, reason: 'disconnect' });
    expect(Date.now() - t0).toBeLessThan(ttl / 2);
    await until(async () => await metric(b.url, 'chatzyo_cross_node_replayed_total') >= 21, 5000, 'b replays its stream');
    expect(await metric(b.url, 'chatzyo_cross_node_dropped_total{reason="client-gone"}')).toBeGreaterThanOrEqual(20);
    // x is free again and the cluster is consistent.
    x.send({ type: 'join', hub: 'usa' });
    await x.next('queued');
    await (a.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('a partner\'s node dies for good: the sender of a signal hears partner-left within the node TTL', async () => {
    const ttl = 1500;
    const a = await node('a', { nodeTtlMs: ttl });
    const b = await childNode('b', ttl);
    const { x, mid } = await crossPair(a.wsUrl, b.wsUrl);
    b.proc.kill('SIGKILL');
    const t0 = Date.now();
    x.send({ type: 'signal', matchId: mid, data: candidate(0) });
    expect(await x.next('partner-left', ttl + 2000)).toEqual({ type: 'partner-left', matchId: mid, reason: 'disconnect' });
    expect(Date.now() - t0).toBeLessThanOrEqual(ttl + 1000);
    // The dead node's stream is left to expire.
    await until(async () => (await admin.pttl('{chz}:s:b')) > 0, 3000, 'the dead node\'s stream gets a TTL');
    await (a.matchmaker as RedisMatchmaker).checkInvariants();
  });
});
