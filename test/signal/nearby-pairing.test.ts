/**
 * Nearby pairing (src/signal/pairing.ts) in the in-memory matchmaker, driven by a fake clock:
 * a near stranger is preferred over one who came earlier from far away; a far one is accepted
 * once the wait has widened the limit (90 ms for 2 s, 180 ms until 5 s, then anyone); clients
 * without numbers are paired as before; a shared interest and a near partner beat either alone;
 * `random` keeps arrival order; each match carries its estimate.
 */
import { describe, expect, it } from 'vitest';
import { LandmarkRtts, rttBucket, type LandmarkRtts as Rtts } from '../../src/protocol/index.js';
import type { MatchNotice } from '../../src/signal/matchmaker.js';
import { MemoryMatchmaker } from '../../src/signal/memory-matchmaker.js';
import { acceptableRttMs, estimatePairRttMs, pickNearby, type PairingMode } from '../../src/signal/pairing.js';

/** A matchmaker on a clock the test moves, and the matches it made as [offerer, answerer, estimate]. */
function setup(pairing: PairingMode = 'nearby') {
  let now = 1_000_000;
  const matches: [string, string, number | null | undefined, number][] = [];
  const mm = new MemoryMatchmaker({
    hubs: ['tamil'], interestFallbackMs: 5000, rematchCooldownMs: 60_000, privateCodeTtlMs: 600_000, tickMs: 1e9, now: () => now, pairing,
  }, {
    matched: (id: string, n: MatchNotice) => { if (n.role === 'offerer') matches.push([id, n.partnerId, n.estimatedRttMs, n.waitedMs]); },
    partnerLeft: () => {}, signal: () => true, privateExpired: () => {},
  });
  const join = (clientId: string, rtts?: Rtts, interests: string[] = []) => mm.enqueue({ clientId, hub: 'tamil', interests, ...(rtts ? { rtts } : {}) });
  /** Moves the clock by `ms` in ticks of 250 ms, as the matchmaker's timer would. */
  const wait = (ms: number) => { for (let t = 0; t < ms; t += 250) { now += 250; mm.tick(); } };
  return { mm, matches, join, wait };
}

// Two landmarks; a client "in Chennai" is near the chennai one, "in London" near the london one.
const CHENNAI = { chennai: 10, london: 160 };
const COIMBATORE = { chennai: 15, london: 170 };
const LONDON = { chennai: 160, london: 10 };
const DUBAI = { chennai: 60, london: 90 }; // 70 ms from Chennai: near
const MUMBAI = { chennai: 100, london: 120 }; // 110 ms from Chennai: neither near nor far
const NEW_YORK = { chennai: 230, london: 80 }; // 240 ms from Chennai: far

describe('the estimate and the limits', () => {
  it('estimates a pair as the smallest sum over shared landmarks; none in common is unknown', () => {
    expect(estimatePairRttMs(CHENNAI, COIMBATORE)).toBe(25);
    expect(estimatePairRttMs(CHENNAI, LONDON)).toBe(170);
    expect(estimatePairRttMs({ a: 5 }, { b: 5 })).toBeNull();
    expect(estimatePairRttMs(undefined, CHENNAI)).toBeNull();
  });

  it('widens with the wait: 90 ms, then 180 ms, then anyone', () => {
    expect([0, 1999, 2000, 4999, 5000, 60_000].map((w) => acceptableRttMs(w))).toEqual([90, 90, 180, 180, Infinity, Infinity]);
  });

  it('ranks a shared interest and a near partner above either alone, then the nearer', () => {
    const me = { waitedMs: 0, rtts: CHENNAI };
    const pick = pickNearby(me, [
      { waitedMs: 10_000, rtts: LONDON, shared: true }, // far, shared interest
      { waitedMs: 10_000, rtts: COIMBATORE, shared: false }, // near, no interest
      { waitedMs: 10_000, rtts: { chennai: 20, london: 170 }, shared: true }, // near and shared
    ]);
    expect(pick).toEqual({ index: 2, estimateMs: 30 });
    expect(pickNearby(me, [{ waitedMs: 10_000, rtts: DUBAI, shared: false }, { waitedMs: 10_000, rtts: COIMBATORE, shared: false }]).index).toBe(1);
  });

  it('rounds round trips to coarse buckets, and the wire refuses what is out of range', () => {
    expect([0, 3, 7, 21, 99, 101, 299, 301, 1999, 5000, -1].map(rttBucket)).toEqual([5, 5, 10, 30, 100, 125, 300, 350, 2000, 2000, 2000]);
    expect(LandmarkRtts.safeParse({ chennai: 10 }).success).toBe(true);
    expect(LandmarkRtts.safeParse({ chennai: -1 }).success).toBe(false);
    expect(LandmarkRtts.safeParse({ chennai: 2001 }).success).toBe(false);
    expect(LandmarkRtts.safeParse({ 'Not A Name': 10 }).success).toBe(false);
    expect(LandmarkRtts.safeParse(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`l${i}`, 10]))).success).toBe(false);
  });
});

