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

type Ice = { urls: string | string[]; username?: string; credential?: string };
const turnOf = (servers: Ice[] | undefined) => servers?.find((s) => s.username);

describe('TURN credentials against a real coturn (use-auth-secret)', () => {
  it('welcome carries no TURN credentials; matched carries short-lived per-session ones that allocate a relay', async () => {
    const a = await clients.connect();
    const b = await clients.connect();
    const welcome = JSON.parse(a.raw[0]!);
    expect(welcome.turn).toBe(true);
    expect(turnOf(welcome.iceServers)).toBeUndefined();
    a.send({ type: 'join', hub: 'global' });
    await a.next('queued');
    b.send({ type: 'join', hub: 'global' });
    const ma = await a.next('matched');
    const mb = await b.next('matched');
    const turn = turnOf(ma.iceServers)!;
    expect(turn.urls).toEqual([coturn.url]);
    const [expiry, sessionId] = turn.username!.split(':');
    expect(sessionId).toBe(a.sessionId);
    // Minutes, not an hour: default 600 s here.
    expect(Number(expiry)).toBeGreaterThan(Date.now() / 1000 + 500);
    expect(Number(expiry)).toBeLessThanOrEqual(Date.now() / 1000 + 601);
    const alloc = await turnAllocate('127.0.0.1', coturn.port, turn.username!, turn.credential!);
    expect(alloc.relayed.address).toBe('127.0.0.1');
    expect(alloc.relayed.port).toBeGreaterThan(0);
    expect(alloc.lifetimeSeconds).toBeGreaterThan(0);
    // The partner gets credentials of its own.
    expect(turnOf(mb.iceServers)!.username).not.toBe(turn.username);
  });

  it('a version 1 client, which reads TURN only from welcome, is told there is none', async () => {
    const old = await clients.connect({ version: 1 });
    const welcome = JSON.parse(old.raw[0]!);
    expect(welcome.turn).toBe(false);
    expect(turnOf(welcome.iceServers)).toBeUndefined();
  });

  it('a relay-only client ("Hide my IP") gets TURN credentials in welcome', async () => {
    const a = await clients.connect({ relayOnly: true });
    const turn = turnOf(JSON.parse(a.raw[0]!).iceServers)!;
    expect(turn.username!.split(':')[1]).toBe(a.sessionId);
    const alloc = await turnAllocate('127.0.0.1', coturn.port, turn.username!, turn.credential!);
    expect(alloc.relayed.port).toBeGreaterThan(0);
  });

  it('a tampered credential is refused with CHZ_ERR_TURN_AUTH', async () => {
    const a = await clients.connect({ relayOnly: true });
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

describe('TURN credential quota and renewal', () => {
  it('one address gets at most turnMintsPerMinute credentials; past that, welcome and matched carry none', async () => {
    const limited = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret, turnMintsPerMinute: 2 });
    const cs = new Clients(limited);
    try {
      const got: (Ice | undefined)[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await cs.connect({ relayOnly: true });
        got.push(turnOf(JSON.parse(c.raw[0]!).iceServers));
      }
      expect(got.map((t) => !!t)).toEqual([true, true, false, false]);
      const metrics = await (await fetch(`${limited.url}/metrics`)).text();
      expect(metrics).toMatch(/code="CHZ_ERR_TURN_QUOTA"} 2/);
    } finally {
      await cs.closeAll();
      await limited.close();
    }
  });

  it('renews credentials with ice-servers before they expire while matched, and stops after the match', async () => {
    // 4 s: renewed after 3 s, so a renewed credential has seconds left when it is tried.
    const short = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret, turnTtlSeconds: 4 });
    const cs = new Clients(short);
    try {
      // A relay-only client that waits alone got credentials in welcome, but no renewals.
      const idle = await cs.connect({ relayOnly: true });
      expect(turnOf(JSON.parse(idle.raw[0]!).iceServers)).toBeDefined();
      const a = await cs.connect();
      const b = await cs.connect();
      a.send({ type: 'join', hub: 'global' });
      await a.next('queued');
      b.send({ type: 'join', hub: 'global' });
      const first = turnOf((await a.next('matched')).iceServers)!;
      await b.next('matched');
      const renewed = await a.next('ice-servers', 8000);
      const turn = turnOf(renewed.iceServers)!;
      expect(turn.username).not.toBe(first.username);
      expect(renewed.expiresAt).toBeGreaterThan(Date.now());
      // The renewed credential works on coturn.
      const alloc = await turnAllocate('127.0.0.1', coturn.port, turn.username!, turn.credential!);
      expect(alloc.relayed.port).toBeGreaterThan(0);
      // After the match ends, no more renewals: the next timer finds the client unmatched.
      a.send({ type: 'leave' });
      await a.sync();
      const count = a.pending('ice-servers').length;
      await expect(a.next('ice-servers', 5000)).rejects.toThrow(/timeout/);
      expect(a.pending('ice-servers').length).toBe(count);
      await idle.sync();
      expect(idle.pending('ice-servers')).toHaveLength(0);
    } finally {
      await cs.closeAll();
      await short.close();
    }
  });
});
