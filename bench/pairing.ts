/**
 * bench:pairing — what nearby pairing (src/signal/pairing.ts) buys over arrival-order pairing,
 * and what it costs in waiting: a simulation, no network and no server. The in-memory
 * matchmaker runs on a fake clock over a seeded stream of arrivals, once with `pairing:
 * 'nearby'` and once with `pairing: 'random'` on the same arrivals.
 *
 * The model:
 * - One hub, `tamil`, whose members live where the Tamil diaspora does ({@link CITIES}: Chennai
 *   30, Bengaluru 12, Coimbatore 10, Madurai 8, Colombo 8, Singapore 6, Dubai 6, London 6,
 *   Kuala Lumpur 5, Toronto 5, New York 4). Each client is placed in a city by weight, scattered
 *   uniformly within 30 km of its centre.
 * - The network round trip between two points is {@link modelRttMs}: great-circle distance /
 *   50 km per ms + 5 ms. Light in fibre covers about 200 km per ms one way, 100 km per ms of
 *   round trip; real routes are about twice the great circle, hence 50; the 5 ms is switching
 *   and peering. (Chennai-Singapore 63 ms, Chennai-London 169 ms, Chennai-New York 277 ms.)
 * - Each client has its own last mile, uniform 2-20 ms each way, so 4-40 ms added to every
 *   round trip it makes.
 * - Landmarks ({@link LANDMARKS}) where a deployment would put STUN nodes: Chennai, Singapore,
 *   London and New York. A client reports model RTT to each + its last mile, rounded with
 *   `rttBucket` (src/protocol/landmarks.ts), as the real client does.
 * - The TRUE pair round trip, used to score, is the model RTT between the two clients'
 *   positions + both last miles. The ESTIMATED one is what the matchmaker sees
 *   (`estimatePairRttMs`, the smallest landmark sum); reported too.
 * - Arrivals are a Poisson process at each rate; a matched client leaves and never comes back
 *   (so the rematch cooldown never matters and nobody has interests). The clock advances event
 *   by event and `tick()` runs every {@link SIM_TICK_MS} (the matchmaker's default period) in
 *   between; the matchmaker's own timer is set far off (`tickMs` 1e9) so it never fires. After
 *   the last arrival the ticks go on until the widening cap (`widestWaitMs`, 5 s) and one more
 *   tick have passed, so anyone left has no partner (at most one, for an odd count).
 * - The same population and the same uniform draws serve every rate (the arrival times are
 *   scaled by 1/rate), so rates differ only in how many strangers wait at once.
 *
 * Reported per rate and mode: pairs, TRUE RTT p50/p95, ESTIMATED RTT p50, the pair's wait
 * (the longer of the two, which is the offerer's) p50/p95, share of pairs over 320 ms true RTT
 * and clients left unmatched; the nearby/random ratio of the RTTs. Then the same pooled over all
 * rates, and one JSON line with the pooled figures (the headline is the pool over all rates).
 *
 * Defaults: 10,000 clients per rate, rates 0.5,2,10,50 per second, seed 1: 80,000 simulated
 * joins, 5-8 s in all on a 2-core machine (tsx start-up included).
 *
 * `--tiers untilMs:maxRttMs,...` replaces the nearby widening (default DEFAULT_NEARBY_TIERS,
 * 2000:60,5000:150) to try others.
 *
 *   npm run bench:pairing -- [--clients 10000] [--rates 0.5,2,10,50] [--seed 1] [--tiers 2000:60,5000:150]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/lab/link.js';
import { rttBucket, type LandmarkRtts } from '../src/protocol/index.js';
import type { MatchNotice } from '../src/signal/matchmaker.js';
import { MemoryMatchmaker } from '../src/signal/memory-matchmaker.js';
import { DEFAULT_NEARBY_TIERS, estimatePairRttMs, widestWaitMs, type NearbyTier, type PairingMode } from '../src/signal/pairing.js';
import { quantile, table } from './lib.js';

/** A place: name, population weight (cities) and coordinates, degrees. */
export interface Place { name: string; weight: number; lat: number; lon: number }

