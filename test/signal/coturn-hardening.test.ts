// The README's coturn hardening (docs/deploy/coturn/turnserver.conf) runs as written: coturn accepts the flags, chatzyo's credentials
// (from a match) allocate a relay, and a credential cannot reach a denied peer range (loopback here).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTurnUri } from '../../src/probe/ice-url.js';
import { checkTurn } from '../../src/probe/turn-check.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { Clients, startServer } from '../helpers/server.js';

/**
 * The hardening options of the coturn configuration the README installs
 * (docs/deploy/coturn/turnserver.conf), as command-line flags.
 */
function readmeHardeningFlags(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  if (!readme.includes('docs/deploy/coturn/turnserver.conf')) throw new Error('README no longer installs docs/deploy/coturn/turnserver.conf');
  const conf = readFileSync(new URL('../../docs/deploy/coturn/turnserver.conf', import.meta.url), 'utf8');
  return conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => `--${l}`)
    .filter((w) => /^--(no-multicast-peers|no-tcp-relay|denied-peer-ip=|user-quota=|total-quota=|max-bps=)/.test(w));
}

let coturn: Coturn;
let server: SignalServer;
let clients: Clients;
let flags: string[];

beforeAll(async () => {
  flags = readmeHardeningFlags();
  // The test coturn allows loopback peers; the README's denied ranges must still win.
  coturn = await startCoturn({ extraArgs: flags });
  server = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret });
  clients = new Clients(server);
});
afterAll(async () => {
  await clients?.closeAll();
  await server?.close();
  await coturn?.stop();
});

describe('coturn hardened as the README says', () => {
  it('documents every range the operator must deny', () => {
    const denied = flags.filter((f) => f.startsWith('--denied-peer-ip=')).map((f) => f.slice('--denied-peer-ip='.length));
    expect(denied).toEqual(expect.arrayContaining([
      '0.0.0.0-0.255.255.255', '10.0.0.0-10.255.255.255', '100.64.0.0-100.127.255.255', '127.0.0.0-127.255.255.255',
      '169.254.0.0-169.254.255.255', '172.16.0.0-172.31.255.255', '192.168.0.0-192.168.255.255',
      'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ]));
    expect(flags).toEqual(expect.arrayContaining(['--no-multicast-peers']));
    expect(flags.some((f) => f.startsWith('--user-quota='))).toBe(true);
    expect(flags.some((f) => f.startsWith('--total-quota='))).toBe(true);
    expect(flags.some((f) => f.startsWith('--max-bps='))).toBe(true);
  });

  it('allocates with credentials from a match, but refuses a permission toward a denied range', async () => {
    const a = await clients.connect();
    const b = await clients.connect();
    a.send({ type: 'join', hub: 'global' });
    await a.next('queued');
    b.send({ type: 'join', hub: 'global' });
    const m = await a.next('matched');
    await b.next('matched');
    const turn = m.iceServers!.find((s) => s.username)!;
    const result = await checkTurn(parseTurnUri(coturn.url), 'udp', { username: turn.username, credential: turn.credential }, { timeoutMs: 3000, relayPings: 1 });
    expect(result.status).toBe('ok');
    expect(result.relayed?.address).toBe('127.0.0.1');
    // The relay round trip needs a permission for 127.0.0.1, which the denied range forbids.
    expect(result.relayRttMs).toBeNull();
    expect(result.note).toMatch(/did not permit 127\.0\.0\.1 as a peer \(403/);
  });
});