describe('nearby pairing in the matchmaker', () => {
  it('pairs a newcomer with the near stranger, not the one who came first from far away', async () => {
    const { join, matches } = setup();
    await join('london', LONDON);
    await join('chennai', CHENNAI);
    expect(matches).toEqual([]); // 170 ms apart: not yet
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([['chennai', 'coimbatore', 25, 0]]);
  });

  it('accepts a farther stranger once the wait widens the limit, and anyone after 5 s', async () => {
    const { join, matches, wait } = setup();
    await join('chennai', CHENNAI);
    await join('mumbai', MUMBAI); // 110 ms: over 90, under 180
    wait(1750);
    expect(matches).toEqual([]);
    wait(250); // chennai has waited 2 s
    expect(matches).toEqual([['chennai', 'mumbai', 110, 2000]]);

    await join('chennai-2', CHENNAI);
    await join('new-york', NEW_YORK); // 240 ms
    wait(4750);
    expect(matches).toHaveLength(1);
    wait(250);
    expect(matches[1]).toEqual(['chennai-2', 'new-york', 240, 5000]);
    await join('chennai-3', CHENNAI);
    await join('dubai', DUBAI); // 70 ms: near, at once
    expect(matches[2]).toEqual(['chennai-3', 'dubai', 70, 0]);
  });

  it('pairs clients without numbers as before: at once, in arrival order', async () => {
    const { join, matches } = setup();
    await join('old-client');
    await join('chennai', CHENNAI);
    expect(matches).toEqual([['old-client', 'chennai', null, 0]]);
  });

  // Interests keep their rule: a client with tags waits up to 5 s (--interest-wait) for someone
  // who shares one, then takes anyone; nearby pairing ranks whoever that rule allows.
  it('prefers a near stranger who shares an interest over a far one who shares it', async () => {
    const { join, matches, wait } = setup();
    await join('chennai-cricket', CHENNAI, ['cricket']);
    await join('far-cricket', NEW_YORK, ['cricket']); // shares the interest, 240 ms away
    await join('near-plain', COIMBATORE, []); // near, no interest: not yet for chennai-cricket
    wait(4750);
    expect(matches).toEqual([]);
    await join('near-cricket', { chennai: 20, london: 170 }, ['cricket']);
    expect(matches).toEqual([['chennai-cricket', 'near-cricket', 30, 4750]]);
    wait(250); // far-cricket has waited 5 s: anyone, whatever the distance
    expect(matches[1]).toEqual(['far-cricket', 'near-plain', 245, 5000]);
  });

  it('once tags no longer bind, takes the nearer of a far stranger who shares one and a near one who does not', async () => {
    const { join, matches, wait } = setup();
    await join('chennai-cricket', CHENNAI, ['cricket']);
    await join('far-cricket', NEW_YORK, ['cricket']);
    await join('near-plain', COIMBATORE, []);
    wait(5000);
    expect(matches[0]).toEqual(['chennai-cricket', 'near-plain', 25, 5000]);
  });

  it('with --pairing random keeps arrival order whatever the distance', async () => {
    const { join, matches } = setup('random');
    await join('london', LONDON);
    await join('chennai', CHENNAI);
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([['london', 'chennai', null, 0]]);
  });

  it('forgets the numbers with the queue entry', async () => {
    const { mm, join, matches } = setup();
    await join('chennai', CHENNAI);
    await mm.remove('chennai', 'leave');
    await join('coimbatore', COIMBATORE);
    expect(matches).toEqual([]);
    expect(await mm.placement('chennai')).toEqual({ kind: 'none' });
    mm.checkInvariants();
    await mm.close();
  });
});
