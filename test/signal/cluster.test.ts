// Several `chatzyo serve` nodes sharing one real redis-server.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { RedisMatchmaker } from '../../src/signal/redis-matchmaker.js';
import { withTimeout, until } from '../helpers/deadline.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');
let redis: RedisServer;
let nodes: SignalServer[] = [];
let clients: TestClient[] = [];
let children: ChildProcess[] = [];

beforeAll(async () => { redis = await startRedis(); });
afterAll(async () => { await redis?.stop(); });
beforeEach(async () => { await redis.flush(); });
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(nodes.map((n) => n.close()));
  for (const c of children) c.kill('SIGKILL');
  clients = [];
  nodes = [];
  children = [];
});

async function node(opts: Parameters<typeof startServer>[0] = {}): Promise<SignalServer> {
  const n = await startServer({ redisUrl: redis.url, nodeTtlMs: 1500, maxConnectionsPerAddress: 10_000, logLevel: process.env.DBG ? 'trace' : 'silent', ...opts });
  nodes.push(n);
  return n;
}
async function client(n: SignalServer | string): Promise<TestClient> {
  const c = await TestClient.connect(typeof n === 'string' ? n : n.wsUrl);
  clients.push(c);
  return c;
}

/** A node in its own process (so it can be SIGKILLed). */
async function childNode(nodeTtlMs: number): Promise<{ wsUrl: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--no-stun', '--json', '--log-level', 'silent',
    '--redis', redis.url, '--node-ttl', String(nodeTtlMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const line = await withTimeout(new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); });
    proc.once('exit', (c) => reject(new Error(`node exited ${c}`)));
  }), 20_000, 'child node listening');
  return { wsUrl: JSON.parse(line).url.replace('http', 'ws') + '/ws', proc };
}

