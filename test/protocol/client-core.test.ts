// The client core (src/protocol/client): the signaling state machine against the real server on
// port 0 over the Node transport (no mocked sockets), its close-code and server-error policy, and
// the emitter's emit/safeEmit split.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLOSE_POLICY, closeBackoffFactor, isCrossedSkip, isFatalServerError, isFinalClose, SignalClient, TypedEmitter,
  type Dial, type SignalClientEvents, type SignalClientOptions,
} from '../../src/protocol/client/index.js';
import { ChatzyoError, CLOSE_CODES, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { wsDial } from '../../src/peer/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { freeTcpPort } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { withTimeout } from '../helpers/deadline.js';

let servers: SignalServer[] = [];
const clients: SignalClient[] = [];
const raw: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(raw.splice(0).map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<SignalServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

/** The Node transport, counting its dials; `hello` may rewrite the hello frame (a client of another version). */
function countingDial(hello: (text: string) => string = (t) => t): { dial: Dial; dials: () => number } {
  let n = 0;
  const inner = wsDial();
  return {
    dials: () => n,
    dial: (url, on) => {
      n++;
      const s = inner(url, on);
      return { get readyState() { return s.readyState; }, send: (t) => s.send(t.includes('"hello"') ? hello(t) : t), close: (c, r) => s.close(c, r) };
    },
  };
}

/** A fixed backoff, so a test can tell the delay the policy chose. */
const FIXED = (ms: number) => ({ baseMs: ms, capMs: ms, minMs: ms });

function client(opts: Partial<SignalClientOptions> & Pick<SignalClientOptions, 'url'>): SignalClient {
  const c = new SignalClient({ dial: wsDial(), clientName: 'core-test', ...opts });
  clients.push(c);
  return c;
}

/** Resolves with the next `event` of `c`, or fails after `ms` with `what`. */
function next<K extends keyof SignalClientEvents>(c: SignalClient, event: K, ms: number, what: string): Promise<SignalClientEvents[K]> {
  return withTimeout(c.waitFor(event), ms, what);
}

describe('the signaling state machine', () => {
  it('says hello, is welcomed, sends and pings; close() is final and idempotent', async () => {
    const s = await server();
    const c = client({ url: s.wsUrl });
    const states: string[] = [];
    c.on('state', (st) => states.push(st));
    const w = await withTimeout(c.connect(), 5000, 'welcome');
    expect(w.sessionId).not.toBe('');
    expect(c.ready).toBe(true);
    expect(await withTimeout(c.ping(), 5000, 'pong')).toBeGreaterThanOrEqual(0);
    const queued = next(c, 'message', 5000, 'queued after join');
    expect(c.send({ type: 'join', hub: 'tamil' })).toBe(true);
    expect((await queued)[0].type).toMatch(/queued|hubs/);
    await c.close();
    await c.close();
    expect(states).toEqual(['connecting', 'open', 'closed']);
    expect(c.send({ type: 'leave' })).toBe(false);
    await expect(c.connect()).rejects.toMatchObject({ code: 'CHZ_ERR_CLIENT_STATE', message: 'SignalClient cannot go from state closed to connecting' });
  });

  it('a welcome that arrives after close() (ws still delivers frames while closing) rejects connect() and throws nothing', async () => {
    const s = await server();
    const real = client({ url: s.wsUrl });
    const welcome = JSON.stringify(await withTimeout(real.connect(), 5000, 'a real welcome to replay'));
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await withTimeout(once(wss, 'listening'), 5000, 'raw server listening');
    try {
      const c = client({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`, reconnect: false });
      let answered = false;
      // The hello arrives; the client is closed; only then does the welcome go out.
      wss.on('connection', (ws) => ws.on('message', () => { void c.close(); ws.send(welcome); answered = true; }));
      await expect(withTimeout(c.connect(), 5000, 'connect settles')).rejects.toMatchObject({ code: 'CHZ_ERR_SERVER_UNREACHABLE' });
      expect(answered).toBe(true);
      expect(c.state).toBe('closed');
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  it('an unreachable server rejects connect() at once with CHZ_ERR_SERVER_UNREACHABLE (no retry)', async () => {
    const port = await freeTcpPort();
    const d = countingDial();
    const c = client({ url: `ws://127.0.0.1:${port}/ws`, dial: d.dial });
    const err = await withTimeout(c.connect().then(() => null, (e: ChatzyoError) => e), 5000, 'refusal');
    expect(err).toMatchObject({ code: 'CHZ_ERR_SERVER_UNREACHABLE', message: expect.stringMatching(/ECONNREFUSED/) });
    expect(c.state).toBe('closed');
    expect(d.dials()).toBe(1);
  });

  it('a close 4003 at the handshake rejects with CHZ_ERR_SERVER_REJECTED, the wire code as its cause', async () => {
    const s = await server({ maxConnectionsPerAddress: 1 });
    raw.push(await TestClient.connect(s.wsUrl));
    const c = client({ url: s.wsUrl });
    const err = await withTimeout(c.connect().then(() => null, (e: ChatzyoError) => e), 5000, 'refusal');
    expect(err).toMatchObject({ code: 'CHZ_ERR_SERVER_REJECTED', message: expect.stringMatching(/4003 CHZ_ERR_TOO_MANY_CONNECTIONS/) });
    expect((err!.cause as ChatzyoError).code).toBe('CHZ_ERR_TOO_MANY_CONNECTIONS');
  });

  it('close 4005 (shutdown) retries after the backoff and is welcomed again by the server on the same port', async () => {
    const first = await server();
    const port = first.port;
    const d = countingDial();
    const c = client({ url: first.wsUrl, dial: d.dial, backoff: FIXED(300) });
    await withTimeout(c.connect(), 5000, 'first welcome');
    const dropped = next(c, 'disconnected', 5000, 'disconnected after shutdown');
    await first.close();
    const [loss] = await dropped;
    expect(loss).toMatchObject({ code: 4005, serverCode: 'CHZ_ERR_SERVER_SHUTDOWN', willReconnect: true, delayMs: 300, attempt: 0 });
    expect(c.state).toBe('reconnecting');
    const droppedAt = Date.now();
    await server({ port });
    // Attempts that find the port closed come back as more disconnects; the welcome ends them.
    const [w, how] = await next(c, 'welcome', 15_000, 'welcome after the restart');
    expect(how.reconnected).toBe(true);
    expect(w.sessionId).not.toBe('');
    expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(250);
    expect(c.state).toBe('open');
    expect(d.dials()).toBeGreaterThanOrEqual(2);
  });

  it('close 4003 while retrying waits four times the backoff, then gets in once a slot is free', async () => {
    const s = await server({ maxConnectionsPerAddress: 1 });
    const hog = await TestClient.connect(s.wsUrl);
    raw.push(hog);
    const c = client({ url: s.wsUrl, backoff: FIXED(200), retryFirstConnect: true, reconnectTimeoutMs: Infinity });
    const dropped = next(c, 'disconnected', 5000, 'refused by the connection cap');
    const welcomed = withTimeout(c.connect(), 15_000, 'welcome once the hog left');
    const [loss] = await dropped;
    expect(loss).toMatchObject({ code: 4003, serverCode: 'CHZ_ERR_TOO_MANY_CONNECTIONS', willReconnect: true, delayMs: 800 });
    await hog.close();
    expect((await welcomed).sessionId).not.toBe('');
  });

  it('a version the server refuses is final while reconnecting: one attempt, then failed with CHZ_ERR_SERVER_REJECTED', async () => {
    const first = await server();
    const port = first.port;
    let version = PROTOCOL_VERSION;
    const d = countingDial((t) => t.replace(`"version":${PROTOCOL_VERSION}`, `"version":${version}`));
    const c = client({ url: first.wsUrl, dial: d.dial, backoff: FIXED(100) });
    await withTimeout(c.connect(), 5000, 'first welcome');
    version = PROTOCOL_VERSION + 99; // from now on, this client speaks a version nobody serves
    const failed = next(c, 'failed', 15_000, 'failed after the refusal');
    const losses: boolean[] = [];
    c.on('disconnected', (l) => losses.push(l.willReconnect));
    await first.close();
    await server({ port });
    const [err] = await failed;
    expect(err.code).toBe('CHZ_ERR_SERVER_REJECTED');
    expect(c.state).toBe('closed');
    expect(losses.at(-1)).toBe(false);
    const dials = d.dials();
    expect(dials).toBeGreaterThanOrEqual(2);
    // Closed for good: `closed` leads nowhere, so no timer is left that could dial again.
    await expect(c.connect()).rejects.toMatchObject({ code: 'CHZ_ERR_CLIENT_STATE' });
    expect(d.dials()).toBe(dials);
  });

  it('with reconnect off (the bots) a drop is reported once and the client is closed, with no new dial', async () => {
    const s = await server();
    const d = countingDial();
    const c = client({ url: s.wsUrl, dial: d.dial, reconnect: false });
    await withTimeout(c.connect(), 5000, 'welcome');
    const dropped = next(c, 'disconnected', 5000, 'disconnected');
    const failed = next(c, 'failed', 5000, 'failed');
    await s.close();
    const [[loss], [err]] = await Promise.all([dropped, failed]);
    expect(loss).toMatchObject({ code: 4005, serverCode: 'CHZ_ERR_SERVER_SHUTDOWN', willReconnect: false, delayMs: 0 });
    expect(err.code).toBe('CHZ_ERR_SERVER_UNREACHABLE');
    expect(c.state).toBe('closed');
    expect(d.dials()).toBe(1);
  });
});

describe('the protocol policy', () => {
  it('has a close policy for every close code of the protocol: only a version mismatch and a missing age assertion are final, the connection cap retries slowly', () => {
    expect(Object.keys(CLOSE_POLICY).sort()).toEqual(Object.keys(CLOSE_CODES).sort());
    const final = Object.keys(CLOSE_CODES).map(Number).filter(isFinalClose);
    expect(final.map((c) => CLOSE_CODES[c as keyof typeof CLOSE_CODES])).toEqual(['CHZ_ERR_VERSION', 'CHZ_ERR_AGE_REQUIRED']);
    expect(closeBackoffFactor(4003)).toBe(4);
    expect(closeBackoffFactor(4005)).toBe(1);
    expect(isFinalClose(1006)).toBe(false);
  });

  it('recognises the real server\'s answer to a Next that crossed the partner\'s, and the errors that end a search', async () => {
    const s = await server();
    const c = await TestClient.connect(s.wsUrl);
    raw.push(c);
    c.send({ type: 'next' }); // no match any more: what a crossed Next meets
    const e = await c.next('error');
    expect(isCrossedSkip(e)).toBe(true);
    c.send({ type: 'join', hub: 'no-such-hub' });
    const hub = await c.next('error');
    expect(hub.code).toBe('CHZ_ERR_UNKNOWN_HUB');
    expect(isFatalServerError(hub.code)).toBe(true);
    expect(isCrossedSkip(hub)).toBe(false);
    expect(isFatalServerError('CHZ_ERR_RATE_LIMITED')).toBe(false);
  });
});

describe('the typed emitter', () => {
  type Ev = { x: [number] };

  it('emit (internal wiring) lets a throwing listener\'s error reach the emitter', () => {
    const e = new TypedEmitter<Ev>();
    const seen: number[] = [];
    e.on('x', () => { throw new Error('wiring bug'); });
    e.on('x', (n) => seen.push(n));
    expect(() => e.emit('x', 1)).toThrow('wiring bug');
    expect(seen).toEqual([]);
  });

  it('safeEmit (observers) reports a throwing listener to onListenerError and still calls the others', () => {
    const e = new TypedEmitter<Ev>();
    const seen: number[] = [];
    const reported: [string, unknown][] = [];
    e.onListenerError = (event, error) => reported.push([event, error]);
    e.on('x', () => { throw new Error('view bug'); });
    e.on('x', (n) => seen.push(n));
    expect(() => e.safeEmit('x', 2)).not.toThrow();
    expect(seen).toEqual([2]);
    expect(reported).toHaveLength(1);
    expect(reported[0]![0]).toBe('x');
    expect((reported[0]![1] as Error).message).toBe('view bug');
  });

  it('once, off and waitFor', async () => {
    const e = new TypedEmitter<Ev>();
    const seen: number[] = [];
    e.once('x', (n) => seen.push(n));
    const off = e.on('x', (n) => seen.push(n * 10));
    const waited = e.waitFor('x');
    e.emit('x', 1);
    off();
    e.emit('x', 2);
    expect(seen).toEqual([1, 10]);
    expect(await withTimeout(waited, 1000, 'waitFor')).toEqual([1]);
  });
});
