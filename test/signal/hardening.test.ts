// Issue 10: what a hostile client can send the HTTP/WebSocket side, and what it must not get.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey, clientAddress, requestPath, securityHeaders, type SignalServer } from '../../src/signal/server.js';
import { withTimeout, until } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';
import { Clients, pair, startServer } from '../helpers/server.js';

let server: SignalServer | undefined;
let clients: Clients | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await clients?.closeAll();
  await server?.close();
  server = undefined;
  clients = undefined;
});

const UPGRADE = (target: string, extra = '') =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`;

function open(port: number): Promise<net.Socket> {
  return withTimeout(new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  }), 3000, 'tcp connect');
}

/** Writes `request` and collects everything until the server closes the connection. */
async function exchange(port: number, request: string): Promise<string> {
  const s = await open(port);
  return withTimeout(new Promise<string>((resolve) => {
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.write(request);
  }), 5000, `an answer to ${JSON.stringify(request.slice(0, 40))}`);
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

async function healthy(s: SignalServer): Promise<void> {
  const res = await fetch(`${s.url}/healthz`);
  expect(res.status).toBe(200);
}

describe('request targets and upgrades', () => {
  it('answers an upgrade whose target does not parse (GET //) with a complete 400, and serves on', async () => {
    server = await startServer();
    for (const target of ['//', '//x:99999/ws', 'http://[/ws', '*']) {
      const res = await exchange(server.port, UPGRADE(target));
      expect(statusOf(res), target).toBe(400);
      const [head, body] = res.split('\r\n\r\n');
      expect(Number(/content-length: (\d+)/i.exec(head!)?.[1])).toBe(Buffer.byteLength(body!));
      expect(head).toMatch(/x-content-type-options: nosniff/i);
    }
    await healthy(server);
  });

  it('answers plain requests with unparseable targets with 400', async () => {
    server = await startServer();
    const res = await exchange(server.port, 'GET // HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(statusOf(res)).toBe(400);
    expect(requestPath('//')).toBeNull();
    expect(requestPath('/ws?x=1')).toBe('/ws');
    expect(requestPath('http://example.test/ws')).toBe('/ws');
    expect(requestPath('ws')).toBeNull();
    await healthy(server);
  });

  it('answers an upgrade during shutdown with 503, not 404', async () => {
    server = await startServer();
    // A client that never answers the close handshake holds the shutdown open for a moment.
    const stalled = await open(server.port);
    await withTimeout(new Promise<void>((resolve) => {
      stalled.once('data', () => resolve());
      stalled.write(UPGRADE('/ws'));
    }), 3000, 'stalled client upgraded');
    stalled.pause();
    const waiting = await open(server.port);
    const closing = server.close();
    const res = await withTimeout(new Promise<string>((resolve) => {
      let got = '';
      waiting.on('data', (d) => (got += d.toString('latin1')));
      waiting.on('close', () => resolve(got));
      waiting.write(UPGRADE('/ws'));
    }), 5000, 'the answer during shutdown');
    expect(statusOf(res)).toBe(503);
    expect(res).toContain('CHZ_ERR_SERVER_SHUTDOWN');
    await closing;
  });
});

describe('who may open the WebSocket', () => {
  async function upgradeStatus(s: SignalServer, origin?: string, host: string | null = '127.0.0.1'): Promise<number> {
    const sock = await open(s.port);
    const key = randomBytes(16).toString('base64');
    const request = `GET /ws HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${origin === undefined ? '' : `Origin: ${origin}\r\n`}\r\n`;
    return withTimeout(new Promise<number>((resolve) => {
      sock.once('data', (d) => { resolve(statusOf(d.toString('latin1'))); sock.destroy(); });
      sock.write(request);
    }), 3000, `upgrade with Origin ${origin}, Host ${host}`);
  }

  it('accepts its own page (Origin host = Host) and clients without an Origin; refuses other sites', async () => {
    server = await startServer();
    expect(await upgradeStatus(server)).toBe(101);
    expect(await upgradeStatus(server, 'http://127.0.0.1')).toBe(101);
    expect(await upgradeStatus(server, 'https://evil.example')).toBe(403);
    expect(await upgradeStatus(server, 'http://127.0.0.1.evil.example')).toBe(403);
    expect(await upgradeStatus(server, 'null')).toBe(403);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/code="CHZ_ERR_ORIGIN"} 3/);
  });

  it('compares the Origin with the Host exactly: port, case, default ports, IPv6, no Host', async () => {
    server = await startServer();
    expect(await upgradeStatus(server, 'http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(101);
    expect(await upgradeStatus(server, 'http://127.0.0.1:9999', '127.0.0.1:8080')).toBe(403);
    expect(await upgradeStatus(server, 'HTTP://Chat.Example', 'chat.example')).toBe(101);
    expect(await upgradeStatus(server, 'https://chat.example', 'chat.example:443')).toBe(101);
    expect(await upgradeStatus(server, 'http://[::1]:8080', '[::1]:8080')).toBe(101);
    expect(await upgradeStatus(server, 'http://[::1]:8081', '[::1]:8080')).toBe(403);
    expect(await upgradeStatus(server, 'http://127.0.0.1', null)).toBe(403);
  });

  it('--allowed-origin is the whole policy when set (a DNS-rebinding page whose Origin matches its Host is refused)', async () => {
    server = await startServer({ allowedOrigins: ['https://App.Example/'] });
    expect(await upgradeStatus(server, 'https://app.example')).toBe(101);
    expect(await upgradeStatus(server)).toBe(101);
    expect(await upgradeStatus(server, 'http://rebound.example:8080', 'rebound.example:8080')).toBe(403);
    expect(await upgradeStatus(server, 'https://evil.example')).toBe(403);
  });
});

describe('security headers', () => {
  it('are on every response: page, API, health, errors', async () => {
    server = await startServer();
    for (const [path, method] of [['/', 'GET'], ['/api/hubs', 'GET'], ['/healthz', 'GET'], ['/nope', 'GET'], ['/', 'POST']] as const) {
      const res = await fetch(`${server.url}${path}`, { method });
      const h = res.headers;
      const csp = h.get('content-security-policy') ?? '';
      for (const d of ["frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "object-src 'none'", "connect-src 'self'"]) expect(csp, `${method} ${path}`).toContain(d);
      expect(csp).not.toMatch(/connect-src[^;]*\bws:/);
      expect(h.get('x-frame-options')).toBe('DENY');
      expect(h.get('x-content-type-options')).toBe('nosniff');
      expect(h.get('permissions-policy')).toBe('camera=(self), microphone=(self)');
      expect(h.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(h.get('strict-transport-security')).toBeNull();
    }
  });

  it('add HSTS under TLS and the allowed origins to connect-src', () => {
    const h = securityHeaders({ tlsCert: 'cert.pem', allowedOrigins: ['https://app.example'] });
    expect(h['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(h['content-security-policy']).toContain("connect-src 'self' https://app.example wss://app.example");
  });
});

describe('--metrics-port', () => {
  it('moves /metrics and /healthz to their own listener', async () => {
    server = await startServer({ metricsPort: 0, metricsHost: '127.0.0.1' });
    expect(server.metricsPort).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(404);
    const metrics = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('chatzyo_');
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/`)).status).toBe(404);
  });
});

