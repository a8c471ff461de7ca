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
import { turnUrlsNearestFirst } from '../../src/signal/turn-credentials.js';
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

describe('TURN servers by region', () => {
  it('orders tagged TURN URLs by the round trip to the landmark of their region; the tag is never announced', async () => {
    expect(turnUrlsNearestFirst(['turn:a:3478#region=london', 'turn:b:3478', 'turn:c:3478#region=chennai'], { chennai: 10, london: 150 }))
      .toEqual(['turn:c:3478', 'turn:a:3478', 'turn:b:3478']);
    expect(turnUrlsNearestFirst(['turn:a:3478#region=london', 'turn:c:3478#region=chennai'])).toEqual(['turn:a:3478', 'turn:c:3478']);

    server = await startServer({
      region: 'chennai', landmarks: [{ name: 'london', url: 'stun:198.51.100.7:3478' }], turnSecret: 'secret',
      turnUrls: ['turn:198.51.100.7:3478?transport=udp#region=london', 'turn:203.0.113.5:3478?transport=udp#region=chennai'],
    });
    clients = new Clients(server);
    const inLondon = await clients.connect();
    const inChennai = await clients.connect();
    inLondon.send({ type: 'join', hub: 'tamil', rtts: { chennai: 150, london: 10 } });
    await inLondon.next('queued');
    inChennai.send({ type: 'join', hub: 'tamil', rtts: { chennai: 10, london: 150 } });
    // 160 ms apart: matched once the limit has widened to anyone (5 s).
    const turnOf = async (c: typeof inLondon) => (await c.next('matched', 8000)).iceServers!.find((i) => i.username)!.urls;
    expect(await turnOf(inLondon)).toEqual(['turn:198.51.100.7:3478?transport=udp', 'turn:203.0.113.5:3478?transport=udp']);
    expect(await turnOf(inChennai)).toEqual(['turn:203.0.113.5:3478?transport=udp', 'turn:198.51.100.7:3478?transport=udp']);
    for (const c of [inLondon, inChennai]) for (const f of c.raw) expect(f).not.toContain('#region');
  }, 15_000);

  it('refuses a --turn URL with another fragment', async () => {
    await expect(startServer({ turnSecret: 'x', turnUrls: ['turn:203.0.113.5:3478#zone=1'] })).rejects.toThrow(/#region=NAME/);
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
