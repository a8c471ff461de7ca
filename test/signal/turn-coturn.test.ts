import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { turnAllocate, StunClientError } from '../../src/stun/client.js';
import { turnCredentials } from '../../src/signal/turn-credentials.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { Clients, startServer } from '../helpers/server.js';

let coturn: Coturn;
let server: SignalServer;
let clients: Clients;

beforeAll(async () => {
  coturn = await startCoturn();
  server = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret, turnTtlSeconds: 600 });
  clients = new Clients(server);
});
afterAll(async () => {
  await clients?.closeAll();
  await server?.close();
  await coturn?.stop();
});

describe('TURN credentials against a real coturn (use-auth-secret)', () => {
  it('welcome carries per-session REST credentials that allocate a relay on coturn', async () => {
    const a = await clients.connect();
    const welcome = JSON.parse(a.raw[0]!);
    expect(welcome.turn).toBe(true);
    const turn = welcome.iceServers.find((s: { urls: string[] }) => s.urls.some((u) => u.startsWith('turn:')));
    expect(turn.urls).toEqual([coturn.url]);
    const [expiry, sessionId] = turn.username.split(':');
    expect(sessionId).toBe(a.sessionId);
    expect(Number(expiry)).toBeGreaterThan(Date.now() / 1000 + 500);
    const alloc = await turnAllocate('127.0.0.1', coturn.port, turn.username, turn.credential);
    expect(alloc.relayed.address).toBe('127.0.0.1');
    expect(alloc.relayed.port).toBeGreaterThan(0);
    expect(alloc.lifetimeSeconds).toBeGreaterThan(0);
    // A second client gets different credentials.
    const b = await clients.connect();
    const turnB = JSON.parse(b.raw[0]!).iceServers.find((s: { username?: string }) => s.username);
    expect(turnB.username).not.toBe(turn.username);
  });

  it('a tampered credential is refused with CHZ_ERR_TURN_AUTH', async () => {
    const a = await clients.connect();
    const turn = JSON.parse(a.raw[0]!).iceServers.find((s: { username?: string }) => s.username);
    const bad = turn.credential.slice(0, -4) + (turn.credential.endsWith('AAA=') ? 'BBB=' : 'AAA=');
    const err = await turnAllocate('127.0.0.1', coturn.port, turn.username, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StunClientError);
    expect((err as StunClientError).code).toBe('CHZ_ERR_TURN_AUTH');
  });

  it('an expired username is refused', async () => {
    const creds = turnCredentials(coturn.secret, 'expiredsession', -60);
    const err = await turnAllocate('127.0.0.1', coturn.port, creds.username, creds.credential).catch((e: unknown) => e);
    expect((err as StunClientError).code).toBe('CHZ_ERR_TURN_AUTH');
  });
});
