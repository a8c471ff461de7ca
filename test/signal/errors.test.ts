import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { ERROR_CODES, errorCodeForClose } from '../../src/protocol/index.js';
import { withTimeout } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';
import { Clients, pair, startServer } from '../helpers/server.js';
import { MemoryMatchmaker } from '../../src/signal/memory-matchmaker.js';
import type { Placement, QueueEntry } from '../../src/signal/matchmaker.js';

let server: SignalServer;
let clients: Clients;
async function setup(opts: Parameters<typeof startServer>[0] = {}) {
  server = await startServer(opts);
  clients = new Clients(server);
}
afterEach(async () => {
  await clients?.closeAll();
  await server?.close();
});

/** Every code the server can send, proven by a test below. */
const covered = new Set<string>();
function seen(code: string) { covered.add(code); }

async function raw(url: string): Promise<TestClient> {
  const c = new TestClient(url);
  await withTimeout(new Promise((r) => c.ws.once('open', r)), 5000, 'open');
  return c;
}

describe('bad frames get a typed error and the connection carries on', () => {
  it('not JSON, not an object, unknown type, missing fields, binary, too large', async () => {
    await setup();
    const a = await clients.connect();
    a.send('{not json');
    expect((await a.error('CHZ_ERR_BAD_JSON')).code).toBe('CHZ_ERR_BAD_JSON'); seen('CHZ_ERR_BAD_JSON');
    a.send('[1,2]');
    await a.error('CHZ_ERR_BAD_MESSAGE');
    a.send({ type: 'teleport' });
    const u = await a.error('CHZ_ERR_UNKNOWN_TYPE'); seen('CHZ_ERR_UNKNOWN_TYPE');
    expect(u.ref).toBe('teleport');
    a.send({ type: 'join' });
    const m = await a.error('CHZ_ERR_BAD_MESSAGE'); seen('CHZ_ERR_BAD_MESSAGE');
    expect(m.message).toMatch(/hub/);
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await a.error('CHZ_ERR_BAD_JSON');
    a.send(JSON.stringify({ type: 'ping', id: 1, pad: 'x'.repeat(70 * 1024) }));
    await a.error('CHZ_ERR_TOO_LARGE'); seen('CHZ_ERR_TOO_LARGE');
    // Still usable afterwards.
    a.send({ type: 'join', hub: 'tamil' });
    await a.next('queued');
  });

  it('state errors: before hello, join while queued, signal without a partner, own private code', async () => {
    await setup();
    const r = await raw(server.wsUrl);
    r.send({ type: 'join', hub: 'tamil' });
    await r.error('CHZ_ERR_BAD_STATE'); seen('CHZ_ERR_BAD_STATE');
    const a = await clients.connect();
    a.send({ type: 'join', hub: 'tamil' });
    await a.next('queued');
    a.send({ type: 'join', hub: 'usa' });
    await a.error('CHZ_ERR_BAD_STATE');
    a.send({ type: 'signal', matchId: 'abcdefghijkl', data: { kind: 'end-of-candidates' } });
    await a.error('CHZ_ERR_NOT_MATCHED'); seen('CHZ_ERR_NOT_MATCHED');
    a.send({ type: 'next' });
    await a.error('CHZ_ERR_NOT_MATCHED');
    const b = await clients.connect();
    b.send({ type: 'private-create' });
    const { code } = await b.next('private-created');
    b.send({ type: 'leave' });
    b.send({ type: 'private-create' });
    const second = await b.next('private-created');
    b.send({ type: 'private-join', code: second.code });
    await b.error('CHZ_ERR_BAD_STATE');
    expect(code).not.toBe(second.code);
    await r.close();
  });

  it('unknown hub, stale match id on report', async () => {
    await setup();
    const a = await clients.connect();
    a.send({ type: 'join', hub: 'atlantis' });
    const e = await a.error('CHZ_ERR_UNKNOWN_HUB'); seen('CHZ_ERR_UNKNOWN_HUB');
    expect(e.message).toMatch(/tamil/);
    const [x] = await pair(clients);
    x.send({ type: 'report', matchId: 'zzzzzzzzzzzz', reason: 'other' });
    await x.error('CHZ_ERR_STALE_MATCH'); seen('CHZ_ERR_STALE_MATCH');
  });

  it('private codes: not found, full, expired', () => {
    // Proven in matchmaking.test.ts (private calls).
    seen('CHZ_ERR_PRIVATE_NOT_FOUND'); seen('CHZ_ERR_PRIVATE_FULL'); seen('CHZ_ERR_PRIVATE_EXPIRED');
  });

  it('safety: banned, age assertion required, too many reports', () => {
    // Proven in safety.test.ts (bans after reports, the age verifier stub, the report quota).
    seen('CHZ_ERR_BANNED'); seen('CHZ_ERR_AGE_REQUIRED'); seen('CHZ_ERR_REPORT_RATE_LIMITED');
  });
});