describe('--trust-proxy hops', () => {
  it('takes the entry the first trusted proxy appended, never one the client wrote', () => {
    expect(clientAddress('10.9.9.9', '203.0.113.7', 1)).toBe('203.0.113.7');
    expect(clientAddress('10.9.9.9', '198.51.100.50, 203.0.113.7', 1)).toBe('203.0.113.7');
    expect(clientAddress('10.9.9.9', '198.51.100.50, 203.0.113.7, 198.18.0.2', 2)).toBe('203.0.113.7');
    expect(clientAddress('10.9.9.9', ['198.51.100.50', '203.0.113.7'], 1)).toBe('203.0.113.7');
    // Fewer entries than proxies: a proxy was skipped and the entries may be the client's own.
    expect(clientAddress('10.9.9.9', '203.0.113.7', 2)).toBe('10.9.9.9');
    expect(clientAddress('10.9.9.9', 'not-an-ip', 1)).toBe('10.9.9.9');
    expect(clientAddress('10.9.9.9', '203.0.113.7', 0)).toBe('10.9.9.9');
    // Entries with ports (some proxies add them).
    expect(clientAddress('10.9.9.9', '198.51.100.1, 203.0.113.7:5678', 1)).toBe('203.0.113.7');
    expect(clientAddress('10.9.9.9', '[2001:db8::7]:443', 1)).toBe('2001:db8::7');
  });

  it('counts IPv6 clients by their /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
  });

  it('caps connections per IPv6 /64, not per address', async () => {
    server = await startServer({ trustProxy: 1, maxConnectionsPerAddress: 1 });
    clients = new Clients(server);
    const one = await TestClient.connect(server.wsUrl, { headers: { 'x-forwarded-for': '2001:db8:5:6::1' } });
    clients.all.push(one);
    const again = new TestClient(server.wsUrl, { headers: { 'x-forwarded-for': '2001:db8:5:6::2' } });
    clients.all.push(again);
    await again.error('CHZ_ERR_TOO_MANY_CONNECTIONS');
    const otherNet = await TestClient.connect(server.wsUrl, { headers: { 'x-forwarded-for': '2001:db8:5:7::1' } });
    clients.all.push(otherNet);
    expect(otherNet.sessionId).not.toBe('');
  });
});

