// Churn: hundreds of clients do random join / next / leave / disconnect / signal for a bounded
// time while an invariant checker watches the queues, the matches and the sessions.
import { afterAll, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { MemoryMatchmaker } from '../../src/signal/memory-matchmaker.js';
import { TestClient } from '../helpers/ws-client.js';
import { startServer } from '../helpers/server.js';

let server: SignalServer;
const live = new Set<TestClient>();
afterAll(async () => {
  await Promise.all([...live].map((c) => c.close()));
  await server?.close();
});

/** Cross-checks server sessions against the matchmaker; throws on any broken invariant. */
function checkServer(s: SignalServer): void {
  (s.matchmaker as MemoryMatchmaker).checkInvariants();
  for (const sess of s.sessions.values()) {
    if (sess.state !== 'matched') continue;
    const partner = s.sessions.get(sess.partnerId!);
    if (!partner) throw new Error(`${sess.id} matched with departed ${sess.partnerId}`);
    if (partner.state !== 'matched' || partner.matchId !== sess.matchId || partner.partnerId !== sess.id) {
      throw new Error(`${sess.id} and ${partner.id} disagree about match ${sess.matchId}`);
    }
  }
}

it('keeps every invariant under random joins, nexts, leaves, disconnects and signals', { timeout: 120_000 }, async () => {
  server = await startServer({
    hubs: ['tamil', 'usa', 'uk'], interestFallbackMs: 100, rematchCooldownMs: 200, nextsPerMinute: 1e6,
    messagesPerSecond: 1e6, maxConnectionsPerAddress: 10_000, maxErrors: 1e9,
  });
  const N = 300;
  // Bounded by count (so a loaded CI box does the same amount of work, only slower) and, as a
  // backstop, by time.
  const TARGET_ACTIONS = 15_000;
  const HARD_CAP_MS = 45_000;
  let seed = 7;
  const r = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const participants = new Map<string, Set<string>>(); // matchId -> session ids told "matched"
  const received: { to: string; matchId: string; from: string }[] = [];
  const leftBy = new Map<string, string>(); // matchId -> reason seen by a participant
  const terminated = new Set<string>();
  const watch = (c: TestClient) => {
    c.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'matched') {
        const set = participants.get(m.matchId) ?? new Set();
        set.add(c.sessionId);
        participants.set(m.matchId, set);
      } else if (m.type === 'partner-left') {
        leftBy.set(m.matchId, m.reason);
      } else if (m.type === 'signal') {
        received.push({ to: c.sessionId, matchId: m.matchId, from: m.data.candidate.candidate.split(' ')[1] });
      }
    });
  };
  const connect = async () => {
    const c = await TestClient.connect(server.wsUrl);
    watch(c);
    live.add(c);
    return c;
  };
  const pool: TestClient[] = [];
  for (let i = 0; i < N; i++) pool.push(await connect());

  let checks = 0;
  let actions = 0;
  const checker = setInterval(() => { checkServer(server); checks++; }, 50);
  const end = Date.now() + HARD_CAP_MS;
  const hubs = ['tamil', 'usa', 'uk'];
  try {
    while (Date.now() < end && actions < TARGET_ACTIONS) {
      for (let k = 0; k < 100; k++) {
        const i = Math.floor(r() * pool.length);
        const c = pool[i]!;
        const p = r();
        actions++;
        if (p < 0.35) c.send({ type: 'join', hub: hubs[Math.floor(r() * 3)], interests: r() < 0.3 ? ['music'] : [] });
        else if (p < 0.5) c.send({ type: 'next' });
        else if (p < 0.6) c.send({ type: 'leave' });
        else if (p < 0.9) {
          if (c.matchId) c.send({ type: 'signal', matchId: c.matchId, data: { kind: 'candidate', candidate: { candidate: `from ${c.sessionId}` } } });
        } else if (p < 0.95) {
          c.ws.terminate();
          terminated.add(c.sessionId);
          live.delete(c);
          pool[i] = await connect();
        } else c.send({ type: 'private-create' });
      }
      await pool[Math.floor(r() * pool.length)]!.sync();
    }
  } finally {
    clearInterval(checker);
  }
  await Promise.all(pool.map((c) => c.sync()));
  checkServer(server);
  expect(checks).toBeGreaterThan(20);
  expect(actions).toBeGreaterThan(5_000);
  expect(participants.size).toBeGreaterThan(100);
  // Every match had exactly two participants; where one was told nothing, it had just dropped its
  // socket (the server had not seen the close yet) and the other was told "disconnect".
  for (const [id, set] of participants) {
    if (set.size === 2) continue;
    expect(set.size, `match ${id}`).toBe(1);
    const [seen] = [...set];
    expect(terminated.has(seen!) || leftBy.get(id) === 'disconnect', `match ${id} half-told`).toBe(true);
  }
  expect(received.length).toBeGreaterThan(1000);
  for (const s of received) {
    const set = participants.get(s.matchId);
    expect(set?.has(s.to) && set.has(s.from) && s.to !== s.from, `signal ${s.from} -> ${s.to} in ${s.matchId}`).toBe(true);
  }
  // Nobody is left matched with a departed client.
  for (const sess of server.sessions.values()) if (sess.partnerId) expect(server.sessions.has(sess.partnerId)).toBe(true);
});
