import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';
import { Clients, pair, startServer } from '../helpers/server.js';

let server: SignalServer;
let clients: Clients;
afterEach(async () => { await clients?.closeAll(); await server?.close(); });

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  if (!line) throw new Error(`metric ${name}${labels} missing`);
  return Number(line.split(' ').pop());
}

describe('HTTP endpoints', () => {
  it('/healthz, /api/hubs and /metrics report live state', async () => {
    server = await startServer();
    clients = new Clients(server);
    await pair(clients, 'tamil');
    const w = await clients.connect();
    w.send({ type: 'join', hub: 'usa' });
    await w.next('queued');
    const p = await clients.connect();
    p.send({ type: 'join', hub: 'usa' });
    await p.next('matched');
    await w.next('matched');
    const q = await clients.connect();
    q.send({ type: 'join', hub: 'hindi' });
    await q.next('queued');

    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', clients: 5 });

    const hubs = (await (await fetch(`${server.url}/api/hubs`)).json()).hubs;
    expect(hubs.find((h: { name: string }) => h.name === 'tamil')).toEqual({ name: 'tamil', waiting: 0, inCall: 2 });
    expect(hubs.find((h: { name: string }) => h.name === 'usa')).toEqual({ name: 'usa', waiting: 0, inCall: 2 });
    expect(hubs.find((h: { name: string }) => h.name === 'hindi')).toEqual({ name: 'hindi', waiting: 1, inCall: 0 });

    const m = await (await fetch(`${server.url}/metrics`)).text();
    expect(metricValue(m, 'chatzyo_connected_clients')).toBe(5);
    expect(metricValue(m, 'chatzyo_queue_length', '{hub="hindi"}')).toBe(1);
    expect(metricValue(m, 'chatzyo_in_call', '{hub="usa"}')).toBe(2);
    expect(metricValue(m, 'chatzyo_matches_total', '{kind="hub"}')).toBe(2);
    expect(metricValue(m, 'chatzyo_match_wait_seconds_count')).toBe(4);
    expect(m).toMatch(/chatzyo_relayed_messages_total 0/);
  });

  it('serves the client page at / and 404s outside it', async () => {
    server = await startServer();
    clients = new Clients(server);
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/chatzyo/i);
    expect((await fetch(`${server.url}/nope/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${server.url}/api/hubs`, { method: 'POST' })).status).toBe(405);
  });

  it('pushes hub counts to clients that are not in a call', async () => {
    server = await startServer({ hubsIntervalMs: 100 });
    clients = new Clients(server);
    const watcher = await clients.connect();
    const a = await clients.connect();
    a.send({ type: 'join', hub: 'malayalam' });
    await a.next('queued');
    for (;;) {
      const h = await watcher.next('hubs', 3000);
      if (h.hubs.find((x) => x.name === 'malayalam')?.waiting === 1) break;
    }
  });
});

describe('addresses', () => {
  it('--trust-proxy takes the address the proxy appended to X-Forwarded-For for the per-address cap; logs never hold it', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _e, cb) { lines.push(chunk.toString()); cb(); } });
    server = await startServer({ trustProxy: 1, maxConnectionsPerAddress: 1 }, { logger: pino({ level: 'debug' }, sink) });
    clients = new Clients(server);
    const one = await TestClient.connect(server.wsUrl, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const other = await TestClient.connect(server.wsUrl, { headers: { 'x-forwarded-for': '198.51.100.9' } });
    // The client wrote a made-up entry itself; the trusted proxy appended the real address.
    const again = new TestClient(server.wsUrl, { headers: { 'x-forwarded-for': '198.51.100.50, 203.0.113.7' } });
    clients.all.push(one, other, again);
    await again.error('CHZ_ERR_TOO_MANY_CONNECTIONS');
    expect(await withTimeout(again.closed, 5000, 'closed')).toBe(4003);
    const log = lines.join('');
    expect(log).toMatch(/too many connections/);
    expect(log).not.toMatch(/203\.0\.113\.7|198\.51\.100\.(9|50)|127\.0\.0\.1"/);
  });
});
