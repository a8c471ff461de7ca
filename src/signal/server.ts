/**
 * `chatzyo serve`: HTTP (the browser client, /healthz, /metrics, /api/hubs) and the signaling
 * WebSocket at /ws on one port, plus the built-in STUN responder on UDP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_PATH, type HubCount, type IceServer } from '../protocol/index.js';
import type { ServerContext } from './context.js';
import { randomId } from './ids.js';
import type { Matchmaker, MatchmakerListener } from './matchmaker.js';
import { MemoryMatchmaker } from './memory-matchmaker.js';
import { RedisMatchmaker } from './redis-matchmaker.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { DEFAULT_OPTIONS, type SignalServerOptions } from './options.js';
import { ClientSession } from './session.js';
import { StunServer } from './stun-server.js';
import { iceServersFor } from './turn-credentials.js';

/** Builds a matchmaker for a server; the default is {@link MemoryMatchmaker}. */
export type MatchmakerFactory = (options: SignalServerOptions, listener: MatchmakerListener) => Matchmaker | Promise<Matchmaker>;

/** Extra wiring for embedding and tests. */
export interface SignalServerDeps {
  matchmaker?: MatchmakerFactory;
  logger?: Logger;
  /**
   * Rewrites a relayed signal before delivery. Only tests use it (to play a malicious
   * signaling server that swaps a DTLS fingerprint).
   */
  tamper?: (data: import('../protocol/index.js').SignalData, toClientId: string) => import('../protocol/index.js').SignalData;
}

const DEFAULT_WEB_ROOT = path.resolve(fileURLToPath(import.meta.url), '../../../dist/web');

