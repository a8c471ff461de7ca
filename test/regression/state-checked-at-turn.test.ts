// Regression: a message was checked against the state at arrival, before an earlier message
// in the same burst (leave) had run, so "leave + private-create" sent together was refused.
import { afterEach, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { Clients, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterEach(async () => { await clients.closeAll(); await server.close(); });

it('messages sent back to back are each checked in the state the previous one left', async () => {
  server = await startServer();
  clients = new Clients(server);
  const a = await clients.connect();
  a.send({ type: 'join', hub: 'tamil' });
  a.send({ type: 'leave' });
  a.send({ type: 'private-create' });
  a.send({ type: 'leave' });
  a.send({ type: 'join', hub: 'usa' });
  expect(await a.next('queued')).toMatchObject({ hub: 'tamil' });
  await a.next('private-created');
  expect(await a.next('queued')).toMatchObject({ hub: 'usa' });
  await a.sync();
  expect(a.pending('error')).toEqual([]);
});
