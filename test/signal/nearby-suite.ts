/**
 * Nearby pairing through a real server, for every Matchmaker: run against the in-memory
 * implementation (nearby-suite.memory.test.ts) and the Redis one (nearby-suite.redis.test.ts).
 * Raw clients send `join` with round trips to the server's landmarks (its own STUN responder,
 * "chennai", and "london"); the real 2 s and 5 s widening is waited for, never slept through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import type { SignalServerOptions } from '../../src/signal/options.js';
import { Clients, startServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

export interface NearbySuiteHooks {
  /** Implementation options (e.g. the Redis URL). */
  extra: () => Partial<SignalServerOptions>;
  beforeEachTest?: () => Promise<void>;
  /** The fields Redis keeps for a client (its hash); absent for the in-memory matchmaker. */
  clientHash?: (clientId: string) => Promise<Record<string, string>>;
}

const LANDMARKS = { region: 'chennai', landmarks: [{ name: 'london', url: 'stun:198.51.100.7:3478' }] };
// Round trips to the two landmarks, as clients in these places would send them.
const LONDON = { chennai: 175, london: 15 };
const CHENNAI = { chennai: 5, london: 325 }; // 190 ms from LONDON
const COIMBATORE = { chennai: 15, london: 350 }; // 20 ms from CHENNAI
const MUMBAI = { chennai: 105, london: 120 }; // 110 ms from CHENNAI: over 90, under 180
const NEW_YORK = { chennai: 205, london: 80 }; // 210 ms from CHENNAI: over 180

