import { afterEach, describe, expect, it } from 'vitest';
import type { SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from './helpers.js';

let servers: SignalServer[] = [];
const sessions = new Sessions();
const FAST_BACKOFF = { baseMs: 100, capMs: 800, minMs: 50 };

afterEach(async () => {
  await sessions.closeAll();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function server(opts: Parameters<typeof startServer>[0] = {}, deps: Parameters<typeof startServer>[1] = {}): Promise<SignalServer> {
  const s = await startServer({ rematchCooldownMs: 0, ...opts }, deps);
  servers.push(s);
  return s;
}

describe('server restart', () => {
  it('both peers reconnect with jittered backoff, re-queue and connect to each other again', async () => {
    const first = await server();
    const port = first.port;
    const [a, ra] = sessions.create({ server: first.url, backoff: FAST_BACKOFF, audio: null }, 'A');
    const [b, rb] = sessions.create({ server: first.url, backoff: FAST_BACKOFF, audio: null }, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    const m1 = await ra.next('matched', 10_000);
    await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);

    await first.close();
    const [da, db] = await Promise.all([ra.next('disconnected', 5000), rb.next('disconnected', 5000)]);
    expect(da.willReconnect).toBe(true);
    expect(db.code).toBe(4005);
    expect(a.state).toBe('idle');
    expect(a.call).toBeNull();

    // The server comes back on the same port; both find it, say hello again and re-join.
    await server({ port });
    const [wa] = await Promise.all([
      ra.next('welcome', 15_000, (w) => w.reconnected),
      rb.next('welcome', 15_000, (w) => w.reconnected),
    ]);
    expect(wa.sessionId).not.toBe('');
    const m2 = await ra.next('matched', 15_000);
    expect(m2.matchId).not.toBe(m1.matchId);
    await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);
    await rb.next('stats', 15_000, (s) => s.matchId === m2.matchId && s.framesReceived >= 10);
    expect(a.videoSource!.exited).toBe(false);
  });
});

/**
 * A signaling path that loses ICE candidates: every candidate of the ICE generations in `lost`
 * (named by ufrag) is dropped, so neither side has anything to check and ICE fails.
 */
function losingCandidates(lose: (ufrag: string, nth: number) => boolean) {
  const seen: string[] = [];
  const lost = new Set<string>();
  return {
    tamper(data: SignalData): SignalData {
      if (data.kind === 'offer' || data.kind === 'answer') {
        const ufrag = /^a=ice-ufrag:(\S+)/m.exec(data.sdp)?.[1] ?? '';
        if (!seen.includes(ufrag)) seen.push(ufrag);
        if (lose(ufrag, seen.indexOf(ufrag))) {
          lost.add(ufrag);
          return { ...data, sdp: data.sdp.replace(/^a=candidate:.*\r\n/gm, '') };
        }
        return data;
      }
      if (data.kind === 'candidate') {
        const ufrag = data.candidate.usernameFragment ?? /ufrag (\S+)/.exec(data.candidate.candidate)?.[1] ?? '';
        // A candidate with no ufrag (werift's srflx) belongs to the latest generation.
        if (lost.has(ufrag) || (!ufrag && lost.has(seen.at(-1) ?? ''))) return { kind: 'candidate', candidate: { candidate: '' } };
      }
      return data;
    },
  };
}

describe('server gone for good', () => {
  it('gives up after the reconnect timeout with CHZ_ERR_SERVER_UNREACHABLE', async () => {
    const s = await server();
    const [a, ra] = sessions.create({ server: s.url, backoff: FAST_BACKOFF, reconnectTimeoutMs: 1500, video: null, audio: null }, 'A');
    await withTimeout(a.start(), 15_000, 'start');
    await ra.next('queued', 5000);
    await s.close();
    expect((await ra.next('disconnected', 5000)).willReconnect).toBe(true);
    const ended = await ra.next('ended', 10_000);
    expect(ended.reason).toBe('error');
    expect(ended.error?.code).toBe('CHZ_ERR_SERVER_UNREACHABLE');
    expect(ra.all('disconnected').length).toBeGreaterThan(1);
    expect(a.state).toBe('ended');
  });
});

describe('ICE failure', () => {
  it('fails the first ICE attempt, restarts ICE once, and connects', async () => {
    // The first offer and answer (two ufrags) lose their candidates; the restart's get through.
    const net = losingCandidates((_u, nth) => nth < 2);
    const s = await server({}, { tamper: (d) => net.tamper(d) });
    const [a, ra] = sessions.create({ server: s.url, audio: null }, 'A');
    const [b, rb] = sessions.create({ server: s.url, audio: null }, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    const m = await ra.next('matched', 10_000);
    await Promise.all([ra.next('ice-restart', 20_000), rb.next('ice-restart', 20_000)]);
    const [ca, cb] = await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);
    expect([ca.restarted, cb.restarted]).toEqual([true, true]);
    expect(ca.matchId).toBe(m.matchId);
    await rb.next('stats', 15_000, (x) => x.framesReceived >= 10);
    await ra.next('stats', 15_000, (x) => x.framesReceived >= 10);
    expect([...ra.all('gave-up'), ...rb.all('gave-up')]).toEqual([]);
  });

  it('gives up on a partner when the restart fails too, and re-queues', async () => {
    const net = losingCandidates(() => true);
    const s = await server({}, { tamper: (d) => net.tamper(d) });
    const [a, ra] = sessions.create({ server: s.url, audio: null, video: null, restartTimeoutMs: 3000 }, 'A');
    const [b, rb] = sessions.create({ server: s.url, audio: null, video: null, restartTimeoutMs: 3000 }, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    const m = await ra.next('matched', 10_000);
    await ra.next('ice-restart', 15_000);
    await until(() => ra.all('gave-up').length + rb.all('gave-up').length > 0, 20_000, 'one side gives up on the partner');
    const gaveUp = [...ra.all('gave-up'), ...rb.all('gave-up')][0]!;
    expect(gaveUp.matchId).toBe(m.matchId);
    expect(gaveUp.reason).toMatch(/ICE failed again|did not connect in time/);
    // Whoever gave up pressed Next on the server; the other is told and re-joins; they meet again.
    const m2 = await ra.next('matched', 15_000);
    expect(m2.matchId).not.toBe(m.matchId);
    expect(ra.all('connected')).toEqual([]);
  });
});