const PLACEHOLDER_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>chatzyo</title></head>
<body><h1>chatzyo</h1><p>The signaling server is running. The browser client has not been built: run <code>npm run build</code>.</p></body></html>`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.map': 'application/json',
};

/** A running signaling server. */
export class SignalServer {
  readonly options: SignalServerOptions;
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly sessions = new Map<string, ClientSession>();
  matchmaker!: Matchmaker;
  #http!: http.Server | https.Server;
  #wss!: WebSocketServer;
  #stun: StunServer | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #hubsTimer: NodeJS.Timeout | null = null;
  #lastCounts: HubCount[] | null = null;
  #lastCountsKey = '';
  readonly #perAddress = new Map<string, number>();
  readonly #salt = randomBytes(16);
  #closing: Promise<void> | null = null;
  readonly #deps: SignalServerDeps;
  #ctx!: ServerContext;

  private constructor(options: SignalServerOptions, deps: SignalServerDeps) {
    this.options = options;
    this.#deps = deps;
    this.log = deps.logger ?? pino({ level: options.logLevel, base: { svc: 'chatzyo' } }, pino.destination(2));
    this.metrics = createMetrics(() => this.matchmaker);
  }

  /** Starts a server; `port: 0` and `stunPort: 0` pick free ports. */
  static async start(options: Partial<SignalServerOptions> = {}, deps: SignalServerDeps = {}): Promise<SignalServer> {
    const opts: SignalServerOptions = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
    validateOptions(opts);
    const server = new SignalServer(opts, deps);
    try {
      await server.#start();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** The HTTP port actually bound. */
  get port(): number { return (this.#http.address() as AddressInfo).port; }
  /** The built-in STUN port, or null when disabled. */
  get stunPort(): number | null { return this.#stun?.port ?? null; }
  /** The built-in STUN responder's second port (RFC 5780), when it has one. */
  get stunAltPort(): number | null { return this.#stun?.altPort ?? null; }
  /** A URL clients can use (loopback when bound to every interface). */
  get url(): string {
    const scheme = this.options.tlsCert ? 'https' : 'http';
    const h = this.options.host;
    const host = h === '0.0.0.0' || h === '::' ? 'localhost' : h.includes(':') ? `[${h}]` : h;
    return `${scheme}://${host}:${this.port}`;
  }
  /** The WebSocket URL. */
  get wsUrl(): string { return this.url.replace(/^http/, 'ws') + WS_PATH; }

  async #start(): Promise<void> {
    const o = this.options;
    const listener: MatchmakerListener = {
      matched: (id, notice) => {
        if (notice.role === 'offerer') this.metrics.matches.inc({ kind: notice.private ? 'private' : 'hub' });
        this.metrics.matchWait.observe(notice.waitedMs / 1000);
        const session = this.sessions.get(id);
        if (session) { session.onMatched(notice); return; }
        // The client left this node before the match reached it: undo, so the partner hears.
        this.matchmaker.remove(id, 'disconnect').catch((err: unknown) => this.log.warn({ err }, 'could not undo a match for a departed client'));
      },
      partnerLeft: (id, matchId, reason) => this.sessions.get(id)?.onPartnerLeft(matchId, reason),
      signal: (id, matchId, data) => {
        const out = this.#deps.tamper ? this.#deps.tamper(data, id) : data;
        if (this.sessions.get(id)?.onSignal(matchId, out)) this.metrics.relayed.inc();
      },
      privateExpired: (id, code) => this.sessions.get(id)?.onPrivateExpired(code),
    };
    const factory: MatchmakerFactory = this.#deps.matchmaker ?? (o.redisUrl
      ? (opts, l) => RedisMatchmaker.connect({ ...opts, url: opts.redisUrl!, nodeId: opts.nodeId ?? randomId(6), nodeTtlMs: opts.nodeTtlMs, log: this.log }, l)
      : (opts, l) => new MemoryMatchmaker(opts, l));
    this.matchmaker = await factory(o, listener);
    if (this.matchmaker instanceof RedisMatchmaker) {
      this.matchmaker.onRecover(() => {
        // Redis may have lost its data: put clients who were waiting back in their queues.
        for (const s of this.sessions.values()) s.requeue().catch(() => undefined);
      });
    }

    if (o.stunPort !== null) {
      this.#stun = await StunServer.start({
        address: o.stunAddress ?? o.host, port: o.stunPort, altAddress: o.stunAltAddress, altPort: o.stunAltPort, log: this.log,
      });
    }

    this.#ctx = {
      options: o,
      matchmaker: this.matchmaker,
      metrics: this.metrics,
      log: this.log,
      hasTurn: o.turnUrls.length > 0 && !!o.turnSecret,
      iceServersFor: (id, host) => this.#iceServers(id, host),
      lastCounts: () => this.#lastCounts,
    };

    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#onHttp(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'http handler failed');
        if (!res.headersSent) res.writeHead(500).end('internal error');
      });
    };
    this.#http = o.tlsCert && o.tlsKey
      ? https.createServer({ cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) }, handler)
      : http.createServer(handler);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(o.maxFrameBytes * 4, 256 * 1024), perMessageDeflate: false });
    this.#http.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as import('node:net').Socket, head));
    this.#http.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(o.port, o.host, () => { this.#http.off('error', reject); resolve(); });
    });

    this.#heartbeat = setInterval(() => this.#beat(), o.heartbeatMs);
    this.#heartbeat.unref();
    this.#hubsTimer = setInterval(() => void this.#pushCounts(), o.hubsIntervalMs);
    this.#hubsTimer.unref();
    await this.#pushCounts();
    this.log.info({ url: this.url, stunPort: this.stunPort, hubs: o.hubs }, 'listening');
  }

  /** The STUN URL announced for the built-in responder, named as the client reached us. */
  #stunUrlFor(hostHeader: string | undefined): string | null {
    if (!this.#stun) return null;
    let host = 'localhost';
    if (hostHeader) {
      try { host = new URL(`http://${hostHeader}`).hostname; } catch { /* keep localhost */ }
    }
    return `stun:${host}:${this.#stun.port}`;
  }

  #iceServers(sessionId: string, hostHeader: string | undefined): IceServer[] {
    const o = this.options;
    const builtIn = this.#stunUrlFor(hostHeader);
    const stunUrls = o.stunUrls.length ? o.stunUrls : builtIn ? [builtIn] : [];
    return iceServersFor({ stunUrls, turnUrls: o.turnUrls, turnSecret: o.turnSecret, turnTtlSeconds: o.turnTtlSeconds }, sessionId);
  }

  #clientAddress(req: http.IncomingMessage): string {
    if (this.options.trustProxy) {
      const xff = req.headers['x-forwarded-for'];
      const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? 'unknown';
  }

  /** A salted hash, so logs can correlate one address without recording it. */
  hashAddress(address: string): string {
    return createHash('sha256').update(this.#salt).update(address).digest('hex').slice(0, 12);
  }

  #onUpgrade(req: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== WS_PATH || this.#closing) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const origin = req.headers.origin;
    if (origin && this.options.allowedOrigins.length && !this.options.allowedOrigins.includes(origin)) {
      this.metrics.errors.inc({ code: 'CHZ_ERR_ORIGIN' });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nCHZ_ERR_ORIGIN: this origin may not connect\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
  }

  #onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const address = this.#clientAddress(req);
    const addressHash = this.hashAddress(address);
    const session = new ClientSession(ws, randomId(16), addressHash, req.headers.host, this.#ctx);
    ws.on('error', (err) => this.log.debug({ err: err.message, session: session.id }, 'socket error'));
    const count = (this.#perAddress.get(address) ?? 0) + 1;
    this.#perAddress.set(address, count);
    ws.on('close', () => {
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#perAddress.delete(address); else this.#perAddress.set(address, left);
      if (this.sessions.get(session.id) === session) {
        this.sessions.delete(session.id);
        this.metrics.connected.dec();
      }
      session.closed(session.timedOut ? 'timeout' : 'disconnect').catch((err: unknown) => this.log.error({ err, session: session.id }, 'cleanup failed'));
    });
    if (count > this.options.maxConnectionsPerAddress) {
      this.log.warn({ addr: addressHash, count }, 'too many connections from one address');
      session.fail('CHZ_ERR_TOO_MANY_CONNECTIONS');
      return;
    }
    this.sessions.set(session.id, session);
    this.metrics.connected.inc();
    ws.on('message', (data, isBinary) => session.receive(toBuffer(data), isBinary));
    ws.on('pong', () => session.markAlive());
    this.log.debug({ session: session.id, addr: addressHash }, 'connected');
  }

  #beat(): void {
    for (const s of this.sessions.values()) {
      if (!s.checkAlive()) {
        this.log.info({ session: s.id }, 'heartbeat timeout');
        s.timedOut = true;
        s.ws.terminate();
        continue;
      }
      try { s.ws.ping(); } catch { /* closed meanwhile */ }
    }
  }

  async #pushCounts(): Promise<void> {
    let counts: HubCount[];
    try {
      counts = await this.matchmaker.counts();
    } catch (err) {
      this.log.warn({ err }, 'hub counts unavailable');
      return;
    }
    const key = JSON.stringify(counts);
    this.#lastCounts = counts;
    if (key === this.#lastCountsKey) return;
    this.#lastCountsKey = key;
    const msg = JSON.stringify({ type: 'hubs', hubs: counts });
    for (const s of this.sessions.values()) {
      if ((s.state === 'ready' || s.state === 'queued' || s.state === 'private-waiting') && s.ws.readyState === s.ws.OPEN) s.ws.send(msg);
    }
  }

  async #onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (p === '/healthz') {
      const redis = this.matchmaker instanceof RedisMatchmaker ? (this.matchmaker.healthy ? 'up' : 'down') : undefined;
      const ok = redis !== 'down';
      const body = {
        status: ok ? 'ok' : 'unhealthy', uptimeSeconds: Math.round(process.uptime()), clients: this.sessions.size,
        matchmaker: this.matchmaker instanceof RedisMatchmaker ? 'redis' : 'memory',
        ...(redis ? { redis, node: (this.matchmaker as RedisMatchmaker).nodeId } : {}),
      };
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (p === '/metrics') {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text);
      return;
    }
    if (p === '/api/hubs') {
      let hubs: HubCount[];
      try {
        hubs = await this.matchmaker.counts();
      } catch {
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'CHZ_ERR_UNAVAILABLE', message: 'hub counts are unavailable' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ hubs }));
      return;
    }
    await this.#serveStatic(p, res);
  }

  async #serveStatic(p: string, res: http.ServerResponse): Promise<void> {
    const root = this.options.webRoot ?? DEFAULT_WEB_ROOT;
    const rel = p === '/' ? 'index.html' : p.slice(1);
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(rel) || rel.includes('..')) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers = {
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'",
    };
    try {
      const body = await readFile(path.join(root, rel));
      res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES[path.extname(rel)] ?? 'application/octet-stream' }).end(body);
    } catch {
      if (rel === 'index.html') res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PLACEHOLDER_PAGE);
      else res.writeHead(404).end('not found');
    }
  }

  /**
   * Shuts down: every client is told (`CHZ_ERR_SERVER_SHUTDOWN`, close 4005), sockets closed,
   * timers stopped, STUN socket closed. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#hubsTimer) clearInterval(this.#hubsTimer);
    for (const s of this.sessions.values()) s.fail('CHZ_ERR_SERVER_SHUTDOWN');
    const wsClosed = this.#wss ? Promise.all([...this.#wss.clients].map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === ws.CLOSED) { resolve(); return; }
      const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
      ws.once('close', () => { clearTimeout(t); resolve(); });
    }))) : Promise.resolve();
    await wsClosed;
    this.#wss?.close();
    if (this.#http?.listening) {
      this.#http.closeAllConnections?.();
      await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    }
    await this.#stun?.close();
    await this.matchmaker?.close();
    this.log.info('closed');
  }
}


function toBuffer(data: import('ws').RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Thrown for an impossible server configuration. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CHZ_ERR_CONFIG';
}

function validateOptions(o: SignalServerOptions): void {
  if (!o.hubs.length) throw new ConfigError('at least one hub is needed (--hubs)');
  for (const h of o.hubs) if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(h)) throw new ConfigError(`bad hub name "${h}": use 1-32 of a-z, 0-9 and -`);
  if (o.turnUrls.length && !o.turnSecret) throw new ConfigError('--turn needs --turn-secret (the coturn static-auth-secret)');
  if (o.stunAltAddress && (!o.stunAddress && (o.host === '0.0.0.0' || o.host === '::'))) {
    throw new ConfigError('--stun-alt-address needs a specific primary address: set --stun-address (or --host)');
  }
  if ((o.tlsCert && !o.tlsKey) || (!o.tlsCert && o.tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together');
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new ConfigError(`${k} must be a non-negative number`);
  }
}