/** Where the `tamil` hub's members are, weighted by (rough) share of the hub. */
export const CITIES: readonly Place[] = [
  { name: 'Chennai', weight: 30, lat: 13.0827, lon: 80.2707 },
  { name: 'Bengaluru', weight: 12, lat: 12.9716, lon: 77.5946 },
  { name: 'Coimbatore', weight: 10, lat: 11.0168, lon: 76.9558 },
  { name: 'Madurai', weight: 8, lat: 9.9252, lon: 78.1198 },
  { name: 'Colombo', weight: 8, lat: 6.9271, lon: 79.8612 },
  { name: 'Singapore', weight: 6, lat: 1.3521, lon: 103.8198 },
  { name: 'Dubai', weight: 6, lat: 25.2048, lon: 55.2708 },
  { name: 'London', weight: 6, lat: 51.5074, lon: -0.1278 },
  { name: 'Kuala Lumpur', weight: 5, lat: 3.139, lon: 101.6869 },
  { name: 'Toronto', weight: 5, lat: 43.6532, lon: -79.3832 },
  { name: 'New York', weight: 4, lat: 40.7128, lon: -74.006 },
];

/** The landmarks (STUN nodes) a deployment serving the hub would run; `name` as in the protocol. */
export const LANDMARKS: readonly Place[] = [
  { name: 'chennai', weight: 0, lat: 13.0827, lon: 80.2707 },
  { name: 'singapore', weight: 0, lat: 1.3521, lon: 103.8198 },
  { name: 'london', weight: 0, lat: 51.5074, lon: -0.1278 },
  { name: 'new-york', weight: 0, lat: 40.7128, lon: -74.006 },
];

/** How far from its city's centre a client may be placed, km. */
const SCATTER_KM = 30;
/** Last mile, one way, ms: uniform in this range per client. */
const LAST_MILE_MS: readonly [number, number] = [2, 20];
/** The matchmaker's default tick period, which the simulation drives by hand. */
export const SIM_TICK_MS = 250;
/** A pair slower than this is a poor call: G.114's 150 ms one way as a round trip (300), plus jitter headroom. */
export const SLOW_RTT_MS = 320;
const EARTH_KM = 6371;
const HUB = 'tamil';

/** Great-circle distance, km (haversine). */
export function greatCircleKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The network's round trip between two points, ms, without either last mile: distance / 50 km per ms + 5 ms. */
export function modelRttMs(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  return greatCircleKm(a, b) / 50 + 5;
}

/** One simulated client. */
export interface SimClient {
  id: string;
  /** Arrival time, ms from the start. */
  atMs: number;
  city: string;
  lat: number;
  lon: number;
  /** Last mile one way, ms. */
  lastMileMs: number;
  /** What it reports with `join`: bucketed round trips to the landmarks. */
  rtts: LandmarkRtts;
}

/** The TRUE round trip between two clients, ms: the model between their positions plus both last miles, both ways. */
export function trueRttMs(a: SimClient, b: SimClient): number {
  return modelRttMs(a, b) + 2 * a.lastMileMs + 2 * b.lastMileMs;
}

/**
 * `clients` arrivals at `ratePerSec` (Poisson). The draws do not depend on the rate: the same
 * seed gives the same clients in the same order at every rate, only the times scale.
 */
export function generateArrivals(opts: { clients: number; ratePerSec: number; seed: number }): SimClient[] {
  const rand = seededRandom(opts.seed);
  const total = CITIES.reduce((s, c) => s + c.weight, 0);
  const out: SimClient[] = [];
  let t = 0;
  for (let i = 0; i < opts.clients; i++) {
    t += (-Math.log(1 - rand()) / opts.ratePerSec) * 1000;
    let pick = rand() * total;
    let city = CITIES[CITIES.length - 1]!;
    for (const c of CITIES) {
      if (pick < c.weight) { city = c; break; }
      pick -= c.weight;
    }
    // Uniform in a disc of SCATTER_KM around the centre (flat-earth offset; fine at 30 km).
    const r = SCATTER_KM * Math.sqrt(rand());
    const theta = 2 * Math.PI * rand();
    const lat = city.lat + (r * Math.cos(theta)) / 111.2;
    const lon = city.lon + (r * Math.sin(theta)) / (111.2 * Math.cos((city.lat * Math.PI) / 180));
    const lastMileMs = LAST_MILE_MS[0] + (LAST_MILE_MS[1] - LAST_MILE_MS[0]) * rand();
    const rtts: LandmarkRtts = {};
    for (const l of LANDMARKS) rtts[l.name] = rttBucket(modelRttMs({ lat, lon }, l) + 2 * lastMileMs);
    out.push({ id: `c${i}`, atMs: t, city: city.name, lat, lon, lastMileMs, rtts });
  }
  return out;
}