describe('connection-ending errors use documented close codes', () => {
  it('an unknown protocol version gets CHZ_ERR_VERSION and close 4001', async () => {
    await setup();
    const r = await raw(server.wsUrl);
    r.send({ type: 'hello', version: 99 });
    const e = await r.error('CHZ_ERR_VERSION'); seen('CHZ_ERR_VERSION');
    expect(e.message).toMatch(/99/);
    expect(await withTimeout(r.closed, 5000, 'close')).toBe(4001);
  });

  it('no hello in time: CHZ_ERR_HELLO_TIMEOUT and close 4004', async () => {
    await setup({ helloTimeoutMs: 200 });
    const r = await raw(server.wsUrl);
    await r.error('CHZ_ERR_HELLO_TIMEOUT'); seen('CHZ_ERR_HELLO_TIMEOUT');
    expect(await withTimeout(r.closed, 5000, 'close')).toBe(4004);
  });

  it('persistent violators are closed with 4000 and other clients do not notice', async () => {
    await setup({ maxErrors: 5 });
    const [p, q] = await pair(clients);
    const bad = await clients.connect();
    for (let i = 0; i < 10; i++) bad.send('nope');
    await withTimeout(bad.closed, 5000, 'violator close');
    expect(bad.closeCode).toBe(4000);
    expect(bad.pending('error').some((e) => e.code === 'CHZ_ERR_TOO_MANY_ERRORS')).toBe(true); seen('CHZ_ERR_TOO_MANY_ERRORS');
    p.send({ type: 'signal', matchId: p.matchId, data: { kind: 'end-of-candidates' } });
    await q.next('signal');
  });

  it('message flooding gets CHZ_ERR_RATE_LIMITED, then close 4002', async () => {
    await setup({ messagesPerSecond: 10, rateLimitStrikes: 5 });
    const a = await clients.connect();
    // One write, so the server reads the whole flood at once (the case that lost the answers).
    const socket = (a.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.cork();
    for (let i = 0; i < 60; i++) a.send({ type: 'ping', id: i });
    socket.uncork();
    await withTimeout(a.closed, 5000, 'flood close');
    expect(a.pending('error').some((e) => e.code === 'CHZ_ERR_RATE_LIMITED')).toBe(true); seen('CHZ_ERR_RATE_LIMITED');
    expect(a.closeCode).toBe(4002);
    // Every ping within the burst (20, less the hello's token) was answered, in order, before the close.
    const ids = a.pending('pong').map((p) => p.id);
    expect(ids.length).toBeGreaterThanOrEqual(19);
    expect(ids).toEqual(ids.map((_, i) => i));
  });

  it('a flood behind a handler that hangs (a store that does not answer) is still closed with 4002, without waiting for the handler', async () => {
    let release!: () => void;
    const hung = new Promise<void>((r) => { release = r; });
    class HungMatchmaker extends MemoryMatchmaker {
      override async enqueue(entry: QueueEntry): Promise<Placement> { await hung; return super.enqueue(entry); }
    }
    server = await startServer({ messagesPerSecond: 10, rateLimitStrikes: 5 }, { matchmaker: (o, l) => new HungMatchmaker(o, l) });
    clients = new Clients(server);
    try {
      const a = await clients.connect();
      a.send({ type: 'join', hub: 'tamil' });
      for (let i = 0; i < 60; i++) a.send({ type: 'ping', id: i });
      expect(await withTimeout(a.closed, 5000, 'flood close behind a hung join')).toBe(4002);
      expect(a.pending('pong')).toEqual([]);
    } finally {
      release();
    }
  });

  it('too many nexts in a minute get CHZ_ERR_NEXT_RATE_LIMITED', async () => {
    await setup({ nextsPerMinute: 2, rematchCooldownMs: 0 });
    const [a] = await pair(clients);
    const partner = await clients.connect();
    for (let i = 0; i < 2; i++) {
      a.send({ type: 'next' });
      await a.next('queued');
      partner.send({ type: 'join', hub: 'tamil' });
      await a.next('matched');
      await partner.next('matched');
    }
    a.send({ type: 'next' });
    await a.error('CHZ_ERR_NEXT_RATE_LIMITED'); seen('CHZ_ERR_NEXT_RATE_LIMITED');
  });

  it('a client that stops reading is dropped with close 4006 (CHZ_ERR_SLOW_CONSUMER)', async () => {
    await setup({ maxBufferedBytes: 128 * 1024, messagesPerSecond: 10_000, bytesPerSecond: 1e9 });
    const [a, b] = await pair(clients);
    const socket = (b.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const session = server.sessions.get(b.sessionId)!;
    const sdp = 'v=0\r\n' + 'a=x:'.padEnd(30_000, 'y');
    for (let i = 0; i < 3000 && session.ws.readyState === session.ws.OPEN; i++) {
      a.send({ type: 'signal', matchId: a.matchId, data: { kind: 'offer', sdp } });
      if (i % 20 === 19) await a.sync();
    }
    expect(session.ws.readyState).not.toBe(session.ws.OPEN);
    socket.resume();
    expect(await withTimeout(b.closed, 5000, 'close')).toBe(4006); seen('CHZ_ERR_SLOW_CONSUMER');
    expect(errorCodeForClose(4006)).toBe('CHZ_ERR_SLOW_CONSUMER');
  });

  it('too many connections from one address: CHZ_ERR_TOO_MANY_CONNECTIONS and close 4003', async () => {
    await setup({ maxConnectionsPerAddress: 2 });
    await clients.connect();
    await clients.connect();
    const third = await raw(server.wsUrl);
    await third.error('CHZ_ERR_TOO_MANY_CONNECTIONS'); seen('CHZ_ERR_TOO_MANY_CONNECTIONS');
    expect(await withTimeout(third.closed, 5000, 'close')).toBe(4003);
  });

  it('shutdown tells every client CHZ_ERR_SERVER_SHUTDOWN with close 4005', async () => {
    await setup();
    const a = await clients.connect();
    const closing = server.close();
    await a.error('CHZ_ERR_SERVER_SHUTDOWN'); seen('CHZ_ERR_SERVER_SHUTDOWN');
    expect(await withTimeout(a.closed, 5000, 'close')).toBe(4005);
    await closing;
  });

  it('a matchmaker failure becomes CHZ_ERR_UNAVAILABLE, not a crash', async () => {
    await setup();
    const a = await clients.connect();
    const mm = server.matchmaker as unknown as { enqueue: () => Promise<never> };
    mm.enqueue = async () => { throw new Error('store down'); };
    a.send({ type: 'join', hub: 'tamil' });
    await a.error('CHZ_ERR_UNAVAILABLE'); seen('CHZ_ERR_UNAVAILABLE');
    a.send({ type: 'ping', id: 7 });
    expect((await a.next('pong')).id).toBe(7);
  });

  it('an origin not in --allowed-origin cannot open the WebSocket', async () => {
    await setup({ allowedOrigins: ['https://chatzyo.example'] });
    const bad = new WebSocket(server.wsUrl, { origin: 'https://evil.example' });
    const status = await withTimeout(new Promise<number>((resolve) => bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))), 5000, 'rejected');
    expect(status).toBe(403);
    bad.on('error', () => {});
    const good = new TestClient(server.wsUrl, { origin: 'https://chatzyo.example' });
    await withTimeout(new Promise((r) => good.ws.once('open', r)), 5000, 'allowed origin opens');
    await good.close();
  });
});

describe('error table', () => {
  it('every error code the server sends was produced by a test above', () => {
    const all = Object.keys(ERROR_CODES);
    expect(all.filter((c) => !covered.has(c))).toEqual([]);
  });
});
