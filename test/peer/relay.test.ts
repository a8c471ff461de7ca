import { networkInterfaces } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from './helpers.js';

let coturn: Coturn;
let server: SignalServer;
const sessions = new Sessions();
/** Every signal the server relayed, as the partner received it (the server's tamper hook, passing everything through). */
const relayed: { to: string; data: SignalData }[] = [];

beforeAll(async () => {
  coturn = await startCoturn();
  server = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret }, {
    tamper: (data, to) => { relayed.push({ to, data }); return data; },
  });
});
afterEach(async () => {
  await sessions.closeAll();
});
afterAll(async () => {
  await server?.close();
  await coturn?.stop();
});

describe('--relay-only through coturn', () => {
  it('two peers connect through TURN relay candidates only and media flows', async () => {
    const [a, ra] = sessions.create({ server: server.url, relayOnly: true, audio: null }, 'A');
    const [b, rb] = sessions.create({ server: server.url, relayOnly: true, audio: null }, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    expect((await ra.next('welcome', 1000)).turn).toBe(true);
    const [ca, cb] = await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);
    expect([ca.localCandidateType, ca.candidateType]).toEqual(['relay', 'relay']);
    expect([cb.localCandidateType, cb.candidateType]).toEqual(['relay', 'relay']);
    const s = await rb.next('stats', 15_000, (x) => x.framesReceived >= 20);
    expect(s.candidateType).toBe('relay');
    expect(ra.all('warning')).toEqual([]);
  });

  it('the partner receives relay candidates only, each with raddr 0.0.0.0 rport 0, and none of our addresses', async () => {
    relayed.length = 0;
    const [a, ra] = sessions.create({ server: server.url, relayOnly: true, audio: null, video: null }, 'A');
    const [b, rb] = sessions.create({ server: server.url, relayOnly: true, audio: null, video: null }, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);
    // Both sides' gathering has ended (werift sends end-of-candidates at the end of each round).
    await until(() => new Set(relayed.filter((r) => r.data.kind === 'end-of-candidates').map((r) => r.to)).size === 2, 10_000, 'end-of-candidates both ways');

    const lines: string[] = [];
    for (const { data } of relayed) {
      if (data.kind === 'offer' || data.kind === 'answer') lines.push(...[...data.sdp.matchAll(/^a=(candidate:[^\r\n]*)/gm)].map((m) => m[1]!));
      else if (data.kind === 'candidate' && data.candidate.candidate) lines.push(data.candidate.candidate);
    }
    expect(new Set(relayed.map((r) => r.data.kind))).toEqual(new Set(['offer', 'answer', 'candidate', 'end-of-candidates']));
    expect(new Set(relayed.filter((r) => r.data.kind === 'candidate').map((r) => r.to)).size, 'candidates went both ways').toBe(2);
    for (const line of lines) {
      expect(line).toMatch(/ typ relay /);
      expect(line).not.toMatch(/ typ (host|srflx|prflx)\b/);
      expect([...line.matchAll(/ raddr (\S+) rport (\S+)/g)].map((m) => `${m[1]}:${m[2]}`), line).toEqual(['0.0.0.0:0']);
    }
    // coturn saw us at 127.0.0.1 (its relay is there too); our real interfaces must not show at all.
    const raw = JSON.stringify(relayed);
    for (const i of Object.values(networkInterfaces()).flat()) if (i && !i.internal) expect(raw, `partner saw ${i.address}`).not.toContain(i.address);
    expect(raw).not.toMatch(/\.local\b/);
  });

  it('warns when --relay-only meets a server without TURN', async () => {
    const plain = await startServer();
    try {
      const [a, ra] = sessions.create({ server: plain.url, relayOnly: true, audio: null, video: null }, 'A');
      await withTimeout(a.start(), 15_000, 'start');
      expect((await ra.next('warning', 2000)).message).toMatch(/no TURN server/);
    } finally {
      await sessions.closeAll();
      await plain.close();
    }
  });
});