/** One pair the matchmaker made. */
export interface SimPair {
  offerer: string;
  answerer: string;
  /** The longer wait of the two (the offerer's), ms. */
  waitedMs: number;
  trueRttMs: number;
  /** The landmark estimate (the matchmaker's, or computed the same way in random mode); null if none. */
  estimatedRttMs: number | null;
}

/** One mode run over one arrival sequence. */
export interface SimRun {
  mode: PairingMode;
  clients: number;
  pairs: SimPair[];
  unmatched: number;
  /** Simulated time at the end, ms. */
  endMs: number;
}

/** Runs the in-memory matchmaker in `mode` over `arrivals` (sorted by time) with a fake clock. */
export async function runPairing(arrivals: readonly SimClient[], mode: PairingMode, tiers: readonly NearbyTier[] = DEFAULT_NEARBY_TIERS): Promise<SimRun> {
  let now = 0;
  const byId = new Map(arrivals.map((c) => [c.id, c]));
  const notices = new Map<string, MatchNotice>();
  const pairs: SimPair[] = [];
  let waiting = 0;
  const mm = new MemoryMatchmaker({
    hubs: [HUB], interestFallbackMs: 5000, rematchCooldownMs: 60_000, privateCodeTtlMs: 600_000,
    pairing: mode, nearbyTiers: tiers, now: () => now, tickMs: 1e9, // the timer never fires; ticks are driven below
  }, {
    matched(clientId, notice) {
      const other = notices.get(notice.matchId);
      if (!other) { notices.set(notice.matchId, notice); return; }
      notices.delete(notice.matchId);
      waiting -= 2;
      const a = byId.get(clientId)!;
      const b = byId.get(notice.partnerId)!;
      const offerer = notice.role === 'offerer' ? notice : other;
      pairs.push({
        offerer: offerer === notice ? clientId : notice.partnerId,
        answerer: offerer === notice ? notice.partnerId : clientId,
        waitedMs: Math.max(notice.waitedMs, other.waitedMs),
        trueRttMs: trueRttMs(a, b),
        estimatedRttMs: notice.estimatedRttMs ?? estimatePairRttMs(a.rtts, b.rtts),
      });
    },
    partnerLeft() {},
    signal() { return false; },
    privateExpired() {},
  });
  try {
    let nextTick = SIM_TICK_MS;
    for (const c of arrivals) {
      while (nextTick <= c.atMs) {
        now = nextTick;
        if (waiting > 1) mm.tick(); // with one or none waiting a tick can pair nobody
        nextTick += SIM_TICK_MS;
      }
      now = c.atMs;
      waiting++;
      await mm.enqueue({ clientId: c.id, hub: HUB, interests: [], rtts: c.rtts });
    }
    const last = arrivals.length ? arrivals[arrivals.length - 1]!.atMs : 0;
    const until = last + widestWaitMs(tiers) + SIM_TICK_MS;
    while (waiting > 1 && nextTick <= until) {
      now = nextTick;
      mm.tick();
      nextTick += SIM_TICK_MS;
    }
  } finally {
    await mm.close();
  }
  return { mode, clients: arrivals.length, pairs, unmatched: waiting, endMs: now };
}

/** What a run (or a pool of runs) comes to. */
export interface PairingSummary {
  pairs: number;
  trueRttP50: number;
  trueRttP95: number;
  estRttP50: number;
  waitP50: number;
  waitP95: number;
  /** Share of pairs whose TRUE round trip is over {@link SLOW_RTT_MS}, 0..1. */
  over320: number;
  unmatched: number;
}

/** Summarises one or more runs (pooling their pairs). */
export function summarize(runs: readonly SimRun[]): PairingSummary {
  const pairs = runs.flatMap((r) => r.pairs);
  const trueRtt = pairs.map((p) => p.trueRttMs);
  const est = pairs.flatMap((p) => (p.estimatedRttMs === null ? [] : [p.estimatedRttMs]));
  const wait = pairs.map((p) => p.waitedMs);
  return {
    pairs: pairs.length,
    trueRttP50: quantile(trueRtt, 0.5),
    trueRttP95: quantile(trueRtt, 0.95),
    estRttP50: quantile(est, 0.5),
    waitP50: quantile(wait, 0.5),
    waitP95: quantile(wait, 0.95),
    over320: pairs.length ? trueRtt.filter((x) => x > SLOW_RTT_MS).length / pairs.length : NaN,
    unmatched: runs.reduce((s, r) => s + r.unmatched, 0),
  };
}

