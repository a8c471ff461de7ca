// Fuzz: >= 100,000 random and mutated frames from many clients. The server must stay up, answer
// every malformed frame with an error, and never deliver anything across pairs.
import { afterAll, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { parseClientFrame } from '../../src/protocol/index.js';
import { TestClient } from '../helpers/ws-client.js';
import { Clients, pair, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterAll(async () => { await clients?.closeAll(); await server?.close(); });

/** A small seeded PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID: unknown[] = [
  { type: 'hello', version: 1 },
  { type: 'join', hub: 'global', interests: ['a', 'b'] },
  { type: 'next' }, { type: 'leave' }, { type: 'private-create' },
  { type: 'private-join', code: 'A'.repeat(22) },
  { type: 'report', matchId: 'abcdefghijkl', reason: 'spam' },
  { type: 'ping', id: 5 },
  { type: 'signal', matchId: 'abcdefghijkl', data: { kind: 'offer', sdp: 'v=0' } },
  { type: 'signal', matchId: 'abcdefghijkl', data: { kind: 'candidate', candidate: { candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } } },
];
const WEIRD: unknown[] = [null, true, 0, -1, 1e308, '', 'x'.repeat(300), [], {}, { __proto__: { type: 'join' } }, [1, { a: 2 }], 'tamil', NaN];

function mutate(r: () => number, v: unknown, depth = 0): unknown {
  if (depth > 3 || v === null || typeof v !== 'object') return r() < 0.5 ? WEIRD[Math.floor(r() * WEIRD.length)] : v;
  const o: Record<string, unknown> = Array.isArray(v) ? [...v] as unknown as Record<string, unknown> : { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  const op = r();
  if (op < 0.3 && keys.length) delete o[keys[Math.floor(r() * keys.length)]!];
  else if (op < 0.6 && keys.length) { const k = keys[Math.floor(r() * keys.length)]!; o[k] = mutate(r, o[k], depth + 1); }
  else if (op < 0.75) o[['type', 'hub', 'data', 'matchId', 'zz', 'constructor'][Math.floor(r() * 6)]!] = WEIRD[Math.floor(r() * WEIRD.length)];
  else if (op < 0.85) o.type = ['joinx', 'HELLO', 'signal ', 'private_join', '__proto__'][Math.floor(r() * 5)];
  return o;
}

function frame(r: () => number): string {
  const p = r();
  if (p < 0.15) { // random bytes as text
    const n = Math.floor(r() * 64);
    return Array.from({ length: n }, () => String.fromCharCode(Math.floor(r() * 256))).join('');
  }
  if (p < 0.25) return JSON.stringify(mutate(r, VALID[Math.floor(r() * VALID.length)])).slice(0, Math.floor(r() * 40)); // truncated
  if (p < 0.27) return JSON.stringify({ type: 'ping', id: 1, pad: 'x'.repeat(70_000) }); // too large
  return JSON.stringify(mutate(r, VALID[Math.floor(r() * VALID.length)])) ?? 'undefined';
}

const BAD_FRAME_CODES = new Set(['CHZ_ERR_BAD_JSON', 'CHZ_ERR_BAD_MESSAGE', 'CHZ_ERR_UNKNOWN_TYPE', 'CHZ_ERR_TOO_LARGE']);

it('survives 100,000 fuzzed frames, answers each malformed one, and leaks nothing across pairs', { timeout: 180_000 }, async () => {
  server = await startServer({ messagesPerSecond: 1e9, bytesPerSecond: 1e9, maxErrors: 1e9, rateLimitStrikes: 1e9, maxConnectionsPerAddress: 1000, hubs: ['global', 'tamil'] });
  clients = new Clients(server);
  const pairs: [TestClient, TestClient][] = [];
  for (let i = 0; i < 5; i++) pairs.push(await pair(clients, 'tamil'));
  const fuzzers = await Promise.all(Array.from({ length: 20 }, () => clients.connect()));
  const FRAMES = 5_000; // per fuzzer: 100,000 in all
  const r = rng(20261125);
  const sent = new Map<TestClient, number>();
  let total = 0;
  const BATCH = 250;
  for (let done = 0; done < FRAMES; done += BATCH) {
    for (const f of fuzzers) {
      for (let i = 0; i < BATCH; i++) {
        const text = frame(r);
        const bad = !parseClientFrame(text, Buffer.byteLength(text)).ok;
        if (bad) sent.set(f, (sent.get(f) ?? 0) + 1);
        f.send(text);
        total++;
      }
    }
    // Honest pairs talk through the storm; each signal names its sender.
    for (const [a, b] of pairs) {
      a.send({ type: 'signal', matchId: a.matchId, data: { kind: 'candidate', candidate: { candidate: `from ${a.sessionId} ${done}` } } });
      b.send({ type: 'signal', matchId: b.matchId, data: { kind: 'candidate', candidate: { candidate: `from ${b.sessionId} ${done}` } } });
    }
    await Promise.all(fuzzers.map((f) => f.sync()));
  }
  expect(total).toBeGreaterThanOrEqual(100_000);
  for (const f of fuzzers) {
    const answered = f.received.filter((m) => m.type === 'error' && BAD_FRAME_CODES.has(m.code)).length;
    expect(answered).toBe(sent.get(f) ?? 0);
  }
  for (const [a, b] of pairs) {
    await a.sync(); await b.sync();
    for (const [me, partner] of [[a, b], [b, a]] as const) {
      const signals = me.pending('signal');
      expect(signals).toHaveLength(FRAMES / BATCH);
      for (const s of signals) {
        expect(s.matchId).toBe(me.matchId);
        expect(s.data.kind === 'candidate' && s.data.candidate.candidate.startsWith(`from ${partner.sessionId} `)).toBe(true);
      }
    }
  }
  // The server is still up and pairs newcomers.
  const [x, y] = await pair(clients, 'tamil');
  expect(x.matchId).toBe(y.matchId);
  const health = await (await fetch(`${server.url}/healthz`)).json();
  expect(health.status).toBe('ok');
});
