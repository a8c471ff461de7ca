/**
 * The Redis matchmaker's nearby pairing (Lua, redis-scripts.ts) against the in-memory one
 * (pairing.ts), on one fake clock: the same arrivals, leaves and ticks must make the same
 * matches, in the same order, with the same roles, waits, shared interests and estimates.
 * Seeded random hubs, places, interests and departures; a real redis-server.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LandmarkRtts } from '../../src/protocol/index.js';
import type { Matchmaker, MatchmakerListener, MatchmakerOptions, MatchNotice, Placement } from '../../src/signal/matchmaker.js';
import { MemoryMatchmaker } from '../../src/signal/memory-matchmaker.js';
import { RedisMatchmaker } from '../../src/signal/redis-matchmaker.js';
import type { NearbyTier, PairingMode } from '../../src/signal/pairing.js';
import { until } from '../helpers/deadline.js';
import { useRedisWithAdmin } from '../helpers/redis.js';

const r = useRedisWithAdmin();

type Row = [offerer: string, answerer: string, estimate: number | null | undefined, offererWaited: number, answererWaited: number, common: string[]];

// Places by their round trips to three landmarks; some clients send none, some only one landmark.
const PLACES: (LandmarkRtts | undefined)[] = [
  { chennai: 10, london: 160, newyork: 230 }, { chennai: 15, london: 170, newyork: 240 }, { chennai: 60, london: 90, newyork: 150 },
  { chennai: 100, london: 120, newyork: 180 }, { chennai: 160, london: 10, newyork: 80 }, { chennai: 230, london: 80, newyork: 5 },
  { chennai: 35, london: 140 }, { newyork: 20 }, { london: 40 }, undefined, undefined, {},
];
const TAGS = [[], [], [], ['music'], ['cricket'], ['music', 'films'], ['cricket', 'music']];

/** Match ids are random: compared by who is matched with whom. */
function withoutId(p: Placement): Omit<Placement, 'matchId'> {
  if (p.kind !== 'matched') return p;
  const { matchId: _, ...rest } = p;
  return rest;
}

function recorder(rows: Row[], waited: Map<string, number>): MatchmakerListener {
  return {
    matched: (id: string, n: MatchNotice) => {
      // Both notices of a match arrive together; the row is written at the offerer's.
      waited.set(`${id}:${n.partnerId}:${n.role}`, n.waitedMs);
      if (n.role === 'offerer') rows.push([id, n.partnerId, n.estimatedRttMs, n.waitedMs, -1, n.commonInterests]);
    },
    partnerLeft: () => {}, signal: () => true, privateExpired: () => {},
  };
}

async function run(seed: number, pairing: PairingMode, opts: { fallback: number; tiers?: readonly NearbyTier[]; busy?: boolean }) {
  let now = 1_700_000_000_000;
  const base: MatchmakerOptions = {
    hubs: ['tamil', 'usa'], interestFallbackMs: opts.fallback, rematchCooldownMs: 60_000, privateCodeTtlMs: 600_000,
    tickMs: 1e9, now: () => now, pairing, ...(opts.tiers ? { nearbyTiers: opts.tiers } : {}),
  };
  const memRows: Row[] = [];
  const redisRows: Row[] = [];
  const memWaited = new Map<string, number>();
  const redisWaited = new Map<string, number>();
  const mem = new MemoryMatchmaker(base, recorder(memRows, memWaited));
  const red = await RedisMatchmaker.connect({ ...base, url: r.redis.url, nodeId: `n${seed}`, nodeTtlMs: 60_000, prefix: `{chzt}:${seed}:${pairing}:`, registry: new Registry() }, recorder(redisRows, redisWaited));
  const both: [Matchmaker, Matchmaker] = [mem, red];
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const waiting: string[] = [];
  let n = 0;
  try {
    for (let step = 0; step < 160; step++) {
      // 0-2 arrivals a tick (250 ms), now and then a waiting client leaves.
      const arrivals = rnd() < (opts.busy ? 0.7 : 0.35) ? (rnd() < 0.3 ? 2 : 1) : 0;
      for (let k = 0; k < arrivals; k++) {
        const id = `c${n++}`;
        const rtts = pick(PLACES);
        const entry = { clientId: id, hub: rnd() < 0.8 ? 'tamil' : 'usa', interests: pick(TAGS), ...(rtts ? { rtts } : {}) };
        const [pm, pr] = [await mem.enqueue(entry), await red.enqueue(entry)];
        expect(withoutId(pr), `${id} enqueued (seed ${seed}, step ${step})`).toEqual(withoutId(pm));
        waiting.push(id);
      }
      if (waiting.length && rnd() < 0.08) {
        const id = pick(waiting);
        for (const m of both) await m.remove(id, 'leave');
      }
      now += 250;
      mem.tick();
      await red.tick();
      expect(redisRows, `matches after step ${step} (seed ${seed})`).toEqual(memRows);
      if (step % 20 === 0) { mem.checkInvariants(); await red.checkInvariants(); }
    }
    // Nobody pairable is left behind: let every wait pass the last boundary.
    for (let t = 0; t < 40; t++) { now += 250; mem.tick(); await red.tick(); }
    expect(redisRows).toEqual(memRows);
    expect([...redisWaited].sort()).toEqual([...memWaited].sort());
    for (let i = 0; i < n; i++) expect(withoutId(await red.placement(`c${i}`)), `c${i}`).toEqual(withoutId(await mem.placement(`c${i}`)));
    expect(await red.counts()).toEqual(await mem.counts());
    mem.checkInvariants();
    await red.checkInvariants();
    return memRows;
  } finally {
    await mem.close();
    await red.close();
  }
}