export function nearbySuite(name: string, hooks: NearbySuiteHooks): void {
  let server: SignalServer;
  let clients: Clients;

  async function setup(opts: Partial<SignalServerOptions> = {}) {
    await hooks.beforeEachTest?.();
    server = await startServer({ ...LANDMARKS, ...opts, ...hooks.extra() });
    clients = new Clients(server);
  }
  afterEach(async () => {
    await clients?.closeAll();
    await server?.close();
  });

  async function metric(line: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    // Labels in any order.
    const key = (l: string) => l.replace(/\{(.*)\}/, (_, inner: string) => `{${inner.split(',').sort().join(',')}}`);
    const found = text.split('\n').find((l) => key(l.split(' ')[0]!) === key(line));
    return found ? Number(found.split(' ').pop()) : 0;
  }

  /** With Redis: the client's round trips are kept (in its hash) exactly while it waits. */
  async function expectRtts(c: TestClient, kept: boolean): Promise<void> {
    if (!hooks.clientHash) return;
    const hash = await hooks.clientHash(c.sessionId);
    if (kept) expect(JSON.parse(hash.rtt ?? 'null')).toBeTypeOf('object');
    else expect(hash).not.toHaveProperty('rtt');
  }

  async function join(c: TestClient, hub: string, rtts?: Record<string, number>, interests?: string[]): Promise<void> {
    c.send({ type: 'join', hub, ...(rtts ? { rtts } : {}), ...(interests ? { interests } : {}) });
  }

  describe(name, () => {
    it('announces the landmarks in welcome', async () => {
      await setup();
      const c = await clients.connect();
      const w = c.raw.map((r) => JSON.parse(r) as { type: string; landmarks?: { name: string }[] }).find((m) => m.type === 'welcome');
      expect(w?.landmarks?.map((l) => l.name)).toEqual(['chennai', 'london']);
    });

    it('pairs a newcomer with the near waiting stranger, not the earlier far one, and forgets the numbers', async () => {
      await setup();
      const [london, chennai, coimbatore] = [await clients.connect(), await clients.connect(), await clients.connect()];
      await join(london, 'tamil', LONDON);
      await london.next('queued');
      await join(chennai, 'tamil', CHENNAI);
      await chennai.next('queued'); // 190 ms from london: not paired on arrival
      await expectRtts(chennai, true);
      await join(coimbatore, 'tamil', COIMBATORE);
      const m = await coimbatore.next('matched');
      const mc = await chennai.next('matched');
      expect(mc.matchId).toBe(m.matchId);
      expect(mc.role).toBe('offerer');
      await london.sync();
      expect(london.pending('matched')).toHaveLength(0);
      expect(await metric('chatzyo_match_rtt_estimate_ms_count')).toBe(1);
      expect(await metric('chatzyo_match_rtt_estimate_ms_sum')).toBe(20);
      await expectRtts(chennai, false);
      await expectRtts(coimbatore, false);

      // Still waiting, the numbers are kept; they go when the client leaves the queue.
      await expectRtts(london, true);
      london.send({ type: 'leave' });
      await london.sync();
      await expectRtts(london, false);
      expect(await server.matchmaker.placement(london.sessionId)).toEqual({ kind: 'none' });
    });

    it('pairs farther strangers once the wait widens: 110 ms after 2 s, 210 ms after 5 s', async () => {
      await setup();
      const [a1, a2, b1, b2] = [await clients.connect(), await clients.connect(), await clients.connect(), await clients.connect()];
      const t0 = Date.now();
      await join(a1, 'tamil', CHENNAI);
      await join(b1, 'usa', CHENNAI);
      await a1.next('queued');
      await b1.next('queued');
      await join(a2, 'tamil', MUMBAI);
      await join(b2, 'usa', NEW_YORK);
      await a2.next('queued');
      await b2.next('queued');
      // The offerer is the one who waited longer; `matched` carries no wait, so it is timed here.
      const ma = await a1.next('matched', 8000);
      const waitedA = Date.now() - t0;
      expect(ma.role).toBe('offerer');
      expect(waitedA).toBeGreaterThanOrEqual(1900);
      expect(waitedA).toBeLessThan(4900);
      expect((await a2.next('matched')).matchId).toBe(ma.matchId);
      const mb = await b1.next('matched', 8000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
      expect((await b2.next('matched')).matchId).toBe(mb.matchId);
      // The server's view of the longer wait: one pair within 3 s, the other not.
      expect(await metric('chatzyo_match_pair_wait_seconds_count{estimate="known"}')).toBe(2);
      expect(await metric('chatzyo_match_pair_wait_seconds_bucket{estimate="known",le="3"}')).toBe(1);
      expect(await metric('chatzyo_match_rtt_estimate_ms_count')).toBe(2);
      expect(await metric('chatzyo_match_rtt_estimate_ms_sum')).toBe(110 + 210);
      for (const c of [a1, a2, b1, b2]) await expectRtts(c, false);
    }, 20_000);

    it('pairs clients without round trips at once, in arrival order', async () => {
      await setup();
      const [london, chennai, plain, plain2] = [await clients.connect(), await clients.connect(), await clients.connect(), await clients.connect()];
      await join(london, 'tamil', LONDON);
      await london.next('queued');
      await join(chennai, 'tamil', CHENNAI);
      await chennai.next('queued');
      await join(plain, 'tamil');
      const m = await plain.next('matched');
      expect((await london.next('matched')).matchId).toBe(m.matchId);
      await join(plain2, 'tamil');
      expect((await chennai.next('matched')).matchId).toBe((await plain2.next('matched')).matchId);
      expect(await metric('chatzyo_match_rtt_estimate_ms_count')).toBe(0);
      expect(await metric('chatzyo_match_pair_wait_seconds_count{estimate="unknown"}')).toBe(2);
      for (const c of [london, chennai]) await expectRtts(c, false);
    });

    it('a shared interest comes first: a far stranger who shares one over a near one who does not', async () => {
      await setup();
      const [london, coimbatore, chennai] = [await clients.connect(), await clients.connect(), await clients.connect()];
      await join(london, 'tamil', { chennai: 60, london: 15 }, ['cricket']); // 65 ms from chennai
      await london.next('queued');
      await join(coimbatore, 'tamil', COIMBATORE);
      await coimbatore.next('queued');
      await join(chennai, 'tamil', CHENNAI, ['cricket']);
      const m = await chennai.next('matched');
      expect(m.commonInterests).toEqual(['cricket']);
      expect((await london.next('matched')).matchId).toBe(m.matchId);
    });

    it('with --pairing random announces no landmarks and pairs in arrival order whatever the distance', async () => {
      await setup({ pairing: 'random' });
      const [london, chennai] = [await clients.connect(), await clients.connect()];
      expect(london.raw.some((r) => r.includes('landmarks'))).toBe(false);
      await join(london, 'tamil', LONDON);
      await london.next('queued');
      await join(chennai, 'tamil', CHENNAI);
      expect((await chennai.next('matched')).matchId).toBe((await london.next('matched')).matchId);
      await expectRtts(london, false);
    });
  });
}
