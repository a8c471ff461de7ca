/**
 * Nearby pairing through a real server: `welcome` lists the landmarks (the node's own STUN
 * responder, named by --region, and --landmark ones; none with --pairing random), `join`
 * carries round trips, the server pairs near clients and counts the estimate in /metrics, and
 * the numbers stay private: never sent to the partner, never logged, gone with the session.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { Clients, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterEach(async () => { await clients?.closeAll(); await server?.close(); });

async function metrics(): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}
function metricValue(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ').pop()) : 0;
}

/** The field, or one of the test's round trips as a JSON value. */
const NUMBERS = /rtts|[:,[]\s*(175|325|350)\s*[,}\]]/;

/** The welcome a fresh client gets. */
async function welcome(): Promise<unknown> {
  const c = await clients.connect();
  return c.raw.map((r) => JSON.parse(r) as { type: string }).find((m) => m.type === 'welcome');
}

describe('landmarks in welcome', () => {
  it('lists the built-in STUN responder as "local" by default, named as the client reached the server', async () => {
    server = await startServer();
    clients = new Clients(server);
    const w = await welcome() as { landmarks?: { name: string; url: string }[]; iceServers: { urls: string | string[] }[] };
    expect(w.landmarks).toEqual([{ name: 'local', url: expect.stringMatching(/^stun:127\.0\.0\.1:\d+$/) }]);
    expect(w.iceServers.flatMap((s) => s.urls)).toContain(w.landmarks![0]!.url);
  });

  it('names it by --region and adds --landmark ones; --pairing random lists none', async () => {
    server = await startServer({ region: 'chennai', landmarks: [{ name: 'london', url: 'stun:198.51.100.7:3478' }] });
    clients = new Clients(server);
    const w = await welcome() as { landmarks?: { name: string; url: string }[] };
    expect(w.landmarks?.map((l) => l.name)).toEqual(['chennai', 'london']);
    expect(w.landmarks?.[1]).toEqual({ name: 'london', url: 'stun:198.51.100.7:3478' });
    await clients.closeAll();
    await server.close();

    server = await startServer({ pairing: 'random' });
    clients = new Clients(server);
    expect(await welcome()).not.toHaveProperty('landmarks');
  });
});

describe('pairing through the server', () => {
  it('pairs the near stranger, counts the estimate, and neither the partner nor the log ever sees the numbers', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _e, cb) { lines.push(chunk.toString()); cb(); } });
    server = await startServer({ region: 'chennai', landmarks: [{ name: 'london', url: 'stun:198.51.100.7:3478' }] }, { logger: pino({ level: 'trace' }, sink) });
    clients = new Clients(server);
    const london = await clients.connect();
    const chennai = await clients.connect();
    const coimbatore = await clients.connect();
    // Odd, recognisable numbers, so that any copy of them would be found.
    london.send({ type: 'join', hub: 'tamil', rtts: { chennai: 175, london: 15 } });
    await london.next('queued');
    chennai.send({ type: 'join', hub: 'tamil', rtts: { chennai: 5, london: 325 } });
    await chennai.next('queued'); // 190 ms from london: not paired on arrival
    coimbatore.send({ type: 'join', hub: 'tamil', rtts: { chennai: 15, london: 350, unknown: 20 } });
    const m = await coimbatore.next('matched');
    expect((await chennai.next('matched')).matchId).toBe(m.matchId);

    const text = await metrics();
    expect(metricValue(text, 'chatzyo_match_rtt_estimate_ms_count')).toBe(1);
    expect(metricValue(text, 'chatzyo_match_rtt_estimate_ms_sum')).toBe(20);
    expect(metricValue(text, 'chatzyo_match_pair_wait_seconds_count{estimate="known"}')).toBe(1);

    // Nothing any client received carries another's round trips (or its own).
    for (const c of [london, chennai, coimbatore]) {
      for (const frame of c.raw) {
        expect(frame).not.toMatch(NUMBERS);
      }
    }
    // The server logged at trace level all along; no line holds the numbers or the field.
    const log = lines.join('');
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toMatch(NUMBERS);
  });

  it('drops the numbers when the session ends: the slot is gone and a later near client is not paired with a ghost', async () => {
    server = await startServer();
    clients = new Clients(server);
    const a = await clients.connect();
    a.send({ type: 'join', hub: 'tamil', rtts: { local: 5 } });
    await a.next('queued');
    await a.close();
    const b = await clients.connect();
    b.send({ type: 'join', hub: 'tamil', rtts: { local: 5 } });
    expect((await b.next('queued')).position).toBe(1);
    expect(await server.matchmaker.placement(a.sessionId)).toEqual({ kind: 'none' });
    expect(server.sessions.has(a.sessionId)).toBe(false);
  });

  it('refuses round trips out of range with a typed error, and pairs clients who sent none', async () => {
    server = await startServer();
    clients = new Clients(server);
    const bad = await clients.connect();
    bad.send({ type: 'join', hub: 'tamil', rtts: { local: -3 } });
    expect((await bad.next('error')).code).toBe('CHZ_ERR_BAD_MESSAGE');
    const x = await clients.connect();
    const y = await clients.connect();
    x.send({ type: 'join', hub: 'tamil' });
    await x.next('queued');
    y.send({ type: 'join', hub: 'tamil', rtts: { local: 5 } });
    expect((await y.next('matched')).hub).toBe('tamil');
    const text = await metrics();
    expect(metricValue(text, 'chatzyo_match_rtt_estimate_ms_count')).toBe(0);
    expect(metricValue(text, 'chatzyo_match_pair_wait_seconds_count{estimate="unknown"}')).toBe(1);
  });
});
