// Regression: with several nodes, a match made by a third node's tick reaches one side through
// that node's channel while the partner's first signal comes through the partner's node, so the
// signal can arrive first. It used to be dropped; it is now held until "matched" and delivered.
import { afterEach, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { Clients, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterEach(async () => { await clients.closeAll(); await server.close(); });

it('a signal that overtakes its "matched" notice is delivered right after it, and others are not', async () => {
  server = await startServer();
  clients = new Clients(server);
  const a = await clients.connect();
  a.send({ type: 'join', hub: 'tamil' });
  await a.next('queued');
  const session = server.sessions.get(a.sessionId)!;
  const offer = { kind: 'offer' as const, sdp: 'v=0 early' };
  session.onSignal('matchfromtick1', offer);
  session.onSignal('someothermatch', { kind: 'end-of-candidates' });
  await a.sync();
  expect(a.pending('signal')).toEqual([]);
  session.onMatched({ matchId: 'matchfromtick1', role: 'answerer', partnerId: 'x'.repeat(22), hub: 'tamil', private: false, commonInterests: [], waitedMs: 0 });
  const types: string[] = [];
  await a.next('matched');
  types.push('matched');
  const sig = await a.next('signal');
  expect(sig).toEqual({ type: 'signal', matchId: 'matchfromtick1', data: offer });
  await a.sync();
  expect(a.pending('signal')).toEqual([]);
  expect(a.raw.findIndex((r) => r.includes('"matched"'))).toBeLessThan(a.raw.findIndex((r) => r.includes('v=0 early')));
});
