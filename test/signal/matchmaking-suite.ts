/**
 * The matchmaking behaviour every Matchmaker must have. Run against the in-memory implementation
 * (matchmaking.memory.test.ts) and the Redis one (matchmaking.redis.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import type { SignalServerOptions } from '../../src/signal/options.js';
import { Clients, pair, startServer } from '../helpers/server.js';

/** Registers the shared suite; `extra()` adds implementation options (e.g. the Redis URL). */
export function matchmakingSuite(name: string, extra: () => Partial<SignalServerOptions>, beforeEachTest: () => Promise<void> = async () => {}): void {
  let server: SignalServer;
  let clients: Clients;

  async function setup(opts: Partial<SignalServerOptions> = {}) {
    await beforeEachTest();
    server = await startServer({ ...opts, ...extra() });
    clients = new Clients(server);
  }
  afterEach(async () => {
    await clients?.closeAll();
    await server?.close();
  });

  describe(name, () => {

  describe('pairing', () => {
    beforeEach(() => setup());

    it('pairs two strangers in a hub with one offerer and one answerer and a fresh match id', async () => {
      const a = await clients.connect();
      const b = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      expect(await a.next('queued')).toMatchObject({ hub: 'tamil', position: 1 });
      b.send({ type: 'join', hub: 'tamil' });
      const ma = await a.next('matched');
      const mb = await b.next('matched');
      expect(ma.matchId).toBe(mb.matchId);
      expect(new Set([ma.role, mb.role])).toEqual(new Set(['offerer', 'answerer']));
      expect(ma.hub).toBe('tamil');
      expect(ma.private).toBe(false);
    });

    it('welcome carries a session id, the ICE servers (built-in STUN), hubs and limits', async () => {
      const a = await clients.connect();
      const w = a.received.find((m) => m.type === 'welcome');
      expect(w).toBeUndefined(); // consumed by connect()
      expect(a.sessionId).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      const b = await clients.connect();
      expect(b.sessionId).not.toBe(a.sessionId);
    });

    it('keeps hubs apart', async () => {
      const a = await clients.connect();
      const b = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      b.send({ type: 'join', hub: 'usa' });
      await a.next('queued');
      await b.next('queued');
      const c = await clients.connect();
      c.send({ type: 'join', hub: 'usa' });
      const mc = await c.next('matched');
      const mb = await b.next('matched');
      expect(mc.matchId).toBe(mb.matchId);
      await a.sync();
      expect(a.pending('matched')).toHaveLength(0);
    });

    it('matches the first waiting stranger (FIFO)', async () => {
      const a = await clients.connect();
      const b = await clients.connect();
      const c = await clients.connect();
      a.send({ type: 'join', hub: 'uk' });
      await a.next('queued');
      b.send({ type: 'join', hub: 'hindi' });
      await b.next('queued');
      c.send({ type: 'join', hub: 'uk' });
      expect((await c.next('matched')).matchId).toBe((await a.next('matched')).matchId);
    });

    it('relays signals only to the partner of the current match', async () => {
      const [a, b] = await pair(clients);
      const [c, d] = await pair(clients);
      const offer = { kind: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' };
      a.send({ type: 'signal', matchId: a.matchId, data: offer });
      expect((await b.next('signal')).data).toEqual(offer);
      const cand = { kind: 'candidate', candidate: { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } };
      b.send({ type: 'signal', matchId: b.matchId, data: cand });
      expect((await a.next('signal')).data).toEqual(cand);
      b.send({ type: 'signal', matchId: b.matchId, data: { kind: 'end-of-candidates' } });
      expect((await a.next('signal')).data).toEqual({ kind: 'end-of-candidates' });
      // A signal naming another pair's match is refused and goes nowhere.
      a.send({ type: 'signal', matchId: c.matchId, data: offer });
      await a.error('CHZ_ERR_STALE_MATCH');
      await c.sync();
      await d.sync();
      expect(c.pending('signal')).toHaveLength(0);
      expect(d.pending('signal')).toHaveLength(0);
    });
  });

  describe('next, leave and disconnect', () => {
    beforeEach(() => setup());

    for (const who of ['offerer', 'answerer'] as const) {
      it(`next by the ${who} ends the match for both and re-queues only the presser`, async () => {
        const [off, ans] = await pair(clients);
        const [presser, other] = who === 'offerer' ? [off, ans] : [ans, off];
        const matchId = presser.matchId;
        presser.send({ type: 'next' });
        expect(await other.next('partner-left')).toEqual({ type: 'partner-left', matchId, reason: 'next' });
        expect(await presser.next('queued')).toMatchObject({ hub: 'tamil' });
        // The one left behind is not queued: signalling now is refused.
        other.send({ type: 'signal', matchId, data: { kind: 'end-of-candidates' } });
        await other.error('CHZ_ERR_NOT_MATCHED');
        // A newcomer gets the presser, who is waiting.
        const c = await clients.connect();
        c.send({ type: 'join', hub: 'tamil' });
        expect((await c.next('matched')).matchId).toBe((await presser.next('matched')).matchId);
      });

      it(`leave by the ${who} tells the partner "leave" and queues nobody`, async () => {
        const [off, ans] = await pair(clients);
        const [leaver, other] = who === 'offerer' ? [off, ans] : [ans, off];
        leaver.send({ type: 'leave' });
        expect((await other.next('partner-left')).reason).toBe('leave');
        const counts = await server.matchmaker.counts();
        expect(counts.find((h) => h.name === 'tamil')).toEqual({ name: 'tamil', waiting: 0, inCall: 0 });
      });

      it(`disconnect of the ${who} tells the partner "disconnect"`, async () => {
        const [off, ans] = await pair(clients);
        const [gone, other] = who === 'offerer' ? [off, ans] : [ans, off];
        gone.ws.terminate();
        expect((await other.next('partner-left')).reason).toBe('disconnect');
      });
    }

    it('a client that leaves the queue is never matched', async () => {
      const a = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      await a.next('queued');
      a.send({ type: 'leave' });
      await a.sync();
      const b = await clients.connect();
      b.send({ type: 'join', hub: 'tamil' });
      expect(await b.next('queued')).toMatchObject({ position: 1 });
    });

    it('a disconnected waiting client is never matched', async () => {
      const a = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      await a.next('queued');
      a.ws.terminate();
      await a.closed;
      const b = await clients.connect();
      b.send({ type: 'join', hub: 'tamil' });
      await b.next('queued');
    });
  });

  describe('interests', () => {
    beforeEach(() => setup({ interestFallbackMs: 400 }));

    it('prefers a stranger sharing an interest over an earlier one', async () => {
      const plain = await clients.connect();
      const music = await clients.connect();
      plain.send({ type: 'join', hub: 'global', interests: ['cricket'] });
      await plain.next('queued');
      music.send({ type: 'join', hub: 'global', interests: ['Music', 'films'] });
      await music.next('queued');
      const c = await clients.connect();
      c.send({ type: 'join', hub: 'global', interests: ['music'] });
      const mc = await c.next('matched');
      expect(mc.commonInterests).toEqual(['music']);
      expect((await music.next('matched')).matchId).toBe(mc.matchId);
    });

    it('falls back to anyone in the hub after the interest wait', async () => {
      const a = await clients.connect();
      const b = await clients.connect();
      a.send({ type: 'join', hub: 'global', interests: ['chess'] });
      await a.next('queued');
      const t0 = Date.now();
      b.send({ type: 'join', hub: 'global', interests: ['surfing'] });
      await b.next('queued');
      const ma = await a.next('matched', 3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
      expect(ma.commonInterests).toEqual([]);
      expect((await b.next('matched')).matchId).toBe(ma.matchId);
    });
  });

  describe('rematch cooldown', () => {
    beforeEach(() => setup({ interestFallbackMs: 300, rematchCooldownMs: 60_000 }));

    it('does not rematch the same two while someone else waits', async () => {
      const [a, b] = await pair(clients, 'usa');
      a.send({ type: 'next' });
      await a.next('queued');
      await b.next('partner-left');
      // b comes back: a is waiting but was just skipped, so b waits instead of rematching.
      b.send({ type: 'join', hub: 'usa' });
      await b.next('queued');
      // A third stranger arrives: gets a (longest waiting), and b still waits.
      const c = await clients.connect();
      c.send({ type: 'join', hub: 'usa' });
      const mc = await c.next('matched');
      expect((await a.next('matched')).matchId).toBe(mc.matchId);
      await b.sync();
      expect(b.pending('matched')).toHaveLength(0);
    });

    it('rematches the same two only as a last resort when nobody else comes', async () => {
      const [a, b] = await pair(clients, 'usa');
      a.send({ type: 'next' });
      await a.next('queued');
      await b.next('partner-left');
      b.send({ type: 'join', hub: 'usa' });
      await b.next('queued');
      const mb = await b.next('matched', 3000);
      expect((await a.next('matched')).matchId).toBe(mb.matchId);
    });
  });

  describe('private calls', () => {
    beforeEach(() => setup({ privateCodeTtlMs: 1000 }));

    it('the second person with the code is matched with the creator; a third gets CHZ_ERR_PRIVATE_FULL', async () => {
      const a = await clients.connect();
      a.send({ type: 'private-create' });
      const created = await a.next('private-created');
      expect(created.code).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(Buffer.from(created.code, 'base64url').length).toBeGreaterThanOrEqual(16);
      // A stranger in a hub is never matched into a private call.
      const s = await clients.connect();
      s.send({ type: 'join', hub: 'global' });
      await s.next('queued');
      const b = await clients.connect();
      b.send({ type: 'private-join', code: created.code });
      const ma = await a.next('matched');
      const mb = await b.next('matched');
      expect(ma.matchId).toBe(mb.matchId);
      expect(ma).toMatchObject({ private: true, hub: null, role: 'offerer' });
      expect(mb.role).toBe('answerer');
      const c = await clients.connect();
      c.send({ type: 'private-join', code: created.code });
      await c.error('CHZ_ERR_PRIVATE_FULL');
      await s.sync();
      expect(s.pending('matched')).toHaveLength(0);
    });

    it('an unknown code gets CHZ_ERR_PRIVATE_NOT_FOUND', async () => {
      const a = await clients.connect();
      a.send({ type: 'private-join', code: 'A'.repeat(22) });
      await a.error('CHZ_ERR_PRIVATE_NOT_FOUND');
    });

    it('an unused code expires: the creator is told and a late joiner is refused', async () => {
      const a = await clients.connect();
      a.send({ type: 'private-create' });
      const { code } = await a.next('private-created');
      await a.error('CHZ_ERR_PRIVATE_EXPIRED', 4000);
      const b = await clients.connect();
      b.send({ type: 'private-join', code });
      await b.error('CHZ_ERR_PRIVATE_NOT_FOUND');
      // The creator is back in the ready state and can join a hub.
      a.send({ type: 'join', hub: 'tamil' });
      await a.next('queued');
    });

    it('the creator leaving cancels the code', async () => {
      const a = await clients.connect();
      a.send({ type: 'private-create' });
      const { code } = await a.next('private-created');
      a.send({ type: 'leave' });
      await a.sync();
      const b = await clients.connect();
      b.send({ type: 'private-join', code });
      await b.error('CHZ_ERR_PRIVATE_NOT_FOUND');
    });
  });

  describe('report', () => {
    beforeEach(() => setup());
    it('counts the report, tells the partner, and re-queues the reporter', async () => {
      const [a, b] = await pair(clients);
      a.send({ type: 'report', matchId: a.matchId, reason: 'harassment' });
      expect((await b.next('partner-left')).reason).toBe('next');
      await a.next('queued');
      const text = await server.metrics.registry.getSingleMetricAsString('chatzyo_reports_total');
      expect(text).toMatch(/chatzyo_reports_total\{reason="harassment"\} 1/);
    });
  });
  });
}