// The scenarios of nearby-pairing.test.ts, against both implementations.
const CHENNAI = { chennai: 10, london: 160 };
const COIMBATORE = { chennai: 15, london: 170 };
const LONDON = { chennai: 160, london: 10 };
const DUBAI = { chennai: 60, london: 90 };
const MUMBAI = { chennai: 100, london: 120 };
const NEW_YORK = { chennai: 230, london: 80 };

let scenario = 0;
/** A matchmaker on a clock the test moves, and its matches as [offerer, answerer, estimate, offerer's wait]. */
async function scenarioSetup(impl: 'memory' | 'redis', pairing: PairingMode = 'nearby', interestFallbackMs = 5000, more: Partial<MatchmakerOptions> = {}) {
  let now = 1_000_000;
  const matches: [string, string, number | null | undefined, number][] = [];
  const options: MatchmakerOptions = { hubs: ['tamil'], interestFallbackMs, rematchCooldownMs: 60_000, privateCodeTtlMs: 600_000, tickMs: 1e9, now: () => now, pairing, ...more };
  const listener: MatchmakerListener = {
    matched: (id: string, n: MatchNotice) => { if (n.role === 'offerer') matches.push([id, n.partnerId, n.estimatedRttMs, n.waitedMs]); },
    partnerLeft: () => {}, signal: () => true, privateExpired: () => {},
  };
  const prefix = `{chzs}:${++scenario}:`;
  const mm = impl === 'memory'
    ? new MemoryMatchmaker(options, listener)
    : await RedisMatchmaker.connect({ ...options, url: r.redis.url, nodeId: 'scenarios', nodeTtlMs: 60_000, prefix, registry: new Registry() }, listener);
  const join = (clientId: string, rtts?: LandmarkRtts, interests: string[] = []) => mm.enqueue({ clientId, hub: 'tamil', interests, ...(rtts ? { rtts } : {}) });
  /** Moves the clock by `ms` in ticks of 250 ms, as the matchmaker's timer would. */
  const wait = async (ms: number) => { for (let t = 0; t < ms; t += 250) { now += 250; await mm.tick(); } };
  const check = async () => { if (mm instanceof RedisMatchmaker) await mm.checkInvariants(); else mm.checkInvariants(); };
  const advance = (ms: number) => { now += ms; };
  return { mm, matches, join, wait, check, advance, prefix };
}

