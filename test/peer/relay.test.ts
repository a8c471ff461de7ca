import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from './helpers.js';

let coturn: Coturn;
let server: SignalServer;
const sessions = new Sessions();

beforeAll(async () => {
  coturn = await startCoturn();
  server = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret });
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
