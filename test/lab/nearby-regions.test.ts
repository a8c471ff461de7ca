/**
 * Nearby pairing measured with real calls across the lab's regions (src/lab/regions.ts): three
 * places with a round-trip matrix between them (Chennai 12 ms within, London and New York 10 ms
 * within, Chennai-London 160, London-New York 75, Chennai-New York 230), a landmark STUN server
 * in each (each participant reaches each landmark across the matrix), one coturn, and 12 werift
 * peers, 4 per place, arriving at seeded random times over 3 s in one hub, relay-only so every
 * packet crosses the matrix. The same arrivals run against `--pairing nearby` and
 * `--pairing random`. The call round trip is what werift measured on the connected ICE pair.
 * Nearby's median must be at most half of random's, its p95 wait at most the widening cap (5 s)
 * above random's, and everybody must be matched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImpairmentRelay, RegionRelay, parseNetworkProfile, regionMatrix, seededRandom, udpTurnTarget } from '../../src/lab/index.js';
import type { PeerStats } from '../../src/peer/index.js';
import type { Landmark } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { StunServer } from '../../src/signal/stun-server.js';
import { widestWaitMs, type PairingMode } from '../../src/signal/pairing.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from '../peer/helpers.js';

const REGIONS = ['chennai', 'london', 'new-york'] as const;
const RTT = regionMatrix({
  chennai: { chennai: 12, london: 160, 'new-york': 230 },
  london: { london: 10, 'new-york': 75 },
  'new-york': { 'new-york': 10 },
});
const PER_REGION = 4;
const ARRIVAL_SPREAD_MS = 3000;

let turn: Coturn;
let regions: RegionRelay;
const landmarkStun = new Map<string, StunServer>();
/** `${participant's region}>${landmark}` -> a delay line in front of that landmark's STUN server. */
const landmarkPaths = new Map<string, ImpairmentRelay>();
const sessions = new Sessions();

beforeAll(async () => {
  turn = await startCoturn();
  const target = udpTurnTarget(turn.url)!;
  regions = await RegionRelay.start({ regions: REGIONS, upstream: target, rtt: RTT });
  for (const r of REGIONS) landmarkStun.set(r, await StunServer.start({ address: '127.0.0.1', port: 0 }));
  for (const from of REGIONS) {
    for (const to of REGIONS) {
      const stun = landmarkStun.get(to)!;
      landmarkPaths.set(`${from}>${to}`, await ImpairmentRelay.start({ profile: parseNetworkProfile(`custom:rtt=${RTT(from, to)}ms`), upstream: { host: '127.0.0.1', port: stun.port } }));
    }
  }
}, 30_000);

afterAll(async () => {
  await sessions.closeAll();
  for (const r of landmarkPaths.values()) await r.close();
  for (const s of landmarkStun.values()) await s.close();
  await regions?.close();
  await turn?.stop();
});

interface Outcome { region: string; waitMs: number; matchId: string; role: string; rttMs: number }

/** The 12 arrivals: who, where, when; the same for both modes. */
function arrivals(seed: number): { name: string; region: string; atMs: number }[] {
  const random = seededRandom(seed);
  const out = REGIONS.flatMap((region) => Array.from({ length: PER_REGION }, (_, i) => ({ name: `${region}-${i}`, region, atMs: Math.round(random() * ARRIVAL_SPREAD_MS) })));
  return out.sort((a, b) => a.atMs - b.atMs);
}

/** One run: a server pairing by `mode`; every participant arrives, is matched and connects; their numbers. */
async function run(mode: PairingMode): Promise<Outcome[]> {
  const server: SignalServer = await startServer({
    pairing: mode, region: 'chennai', turnUrls: [turn.url], turnSecret: turn.secret,
    landmarks: REGIONS.map((r) => ({ name: r, url: `stun:127.0.0.1:${landmarkStun.get(r)!.port}` })),
  });
  try {
    const started = Date.now();
    const runs = arrivals(7).map(async (a): Promise<Outcome> => {
      await new Promise((r) => setTimeout(r, Math.max(0, a.atMs - (Date.now() - started))));
      const relay = regions.address(a.region);
      const [peer, rec] = sessions.create({
        server: server.url, video: null, audio: null, relayOnly: true, statsIntervalMs: 500, target: { kind: 'hub', hub: 'tamil' },
        mapIceServers: (servers) => servers.filter((s) => s.username).map((s) => ({ ...s, urls: `turn:${relay.host}:${relay.port}?transport=udp` })),
        mapLandmarks: (ls: Landmark[]) => ls.map((l) => {
          const path = landmarkPaths.get(`${a.region}>${l.name}`)!.address;
          return { name: l.name, url: `stun:${path.host}:${path.port}` };
        }),
      }, a.name);
      await withTimeout(peer.start(), 15_000, `${a.name} start`);
      const joinedAt = Date.now();
      await rec.next('matched', 30_000);
      const waitMs = Date.now() - joinedAt;
      // The call that connected (a call that failed ICE re-queues both sides: they meet someone else).
      const c = await rec.next('connected', 45_000);
      const m = rec.all('matched').find((x) => x.matchId === c.matchId)!;
      const s = await rec.next('stats', 20_000, (x: PeerStats) => x.rttMs !== null && x.matchId === c.matchId);
      return { region: a.region, waitMs, matchId: c.matchId, role: m.role, rttMs: s.rttMs! };
    });
    return await Promise.all(runs);
  } finally {
    await sessions.closeAll();
    await server.close();
  }
}

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

describe('nearby pairing across regions, with real calls', () => {
  it('halves the median call round trip against random pairing, waits at most 5 s longer, and matches everyone', async () => {
    const results: Record<string, { medianRttMs: number; p95WaitMs: number; sameRegion: number; calls: Outcome[] }> = {};
    for (const mode of ['nearby', 'random'] as const) {
      const outcomes = await run(mode);
      const calls = outcomes.filter((o) => o.role === 'offerer');
      const partnerRegion = (o: Outcome) => outcomes.find((x) => x.matchId === o.matchId && x !== o)!.region;
      results[mode] = {
        medianRttMs: pct(calls.map((c) => c.rttMs), 50),
        p95WaitMs: pct(outcomes.map((o) => o.waitMs), 95),
        sameRegion: calls.filter((c) => partnerRegion(c) === c.region).length,
        calls,
      };
      expect(outcomes).toHaveLength(REGIONS.length * PER_REGION);
      expect(calls).toHaveLength((REGIONS.length * PER_REGION) / 2);
      // The measured round trip is the matrix's between the two places (TURN and loopback add little).
      for (const c of calls) expect(c.rttMs, JSON.stringify(c)).toBeGreaterThanOrEqual(RTT(c.region, partnerRegion(c)) - 5);
    }
    console.log(JSON.stringify({ nearby: { ...results.nearby, calls: undefined }, random: { ...results.random, calls: undefined } }));
    const nearby = results.nearby!;
    const random = results.random!;
    expect(nearby.medianRttMs, JSON.stringify(results)).toBeLessThanOrEqual(random.medianRttMs / 2);
    expect(nearby.p95WaitMs).toBeLessThanOrEqual(random.p95WaitMs + widestWaitMs() + 1000);
    expect(nearby.sameRegion).toBeGreaterThan(random.sameRegion);
  }, 180_000);
});