describe.each(['memory', 'redis'] as const)('nearby pairing scenarios (%s)', (impl) => {
  it('pairs a newcomer with the near stranger, not the one who came first from far away', async () => {
    const { mm, join, matches, check } = await scenarioSetup(impl);
    await join('london', LONDON);
    await join('chennai', CHENNAI);
    expect(matches).toEqual([]);
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([['chennai', 'coimbatore', 25, 0]]);
    await check();
    await mm.close();
  });

  it('accepts a farther stranger once the wait widens the limit, and anyone after 5 s', async () => {
    const { mm, join, matches, wait, check } = await scenarioSetup(impl);
    await join('chennai', CHENNAI);
    await join('mumbai', MUMBAI);
    await wait(1750);
    expect(matches).toEqual([]);
    await wait(250);
    expect(matches).toEqual([['chennai', 'mumbai', 110, 2000]]);
    await join('chennai-2', CHENNAI);
    await join('new-york', NEW_YORK);
    await wait(4750);
    expect(matches).toHaveLength(1);
    await wait(250);
    expect(matches[1]).toEqual(['chennai-2', 'new-york', 240, 5000]);
    await join('chennai-3', CHENNAI);
    await join('dubai', DUBAI);
    expect(matches[2]).toEqual(['chennai-3', 'dubai', 70, 0]);
    await check();
    await mm.close();
  });

  it('pairs clients without numbers as before: at once, in arrival order', async () => {
    const { mm, join, matches } = await scenarioSetup(impl);
    await join('old-client');
    await join('chennai', CHENNAI);
    expect(matches).toEqual([['old-client', 'chennai', null, 0]]);
    await mm.close();
  });

  it('prefers a near stranger who shares an interest over a far one who shares it', async () => {
    const { mm, join, matches, wait, check } = await scenarioSetup(impl);
    await join('chennai-cricket', CHENNAI, ['cricket']);
    await join('far-cricket', NEW_YORK, ['cricket']);
    await join('near-plain', COIMBATORE, []);
    await wait(4750);
    expect(matches).toEqual([]);
    await join('near-cricket', { chennai: 20, london: 170 }, ['cricket']);
    expect(matches).toEqual([['chennai-cricket', 'near-cricket', 30, 4750]]);
    await wait(250);
    expect(matches[1]).toEqual(['far-cricket', 'near-plain', 245, 5000]);
    await check();
    await mm.close();
  });

  it('once tags no longer bind, takes the nearer of a far stranger who shares one and a near one who does not', async () => {
    const { mm, join, matches, wait } = await scenarioSetup(impl);
    await join('chennai-cricket', CHENNAI, ['cricket']);
    await join('far-cricket', NEW_YORK, ['cricket']);
    await join('near-plain', COIMBATORE, []);
    await wait(5000);
    expect(matches[0]).toEqual(['chennai-cricket', 'near-plain', 25, 5000]);
    await mm.close();
  });

  it('once tags no longer bind and neither is near, prefers the one who shares an interest over a nearer one', async () => {
    const { mm, join, matches, wait } = await scenarioSetup(impl, 'nearby', 1000);
    await join('chennai-cricket', CHENNAI, ['cricket']);
    await join('far-cricket', { chennai: 160, london: 30 }, ['cricket']); // 170 ms
    await join('plain', { chennai: 110, london: 200 }); // 120 ms, nearer, no interest
    await wait(1750); // tags no longer bind after 1 s, but neither is within 90 ms
    expect(matches).toEqual([]);
    await wait(250); // 2 s: both within 180 ms; the shared interest wins
    expect(matches[0]).toEqual(['chennai-cricket', 'far-cricket', 170, 2000]);
    await mm.close();
  });

  it('re-examines two waiting clients when their rematch cooldown ends', async () => {
    // No tiers (anyone at once) and a long interest wait: only the cooldown's end can pair them.
    // Redis times cooldowns on its own clock: the test polls the tick, moving the fake one slowly.
    const { mm, join, matches, advance } = await scenarioSetup(impl, 'nearby', 60_000, { rematchCooldownMs: 300, nearbyTiers: [] });
    await join('a', CHENNAI);
    await join('b', COIMBATORE);
    expect(matches).toHaveLength(1);
    await mm.endMatch('a', 'next');
    await join('a', CHENNAI);
    await join('b', COIMBATORE);
    expect(matches).toHaveLength(1);
    await until(async () => { advance(25); await mm.tick(); return matches.length === 2; }, 5000, 'paired again after the cooldown', 10);
    expect(matches[1]).toEqual(['a', 'b', 25, expect.any(Number)]);
    await mm.close();
  });

  it('with --pairing random keeps arrival order whatever the distance', async () => {
    const { mm, join, matches } = await scenarioSetup(impl, 'random');
    await join('london', LONDON);
    await join('chennai', CHENNAI);
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([['london', 'chennai', null, 0]]);
    await mm.close();
  });

  it('forgets the numbers with the queue entry', async () => {
    const { mm, join, matches, check, prefix } = await scenarioSetup(impl);
    await join('chennai', CHENNAI);
    await mm.remove('chennai', 'leave');
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([]);
    expect(await mm.placement('chennai')).toEqual({ kind: 'none' });
    // Also when the waiting client turns to a private call instead.
    await join('x', LONDON);
    if (impl === 'redis') expect(await r.admin.hget(`${prefix}c:x`, 'rtt')).toBe(JSON.stringify(LONDON));
    await mm.createPrivate('x');
    if (impl === 'redis') expect(await r.admin.hgetall(`${prefix}c:x`)).toMatchObject({ st: 'p' });
    if (impl === 'redis') expect(await r.admin.hgetall(`${prefix}c:x`)).not.toHaveProperty('rtt');
    await check();
    await mm.close();
  });
});