describe('cluster of nodes sharing Redis', () => {
  it('matches clients on different nodes, relays offer/answer/candidates across, counts cluster-wide', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const x = await client(a);
    const y = await client(b);
    x.send({ type: 'join', hub: 'tamil' });
    await x.next('queued');
    y.send({ type: 'join', hub: 'tamil' });
    const mx = await x.next('matched');
    const my = await y.next('matched');
    expect(mx.matchId).toBe(my.matchId);
    expect(mx.role).toBe('offerer');
    x.send({ type: 'signal', matchId: mx.matchId, data: { kind: 'offer', sdp: 'v=0 offer' } });
    expect((await y.next('signal')).data).toEqual({ kind: 'offer', sdp: 'v=0 offer' });
    y.send({ type: 'signal', matchId: my.matchId, data: { kind: 'answer', sdp: 'v=0 answer' } });
    expect((await x.next('signal')).data).toEqual({ kind: 'answer', sdp: 'v=0 answer' });
    for (let i = 0; i < 4; i++) {
      x.send({ type: 'signal', matchId: mx.matchId, data: { kind: 'candidate', candidate: { candidate: `x${i}` } } });
      y.send({ type: 'signal', matchId: my.matchId, data: { kind: 'candidate', candidate: { candidate: `y${i}` } } });
    }
    for (let i = 0; i < 4; i++) {
      expect((await y.next('signal')).data).toEqual({ kind: 'candidate', candidate: { candidate: `x${i}` } });
      expect((await x.next('signal')).data).toEqual({ kind: 'candidate', candidate: { candidate: `y${i}` } });
    }
    // A third client on a third node waits; every node reports the same counts.
    const z = await client(c);
    z.send({ type: 'join', hub: 'usa' });
    await z.next('queued');
    for (const n of [a, b, c]) {
      const hubs = (await (await fetch(`${n.url}/api/hubs`)).json()).hubs;
      expect(hubs.find((h: { name: string }) => h.name === 'tamil')).toEqual({ name: 'tamil', waiting: 0, inCall: 2 });
      expect(hubs.find((h: { name: string }) => h.name === 'usa')).toEqual({ name: 'usa', waiting: 1, inCall: 0 });
      const metrics = await (await fetch(`${n.url}/metrics`)).text();
      expect(metrics).toMatch(/chatzyo_in_call\{hub="tamil"\} 2/);
      const health = await (await fetch(`${n.url}/healthz`)).json();
      expect(health).toMatchObject({ status: 'ok', matchmaker: 'redis', redis: 'up' });
    }
    // Next across nodes: the partner on the other node is told.
    y.send({ type: 'next' });
    expect((await x.next('partner-left')).reason).toBe('next');
    await y.next('queued');
  });

  it('two nodes racing for the same waiting client never double-match it (200 rounds, racers on two nodes, waiter on a third)', async () => {
    // Every round ends a match per racer (leave while matched counts toward the skip limit).
    const fast = { rematchCooldownMs: 0, messagesPerSecond: 1e6, nextsPerMinute: 1e6 };
    const [a, b, c] = [await node(fast), await node(fast), await node(fast)];
    const waiter = await client(a);
    const ra = await client(b);
    const rb = await client(c);
    const wins = new Map<TestClient, number>();
    for (let round = 0; round < 200; round++) {
      waiter.send({ type: 'join', hub: 'uk' });
      await waiter.next('queued');
      // Both racers join at once from two other nodes, in alternating order.
      const [first, second] = round % 2 ? [ra, rb] : [rb, ra];
      first.send({ type: 'join', hub: 'uk' });
      second.send({ type: 'join', hub: 'uk' });
      const mw = await waiter.next('matched');
      // Exactly one racer got the waiter; the other is queued, then leaves.
      await withTimeout(Promise.all([ra.sync(), rb.sync()]), 6000, `round ${round} sync: ra=${ra.received.map((m) => m.type)} rb=${rb.received.map((m) => m.type)}`);
      await until(() => ra.pending('matched').length + ra.pending('queued').length + rb.pending('matched').length + rb.pending('queued').length >= 2, 3000, 'both racers answered');
      const winners = [ra, rb].filter((r) => r.pending('matched').some((m) => m.matchId === mw.matchId));
      expect(winners).toHaveLength(1);
      const loser = winners[0] === ra ? rb : ra;
      wins.set(winners[0]!, (wins.get(winners[0]!) ?? 0) + 1);
      expect(loser.pending('matched')).toHaveLength(0);
      await loser.next('queued');
      await winners[0]!.next('matched');
      loser.send({ type: 'leave' });
      winners[0]!.send({ type: 'leave' });
      await withTimeout(waiter.next('partner-left'), 6000, `round ${round} waiter partner-left`);
      await withTimeout(Promise.all([loser.sync(), winners[0]!.sync()]), 6000, `round ${round} after-leave sync: loser=${loser.received.map((m) => m.type)} winner=${winners[0]!.received.map((m) => m.type)} waiter=${waiter.received.map((m) => m.type)}`);
      await (a.matchmaker as RedisMatchmaker).checkInvariants();
    }
    // It was a real race: each racer won some rounds.
    expect(wins.get(ra)).toBeGreaterThan(0);
    expect(wins.get(rb)).toBeGreaterThan(0);
  });

  it('keeps every invariant under churn with clients spread over three nodes', async () => {
    const ns = [await node({ interestFallbackMs: 100, rematchCooldownMs: 200, nextsPerMinute: 1e6, messagesPerSecond: 1e6, maxErrors: 1e9 }),
      await node({ interestFallbackMs: 100, rematchCooldownMs: 200, nextsPerMinute: 1e6, messagesPerSecond: 1e6, maxErrors: 1e9 }),
      await node({ interestFallbackMs: 100, rematchCooldownMs: 200, nextsPerMinute: 1e6, messagesPerSecond: 1e6, maxErrors: 1e9 })];
    const pool: TestClient[] = [];
    const participants = new Map<string, Set<string>>();
    const received: { to: string; matchId: string; from: string }[] = [];
    const watch = (c: TestClient) => c.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'matched') { const s = participants.get(m.matchId) ?? new Set(); s.add(c.sessionId); participants.set(m.matchId, s); }
      if (m.type === 'signal') received.push({ to: c.sessionId, matchId: m.matchId, from: m.data.candidate.candidate });
    });
    for (let i = 0; i < 150; i++) { const c = await client(ns[i % 3]!); watch(c); pool.push(c); }
    let seed = 11;
    const r = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const end = Date.now() + 5000;
    let actions = 0;
    let checks = 0;
    let checking = false;
    let problem: unknown = null;
    const checker = setInterval(() => {
      if (checking) return;
      checking = true;
      (ns[0]!.matchmaker as RedisMatchmaker).checkInvariants().then(() => { checks++; }, (e) => { problem = e; }).finally(() => { checking = false; });
    }, 50);
    try {
      while (Date.now() < end && actions < 15_000) {
        for (let k = 0; k < 50; k++, actions++) {
          const c = pool[Math.floor(r() * pool.length)]!;
          const p = r();
          if (p < 0.4) c.send({ type: 'join', hub: ['tamil', 'usa'][Math.floor(r() * 2)], interests: r() < 0.3 ? ['music'] : [] });
          else if (p < 0.55) c.send({ type: 'next' });
          else if (p < 0.65) c.send({ type: 'leave' });
          else if (c.matchId) c.send({ type: 'signal', matchId: c.matchId, data: { kind: 'candidate', candidate: { candidate: c.sessionId } } });
        }
        await pool[Math.floor(r() * pool.length)]!.sync();
      }
    } finally {
      clearInterval(checker);
    }
    await Promise.all(pool.map((c) => c.sync()));
    await until(() => !checking, 5000, 'last check');
    if (problem) throw problem;
    await (ns[0]!.matchmaker as RedisMatchmaker).checkInvariants();
    // Cross-node notices (pub/sub) are asynchronous to the clients' own round trips: let the last
    // ones land, then every match must have reached both sides and the sessions must agree.
    const disagreement = () => {
      const all = new Map(ns.flatMap((n) => [...n.sessions.values()].map((s) => [s.id, s] as const)));
      for (const s of all.values()) {
        if (s.state !== 'matched') continue;
        const p = all.get(s.partnerId!);
        if (!(p?.state === 'matched' && p.matchId === s.matchId && p.partnerId === s.id)) return `${s.id} matched ${s.matchId}, partner ${p?.state} ${p?.matchId}`;
      }
      return '';
    };
    // A match can legitimately reach one side only: a client that leaves or presses Next while
    // another node is matching it ends that match before hearing of it, or the one side told
    // ends it before the notice reaches the other. What must never happen is a third party in a
    // match, or a session left believing it is in a match its partner is not in (checked above).
    const halfTold = () => [...participants].filter(([, set]) => set.size > 2 || set.size === 0);
    await until(() => disagreement() === '' && halfTold().length === 0, 3000, 'cross-node notices landed')
      .catch(() => { throw new Error(`after 3 s: ${disagreement() || JSON.stringify(halfTold().map(([id, set]) => [id, [...set]]))}`); });
    expect(checks).toBeGreaterThan(10);
    expect(participants.size).toBeGreaterThan(50);
    expect(halfTold()).toEqual([]);
    expect(received.length).toBeGreaterThan(200);
    for (const s of received) {
      const set = participants.get(s.matchId)!;
      expect(set.has(s.to) && set.has(s.from) && s.to !== s.from).toBe(true);
    }
  });

  it('SIGKILL of a node: partners on the survivor hear within the node TTL, and its waiting clients leave the queues', async () => {
    const ttl = 1500;
    const survivor = await node({ nodeTtlMs: ttl });
    const doomed = await childNode(ttl);
    // One call across the two nodes, and one client of the doomed node waiting in a queue.
    const s1 = await client(survivor);
    s1.send({ type: 'join', hub: 'tamil' });
    await s1.next('queued');
    const d1 = await client(doomed.wsUrl);
    d1.send({ type: 'join', hub: 'tamil' });
    const m = await s1.next('matched');
    await d1.next('matched');
    const d2 = await client(doomed.wsUrl);
    d2.send({ type: 'join', hub: 'hindi' });
    await d2.next('queued');
    const t0 = Date.now();
    doomed.proc.kill('SIGKILL');
    const left = await s1.next('partner-left', ttl + 2000);
    expect(left).toEqual({ type: 'partner-left', matchId: m.matchId, reason: 'disconnect' });
    expect(Date.now() - t0).toBeLessThanOrEqual(ttl + 1000);
    await until(async () => (await survivor.matchmaker.counts()).every((h) => h.waiting === 0 && h.inCall === 0), 3000, 'no ghosts in queues or calls');
    // A newcomer in hindi waits instead of being matched with the dead node's client.
    const s2 = await client(survivor);
    s2.send({ type: 'join', hub: 'hindi' });
    expect(await s2.next('queued')).toMatchObject({ position: 1 });
    await (survivor.matchmaker as RedisMatchmaker).checkInvariants();
  });

  it('while Redis is down: healthz is unhealthy, joins get CHZ_ERR_UNAVAILABLE, calls on a node keep signalling; then it recovers', async () => {
    const a = await node();
    const x = await client(a);
    const y = await client(a);
    x.send({ type: 'join', hub: 'usa' });
    await x.next('queued');
    y.send({ type: 'join', hub: 'usa' });
    const mx = await x.next('matched');
    await y.next('matched');
    const waiting = await client(a);
    waiting.send({ type: 'join', hub: 'uk' });
    await waiting.next('queued');

    await redis.stop();
    await until(async () => (await fetch(`${a.url}/healthz`)).status === 503, 5000, 'healthz turns unhealthy');
    const health = await (await fetch(`${a.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'unhealthy', redis: 'down' });
    const late = await client(a);
    late.send({ type: 'join', hub: 'tamil' });
    await late.error('CHZ_ERR_UNAVAILABLE');
    x.send({ type: 'signal', matchId: mx.matchId, data: { kind: 'end-of-candidates' } });
    expect((await y.next('signal')).data).toEqual({ kind: 'end-of-candidates' });

    await redis.restart();
    await until(async () => (await fetch(`${a.url}/healthz`)).status === 200, 10_000, 'healthz healthy again');
    // The waiting client was put back in its queue: a newcomer gets it.
    await waiting.next('queued', 5000);
    const fresh = await client(a);
    fresh.send({ type: 'join', hub: 'uk' });
    expect((await fresh.next('matched')).matchId).toBe((await waiting.next('matched')).matchId);
  });
});
