// The headless peer, refused a partner by the server's skip limit (CHZ_ERR_NEXT_RATE_LIMITED on
// join), joins again when the server says it may, instead of waiting in no queue for ever.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { Clients, pair, startServer } from '../helpers/server.js';
import { Sessions } from './helpers.js';

let server: SignalServer;
let clients: Clients;
const sessions = new Sessions();
beforeAll(async () => {
  server = await startServer({ nextsPerMinute: 1, skipWindowMs: 1500, rematchCooldownMs: 0 });
  clients = new Clients(server);
});
afterEach(async () => { await sessions.closeAll(); await clients.closeAll(); });
afterAll(async () => { await server?.close(); });

it('joins again after the wait the server names, and gets a partner', async () => {
  // Someone from this address ends a match by disconnecting: the next connection inherits it.
  const [x] = await pair(clients, 'tamil');
  await x.close();
  const [peer, rec] = sessions.create({ server: server.url, audio: null, target: { kind: 'hub', hub: 'tamil' } }, 'peer');
  await peer.start();
  const refused = await rec.next('server-error', 5000);
  expect(refused.code).toBe('CHZ_ERR_NEXT_RATE_LIMITED');
  await rec.next('queued', 5000);
  const other = await clients.connect();
  other.send({ type: 'join', hub: 'tamil' });
  await other.next('matched');
  await rec.next('matched', 5000);
});