describe('the Redis matchmaker pairs as the in-memory one does', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`nearby pairing, seed ${seed}: the same matches, roles, waits, interests and estimates`, async () => {
      const rows = await run(seed, 'nearby', { fallback: 1500 });
      // The scenario exercised what it is meant to: near pairs, farther ones after a wait, unknown estimates.
      expect(rows.some((r) => typeof r[2] === 'number' && r[2] <= 90)).toBe(true);
      expect(rows.some((r) => r[2] === null)).toBe(true);
      expect(rows.length).toBeGreaterThan(15);
    });
  }

  it('in a busy hub with a short interest wait (tags ranked against nearness)', async () => {
    const rows = await run(8, 'nearby', { fallback: 300, busy: true });
    expect(rows.some((r) => r[5].length > 0 && r[3] >= 300)).toBe(true);
  });

  it('with other tiers and an interest wait past them', async () => {
    const rows = await run(5, 'nearby', { fallback: 3000, tiers: [{ untilMs: 500, maxRttMs: 40 }, { untilMs: 1000, maxRttMs: 100 }, { untilMs: 2000, maxRttMs: 200 }] });
    expect(rows.some((r) => typeof r[2] === 'number' && r[2] > 200)).toBe(true);
  });

  it('with no tiers (anyone at once, nearer first) and with --pairing random', async () => {
    await run(6, 'nearby', { fallback: 1000, tiers: [] });
    const rows = await run(7, 'random', { fallback: 1000 });
    expect(rows.every((r) => r[2] === null)).toBe(true);
  });
});

describe('a crowd crossing a boundary at once (Redis)', () => {
  it('is examined over a few ticks, none forgotten, and paired when the limit allows', async () => {
    let now = 1_000_000;
    let matched = 0;
    const prefix = '{chzc}:';
    const mm = await RedisMatchmaker.connect({
      hubs: ['tamil'], interestFallbackMs: 60_000, rematchCooldownMs: 60_000, privateCodeTtlMs: 600_000, tickMs: 1e9, now: () => now,
      url: r.redis.url, nodeId: 'crowd', nodeTtlMs: 60_000, prefix, registry: new Registry(),
    }, { matched: (_id, n) => { if (n.role === 'offerer') matched++; }, partnerLeft: () => {}, signal: () => true, privateExpired: () => {} });
    try {
      // 500 clients 200 ms from one another: acceptable to each other only after 5 s.
      for (let i = 0; i < 500; i++) await mm.enqueue({ clientId: `c${i}`, hub: 'tamil', interests: [], rtts: { a: 100 } });
      expect(matched).toBe(0);
      const due = () => r.admin.zcount(`${prefix}nb:tamil`, '-inf', String(now));
      now += 2000; // everyone crosses 2 s in one tick: more than one tick's work
      await mm.tick();
      const left = await due();
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(500);
      for (let t = 0; t < 20 && (await due()) > 0; t++) await mm.tick();
      expect(await due()).toBe(0);
      expect(await r.admin.zcount(`${prefix}nb:tamil`, 1_005_000, 1_005_000)).toBe(500); // next: 5 s
      expect(matched).toBe(0);
      now += 3000; // 5 s: anyone; at most 16 matches a tick
      for (let t = 0; t < 40 && matched < 250; t++) await mm.tick();
      expect(matched).toBe(250);
      expect(await r.admin.zcard(`${prefix}nb:tamil`)).toBe(0);
      await mm.checkInvariants();
    } finally {
      await mm.close();
    }
  });
});
