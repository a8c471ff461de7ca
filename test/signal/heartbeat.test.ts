import { afterEach, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { withTimeout, until } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';
import { Clients, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterEach(async () => { await clients.closeAll(); await server.close(); });

it('a client that stops answering pings is dropped within two intervals; its partner hears "timeout"; it leaves every queue', async () => {
  const heartbeatMs = 500;
  server = await startServer({ heartbeatMs });
  clients = new Clients(server);
  // A client whose WebSocket never answers pings (autoPong off), as a frozen browser tab would.
  const dead = new TestClient(server.wsUrl, { autoPong: false });
  clients.all.push(dead);
  await withTimeout(new Promise((r) => dead.ws.once('open', r)), 5000, 'open');
  dead.send({ type: 'hello', version: PROTOCOL_VERSION });
  await dead.next('welcome');
  const alive = await clients.connect();
  dead.send({ type: 'join', hub: 'tamil' });
  await dead.next('queued');
  alive.send({ type: 'join', hub: 'tamil' });
  const m = await alive.next('matched');
  const t0 = Date.now();
  const left = await alive.next('partner-left', 5000);
  expect(left).toEqual({ type: 'partner-left', matchId: m.matchId, reason: 'timeout' });
  expect(Date.now() - t0).toBeLessThanOrEqual(2 * heartbeatMs + 500);
  await withTimeout(dead.closed, 5000, 'dead client closed');
  // The live client stayed connected (it answers pings) and nobody waits in any queue.
  expect(alive.ws.readyState).toBe(alive.ws.OPEN);
  await until(async () => (await server.matchmaker.counts()).every((h) => h.waiting === 0 && h.inCall === 0), 2000, 'queues empty');
  expect(server.sessions.has(dead.sessionId)).toBe(false);
});

it('a dead client waiting in a queue is removed from it', async () => {
  server = await startServer({ heartbeatMs: 200 });
  clients = new Clients(server);
  const dead = new TestClient(server.wsUrl, { autoPong: false });
  clients.all.push(dead);
  await withTimeout(new Promise((r) => dead.ws.once('open', r)), 5000, 'open');
  dead.send({ type: 'hello', version: PROTOCOL_VERSION });
  await dead.next('welcome');
  dead.send({ type: 'join', hub: 'usa' });
  await dead.next('queued');
  await withTimeout(dead.closed, 3000, 'dropped');
  const b = await clients.connect();
  b.send({ type: 'join', hub: 'usa' });
  expect(await b.next('queued')).toMatchObject({ position: 1 });
});