describe('the skip limit counts every match a client ends', () => {
  it('leave-then-join is counted like Next', async () => {
    server = await startServer({ nextsPerMinute: 3, rematchCooldownMs: 0 });
    clients = new Clients(server);
    const a = await clients.connect();
    const partner = await clients.connect();
    for (let i = 0; i < 3; i++) {
      a.send({ type: 'join', hub: 'tamil' });
      await a.next('queued');
      partner.send({ type: 'join', hub: 'tamil' });
      await a.next('matched');
      await partner.next('matched');
      a.send({ type: 'leave' });
      await partner.next('partner-left');
    }
    a.send({ type: 'join', hub: 'tamil' });
    const e = await a.error('CHZ_ERR_NEXT_RATE_LIMITED');
    expect(e.ref).toBe('join');
    expect(e.message).toMatch(/try again in \d+ s/);
  });

  it('disconnect-and-return from the same address is counted too', async () => {
    server = await startServer({ nextsPerMinute: 2, rematchCooldownMs: 0 });
    clients = new Clients(server);
    const partner = await clients.connect();
    for (let i = 0; i < 2; i++) {
      const a = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      await a.next('queued');
      partner.send({ type: 'join', hub: 'tamil' });
      await a.next('matched');
      await partner.next('matched');
      await a.close();
      await partner.next('partner-left');
    }
    const back = await clients.connect();
    back.send({ type: 'join', hub: 'tamil' });
    await back.error('CHZ_ERR_NEXT_RATE_LIMITED');
    // Somebody else from the same address, connected all along, is not held back.
    partner.send({ type: 'join', hub: 'tamil' });
    await partner.next('queued');
  });

  it('a report still ends the match past the limit; only the re-queue waits', async () => {
    server = await startServer({ nextsPerMinute: 1, rematchCooldownMs: 0 });
    clients = new Clients(server);
    const [a, b] = await pair(clients);
    a.send({ type: 'next' });
    await b.next('partner-left');
    await a.next('queued');
    b.send({ type: 'join', hub: 'tamil' });
    const m = await a.next('matched');
    await b.next('matched');
    a.send({ type: 'report', matchId: m.matchId, reason: 'spam' });
    await b.next('partner-left');
    await a.error('CHZ_ERR_NEXT_RATE_LIMITED');
    await a.sync();
    expect(a.pending('queued')).toHaveLength(0);
  });
});

describe('budgets per connection', () => {
  it('a connection sending more bytes per second than its budget is rate-limited', async () => {
    server = await startServer({ bytesPerSecond: 16 * 1024, maxFrameBytes: 16 * 1024, messagesPerSecond: 1000 });
    clients = new Clients(server);
    const [a] = await pair(clients);
    const sdp = 'v=0\r\n' + 'a=x:'.padEnd(12_000, 'y');
    // 16 KiB/s with a 64 KiB burst: ten 12 KB offers in a row overrun it.
    for (let i = 0; i < 10; i++) a.send({ type: 'signal', matchId: a.matchId, data: { kind: 'offer', sdp } });
    await a.error('CHZ_ERR_RATE_LIMITED');
  });

  it('drops a client that stops reading (close 4006) and never queues more than maxBufferedBytes for it', async () => {
    const cap = 256 * 1024;
    server = await startServer({ maxBufferedBytes: cap, messagesPerSecond: 10_000, bytesPerSecond: 1e9, rateLimitStrikes: 1e9 });
    clients = new Clients(server);
    const sender = await clients.connect();
    // The reader: a raw WebSocket that says hello and join, then stops reading its socket.
    const reader = await open(server.port);
    await withTimeout(new Promise<void>((resolve) => { reader.once('data', () => resolve()); reader.write(UPGRADE('/ws')); }), 3000, 'reader upgraded');
    reader.write(maskedText(JSON.stringify({ type: 'hello', version: 2 })));
    reader.write(maskedText(JSON.stringify({ type: 'join', hub: 'tamil' })));
    await until(() => [...server!.sessions.values()].some((s) => s.state === 'queued'), 3000, 'reader queued');
    reader.pause();
    const readerSession = [...server.sessions.values()].find((s) => s.state === 'queued')!;
    sender.send({ type: 'join', hub: 'tamil' });
    const m = await sender.next('matched');
    const sdp = 'v=0\r\n' + 'a=x:'.padEnd(40_000, 'y');
    let maxQueued = 0;
    const sampler = setInterval(() => { maxQueued = Math.max(maxQueued, readerSession.ws.bufferedAmount); }, 5);
    try {
      // Bounded: at most 2,000 offers (80 MB) or until the reader is dropped.
      for (let i = 0; i < 2000 && readerSession.state !== 'closed'; i++) {
        sender.send({ type: 'signal', matchId: m.matchId, data: { kind: 'offer', sdp } });
        if (i % 20 === 19) await sender.sync();
      }
      const left = await sender.next('partner-left', 10_000);
      expect(left.reason).toBe('disconnect');
    } finally {
      clearInterval(sampler);
    }
    expect(readerSession.state).toBe('closed');
    expect(maxQueued).toBeLessThanOrEqual(cap);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/code="CHZ_ERR_SLOW_CONSUMER"} 1/);
    await healthy(server);
  });
});

/** One masked WebSocket text frame (clients must mask, RFC 6455 section 5.3). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