/** Both modes over the same arrivals at one rate. */
export async function simulateRate(opts: { clients: number; ratePerSec: number; seed: number; tiers?: readonly NearbyTier[] }): Promise<Record<PairingMode, SimRun>> {
  const arrivals = generateArrivals(opts);
  return { nearby: await runPairing(arrivals, 'nearby', opts.tiers), random: await runPairing(arrivals, 'random') };
}

function summaryTable(s: Record<PairingMode, PairingSummary>): string {
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
  const rows: (string | number)[][] = [['mode', 'pairs', 'true RTT p50 ms', 'true RTT p95 ms', 'est. RTT p50 ms', 'wait p50 ms', 'wait p95 ms', `> ${SLOW_RTT_MS} ms`, 'unmatched']];
  for (const mode of ['nearby', 'random'] as const) {
    const x = s[mode];
    rows.push([mode, String(x.pairs), ms(x.trueRttP50), ms(x.trueRttP95), ms(x.estRttP50), ms(x.waitP50), ms(x.waitP95), `${(100 * x.over320).toFixed(1)}%`, String(x.unmatched)]);
  }
  const n = s.nearby;
  const r = s.random;
  rows.push(['nearby/random', '', ratio(n.trueRttP50, r.trueRttP50), ratio(n.trueRttP95, r.trueRttP95), ratio(n.estRttP50, r.estRttP50), '', '', '', '']);
  return table(rows);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const clients = Number(arg('clients') ?? 10_000);
  if (!Number.isInteger(clients) || clients < 2) throw new Error('--clients: a whole number of at least 2');
  const rates = (arg('rates') ?? '0.5,2,10,50').split(',').filter(Boolean).map(Number);
  if (!rates.length || rates.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error('--rates: comma-separated arrivals per second, each above 0');
  const seed = Number(arg('seed') ?? 1);
  if (!Number.isInteger(seed)) throw new Error('--seed: a whole number');
  const tiersArg = arg('tiers');
  const tiers: NearbyTier[] = tiersArg === undefined ? [...DEFAULT_NEARBY_TIERS] : tiersArg.split(',').filter(Boolean).map((t) => {
    const [untilMs, maxRttMs] = t.split(':').map(Number);
    if (!Number.isFinite(untilMs) || !Number.isFinite(maxRttMs)) throw new Error('--tiers: untilMs:maxRttMs,... (e.g. 2000:60,5000:150)');
    return { untilMs: untilMs!, maxRttMs: maxRttMs! };
  });
  const started = performance.now();
  const runs: Record<PairingMode, SimRun[]> = { nearby: [], random: [] };
  for (const rate of rates) {
    const t0 = performance.now();
    const r = await simulateRate({ clients, ratePerSec: rate, seed, tiers });
    runs.nearby.push(r.nearby);
    runs.random.push(r.random);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(`\n${rate} arrivals/s, ${clients} clients in hub ${HUB} (${(r.nearby.endMs / 1000).toFixed(0)} s simulated, ${secs} s to run)\n`);
    process.stdout.write(`${summaryTable({ nearby: summarize([r.nearby]), random: summarize([r.random]) })}\n`);
  }
  // The headline: all rates pooled (every pair made at every rate counts once).
  const pooled = { nearby: summarize(runs.nearby), random: summarize(runs.random) };
  process.stdout.write(`\nAll rates pooled (${rates.join(', ')} arrivals/s, ${clients} clients each, seed ${seed})\n${summaryTable(pooled)}\n`);
  process.stdout.write(`landmarks: ${LANDMARKS.map((l) => l.name).join(', ')}; nearby tiers: ${tiers.map((t) => `< ${t.maxRttMs} ms until ${t.untilMs} ms`).join(', ')}, then anyone; ${((performance.now() - started) / 1000).toFixed(1)} s in all\n`);
  const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
  process.stdout.write(`${JSON.stringify({
    bench: 'pairing',
    medianPairRttMs: { nearby: Math.round(pooled.nearby.trueRttP50), random: Math.round(pooled.random.trueRttP50) },
    p95WaitMs: { nearby: Math.round(pooled.nearby.waitP95), random: Math.round(pooled.random.waitP95) },
    over320ms: { nearby: round4(pooled.nearby.over320), random: round4(pooled.random.over320) },
  })}\n`);
}

// The CLI runs only when this file is executed, not when the test imports it.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
