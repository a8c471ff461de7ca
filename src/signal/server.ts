/**
 * `chatzyo serve`: HTTP (the browser client, /healthz, /metrics, /api/hubs) and the signaling
 * WebSocket at /ws on one port, plus the built-in STUN responder on UDP.
 */
import { readFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_LANDMARKS, WS_PATH, type HubCount, type IceServer, type Landmark, type LandmarkRtts } from '../protocol/index.js';
import type { ServerContext } from './context.js';
import { randomId } from './ids.js';
import type { Matchmaker, MatchmakerListener } from './matchmaker.js';
import { MemoryMatchmaker } from './memory-matchmaker.js';
import { RedisMatchmaker } from './redis-matchmaker.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { DEFAULT_OPTIONS, type SignalServerOptions } from './options.js';
import { ClientSession } from './session.js';
import { errorForLog } from './log-safe.js';
import { KeyedWindows, WindowPool } from './rate-limit.js';
import { StunServer } from './stun-server.js';
import { stunBinding } from '../stun/client.js';
import { ConfigError, PortInUseError, type PortRole } from './errors.js';
import { iceServersFor, splitTurnRegion } from './turn-credentials.js';
import { Safety } from './safety.js';
import { ADMIN_PREFIX, serveAdmin } from './admin-api.js';

/** Builds a matchmaker for a server; the default is {@link MemoryMatchmaker}. */
type MatchmakerFactory = (options: SignalServerOptions, listener: MatchmakerListener) => Matchmaker | Promise<Matchmaker>;

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
  // https://www.w3.org/TR/appmanifest/#media-type-registration
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
};

/**
 * Extra headers for some static files. The service worker is revalidated on every load, so a
 * new build's worker (and with it the new cache) is found at once; browsers already skip their
 * HTTP cache when they check sw.js for updates, proxies and older browsers may not.
 */
const STATIC_HEADERS = new Map<string, Record<string, string>>([
  ['sw.js', { 'cache-control': 'no-cache' }],
]);

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
  /** The operator chose the STUN port (or --no-stun); otherwise the default port may yield (see {@link SignalServer.stunNote}). */
  readonly #stunPortChosen: boolean;
  /** STUN URLs announced instead of the built-in responder's, derived from `turnUrls`. */
  #turnStunUrls: string[] = [];
  /** A STUN server on this host that holds the default port and answers: announced in place of ours. */
  #sharedStunPort: number | null = null;
  #stunNote: string | null = null;
  /** Extra /healthz sections, by name (the demo bots). */
  readonly #healthSections = new Map<string, () => HealthSection>();
  #heartbeat: NodeJS.Timeout | null = null;
  #hubsTimer: NodeJS.Timeout | null = null;
  #lastCounts: HubCount[] | null = null;
  #lastCountsKey = '';
  readonly #perAddress = new Map<string, number>();
  /** Skip-limit windows left by closed connections, per (hashed) address. */
  #endedMatches!: WindowPool;
  /** TURN credentials minted per (hashed) address in the last minute. */
  #turnMints!: KeyedWindows;
  /** The separate /metrics + /healthz listener, when `metricsPort` is set. */
  #metricsHttp: http.Server | null = null;
  #headers!: Record<string, string>;
  #allowedOrigins!: Set<string>;
  /** Anonymous identities, reports and bans; its secret also keys the address hashes. */
  #safety: Safety | null = null;
  #closing: Promise<void> | null = null;
  readonly #deps: SignalServerDeps;
  #ctx!: ServerContext;

  private constructor(options: SignalServerOptions, deps: SignalServerDeps, stunPortChosen: boolean) {
    this.options = options;
    this.#stunPortChosen = stunPortChosen;
    this.#deps = deps;
    this.log = deps.logger ?? pino({ level: options.logLevel, base: { svc: 'chatzyo' } }, pino.destination(2));
    this.metrics = createMetrics(() => this.matchmaker);
  }

  /**
   * Starts a server; `port: 0` and `stunPort: 0` pick free ports. Without a `stunPort` (the
   * default 3478) the built-in STUN responder yields: with `turnUrls` and no `stunUrls` it is not
   * started and the TURN servers' STUN is announced; when another STUN server on this host
   * (another node, coturn) holds the port, that one is announced. A busy port the operator chose
   * is a {@link PortInUseError}.
   */
  static async start(options: Partial<SignalServerOptions> = {}, deps: SignalServerDeps = {}): Promise<SignalServer> {
    const opts: SignalServerOptions = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
    validateOptions(opts);
    const server = new SignalServer(opts, deps, options.stunPort !== undefined);
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
  /** The metrics listener's port, or null when /metrics is served on the app port. */
  get metricsPort(): number | null { return this.#metricsHttp ? (this.#metricsHttp.address() as AddressInfo).port : null; }
  /** The built-in STUN port, or null when disabled. */
  get stunPort(): number | null { return this.#stun?.port ?? null; }
  /** Another STUN server's port on this host, announced because it held the default STUN port. */
  get sharedStunPort(): number | null { return this.#sharedStunPort; }
  /** STUN URLs announced as given (`stunUrls`) or derived from the TURN URLs; empty when the built-in (or shared) responder is announced. */
  get stunUrls(): string[] { return this.options.stunUrls.length ? this.options.stunUrls : this.#turnStunUrls; }
  /** Why the built-in STUN responder did not start on the default port (a warning for the operator), or null. */
  get stunNote(): string | null { return this.#stunNote; }
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
    this.#endedMatches = new WindowPool(o.nextsPerMinute, o.skipWindowMs, o.maxConnectionsPerAddress * 2);
    this.#turnMints = new KeyedWindows(o.turnMintsPerMinute, 60_000);
    this.#headers = securityHeaders(o);
    this.#allowedOrigins = new Set(o.allowedOrigins.map((x) => normaliseOrigin(x)).filter((x): x is string => x !== null));
    const listener: MatchmakerListener = {
      matched: (id, notice) => {
        if (notice.role === 'offerer') this.metrics.matches.inc({ kind: notice.private ? 'private' : 'hub' });
        this.metrics.matchWait.observe(notice.waitedMs / 1000);
        if (notice.role === 'offerer' && !notice.private) {
          // The offerer is the one who waited (the other arrived and was paired at once, or both were paired on a tick).
          const known = notice.estimatedRttMs !== null && notice.estimatedRttMs !== undefined;
          if (known) this.metrics.pairRttEstimate.observe(notice.estimatedRttMs!);
          this.metrics.pairWait.observe({ estimate: known ? 'known' : 'unknown' }, notice.waitedMs / 1000);
        }
        const session = this.sessions.get(id);
        if (session) { session.onMatched(notice); return; }
        // The client left this node before the match reached it: undo, so the partner hears.
        this.matchmaker.remove(id, 'disconnect').catch((err: unknown) => this.log.warn({ err }, 'could not undo a match for a departed client'));
      },
      partnerLeft: (id, matchId, reason) => this.sessions.get(id)?.onPartnerLeft(matchId, reason),
      signal: (id, matchId, data) => {
        const out = this.#deps.tamper ? this.#deps.tamper(data, id) : data;
        const delivered = this.sessions.get(id)?.onSignal(matchId, out) ?? false;
        if (delivered) this.metrics.relayed.inc();
        return delivered;
      },
      privateExpired: (id, code) => this.sessions.get(id)?.onPrivateExpired(code),
      present: (id) => this.sessions.has(id),
    };
    const factory: MatchmakerFactory = this.#deps.matchmaker ?? (o.redisUrl
      ? (opts, l) => RedisMatchmaker.connect({ ...opts, url: opts.redisUrl!, nodeId: opts.nodeId ?? randomId(6), nodeTtlMs: opts.nodeTtlMs, log: this.log, registry: this.metrics.registry }, l)
      : (opts, l) => new MemoryMatchmaker(opts, l));
    this.matchmaker = await factory(o, listener);
    if (this.matchmaker instanceof RedisMatchmaker) {
      this.matchmaker.onRecover(() => {
        // Redis may have lost its data: put clients who were waiting back in their queues.
        for (const s of this.sessions.values()) s.requeue().catch(() => undefined);
      });
    }

    await this.#startStun();
    const safety = await Safety.start(o, this.metrics, this.log);
    this.#safety = safety;

    this.#ctx = {
      options: o,
      matchmaker: this.matchmaker,
      metrics: this.metrics,
      log: this.log,
      safety,
      hasTurn: o.turnUrls.length > 0 && !!o.turnSecret,
      iceServersFor: (session, withTurn) => this.#iceServers(session, withTurn),
      landmarksFor: (session) => this.#landmarks(session.hostHeader),
      adoptEndedMatches: (addressHash) => this.#endedMatches.adopt(addressHash),
      releaseEndedMatches: (addressHash, w) => this.#endedMatches.release(addressHash, w),
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
    await listen(this.#http, o.port, o.host, 'http');
    if (o.metricsPort !== undefined) {
      this.#metricsHttp = http.createServer((req, res) => {
        this.#onMetricsHttp(req, res).catch((err: unknown) => {
          this.log.error(errorForLog(err), 'metrics handler failed');
          if (!res.headersSent) res.writeHead(500).end('internal error');
        });
      });
      this.#metricsHttp.on('clientError', (_err, socket) => socket.destroy());
      await listen(this.#metricsHttp, o.metricsPort, o.metricsHost, 'metrics');
    }

    this.#heartbeat = setInterval(() => this.#beat(), o.heartbeatMs);
    this.#heartbeat.unref();
    this.#hubsTimer = setInterval(() => void this.#pushCounts(), o.hubsIntervalMs);
    this.#hubsTimer.unref();
    await this.#pushCounts();
    if (this.#stunNote) this.log.warn({ stunPort: o.stunPort }, this.#stunNote);
    this.log.info({ url: this.url, stunPort: this.stunPort, sharedStunPort: this.#sharedStunPort ?? undefined, stunUrls: this.stunUrls, hubs: o.hubs }, 'listening');
  }

  /**
   * Starts the built-in STUN responder, or, on the default port, decides what to announce
   * instead: beside coturn (`--turn`) its STUN, beside another node the responder that holds
   * the port. An operator who runs a second node or coturn on one host should not have to
   * learn about UDP 3478 first; one who chose the port gets an error.
   */
  async #startStun(): Promise<void> {
    const o = this.options;
    if (o.stunPort === null) return;
    const turnStun = stunUrlsFromTurn(o.turnUrls);
    if (!this.#stunPortChosen && !o.stunUrls.length && turnStun.length) {
      // coturn answers STUN (RFC 8489 Binding) on its TURN port: a second responder adds nothing.
      this.#turnStunUrls = turnStun;
      this.#stunNote = `the built-in STUN responder is not started: with --turn, clients are told the TURN server's STUN (${turnStun.join(', ')}); --stun-port N starts it anyway`;
      return;
    }
    const address = o.stunAddress ?? o.host;
    try {
      this.#stun = await StunServer.start({ address, port: o.stunPort, altAddress: o.stunAltAddress, altPort: o.stunAltPort, log: this.log });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const busy = new PortInUseError('stun', o.stunPort, address, { cause: err });
      if (this.#stunPortChosen) throw busy;
      if (o.stunUrls.length) {
        this.#stunNote = `UDP port ${o.stunPort} is in use on this host, so the built-in STUN responder is not started; clients are told the --stun URLs`;
        return;
      }
      if (!(await stunAnswers(address, o.stunPort))) throw busy;
      this.#sharedStunPort = o.stunPort;
      this.#stunNote = `UDP port ${o.stunPort} is held by another STUN server on this host (another chatzyo node or coturn): clients are told to use it, `
        + `and this node runs no STUN responder of its own. If that server stops, so does STUN for this node: give each node its own --stun-port, or announce coturn with --stun`;
    }
  }

  /** The STUN URL announced for the built-in responder, named as the client reached us. */
  #stunUrlFor(hostHeader: string | undefined): string | null {
    const port = this.#stun?.port ?? this.#sharedStunPort;
    if (port === null) return null;
    let host = 'localhost';
    if (hostHeader) {
      try { host = new URL(`http://${hostHeader}`).hostname; } catch { /* keep localhost */ }
    }
    return `stun:${host}:${port}`;
  }

  /**
   * The landmarks for nearby pairing: this node's own STUN responder (named by --region, as the
   * client reached us) and the --landmark ones; none when pairing is random.
   */
  #landmarks(hostHeader: string | undefined): Landmark[] {
    const o = this.options;
    if (o.pairing !== 'nearby') return [];
    const own = this.#stunUrlFor(hostHeader);
    const out = own && !o.landmarks.some((l) => l.name === o.region) ? [{ name: o.region, url: own }] : [];
    return [...out, ...o.landmarks].slice(0, MAX_LANDMARKS);
  }

  #iceServers(session: { id: string; addressHash: string; hostHeader: string | undefined; rtts?: LandmarkRtts | undefined }, withTurn: boolean): { iceServers: IceServer[]; turnExpiresAt: number | null } {
    const o = this.options;
    const builtIn = this.#stunUrlFor(session.hostHeader);
    const stunUrls = this.stunUrls.length ? this.stunUrls : builtIn ? [builtIn] : [];
    let turn = withTurn && this.#ctx.hasTurn;
    const mints = this.#turnMints.of(session.addressHash);
    // A refused request is not recorded: the quota frees up while someone keeps asking.
    if (turn && !mints.wouldExceed()) mints.hit();
    else if (turn) {
      // One address asking for relays faster than calls can use them is minting a free relay.
      turn = false;
      this.metrics.errors.inc({ code: 'CHZ_ERR_TURN_QUOTA' });
      this.log.warn({ addr: session.addressHash, session: session.id }, 'TURN credential quota reached for an address');
    }
    return iceServersFor({ stunUrls, turnUrls: o.turnUrls, turnSecret: o.turnSecret, turnTtlSeconds: o.turnTtlSeconds }, session.id, turn, session.rtts);
  }

  /** The key per-address limits use: the client's IPv4 address, or its IPv6 /64. */
  #clientAddress(req: http.IncomingMessage): string {
    return addressKey(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.options.trustProxy));
  }

  /**
   * A keyed hash of an address (keyed by the deployment's safety secret, so the same on every
   * node and across restarts): logs and bans correlate one address without recording it.
   */
  hashAddress(address: string): string {
    return this.#safety!.identity.hashAddress(address);
  }

  #onUpgrade(req: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Everything in an upgrade request is the client's: nothing here may throw out of the
    // synchronous 'upgrade' listener (that would end the process).
    try {
      if (this.#closing) { this.#refuse(socket, 503, 'CHZ_ERR_SERVER_SHUTDOWN: the server is shutting down'); return; }
      const pathname = requestPath(req.url);
      if (pathname === null) { this.#refuse(socket, 400, 'bad request target'); return; }
      if (pathname !== WS_PATH) { this.#refuse(socket, 404, 'not found'); return; }
      if (!this.#originAllowed(req)) {
        this.metrics.errors.inc({ code: 'CHZ_ERR_ORIGIN' });
        this.#refuse(socket, 403, 'CHZ_ERR_ORIGIN: this origin may not connect');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
    } catch (err) {
      this.log.warn(errorForLog(err), 'upgrade failed');
      this.#refuse(socket, 400, 'bad request');
    }
  }

  /**
   * Answers a refused upgrade the way ws's own abortHandshake does: a complete response with
   * Content-Length, then the socket is destroyed once it is written.
   */
  #refuse(socket: import('node:net').Socket, status: number, message: string): void {
    if (socket.destroyed || !socket.writable) { socket.destroy(); return; }
    const body = `${message}\n`;
    const head = [
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(this.#headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.once('finish', () => socket.destroy());
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  }

  /**
   * Browsers send the page's Origin with a WebSocket upgrade; another website's page must not
   * use its visitors' browsers to connect. Accepted: no Origin (non-browser clients), an Origin
   * whose host is the Host the request was sent to (our own page), or one of `allowedOrigins`.
   */
  #originAllowed(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const o = normaliseOrigin(origin);
    if (o === null) return false;
    // An operator's list is the whole policy: it also shuts out a DNS-rebinding page, whose
    // Origin names the same (attacker's) host as its Host header.
    if (this.#allowedOrigins.size) return this.#allowedOrigins.has(o);
    const host = req.headers.host;
    if (!host) return false;
    // Either scheme: behind a TLS-terminating proxy the page is https while we see plain http.
    return normaliseOrigin(`http://${host}`) === o || normaliseOrigin(`https://${host}`) === o;
  }

  #onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const address = this.#clientAddress(req);
    const addressHash = this.hashAddress(address);
    const session = new ClientSession(ws, randomId(16), addressHash, req.headers.host, this.#ctx, this.#safety!.identity.hashReporterNet(address));
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
    ws.on('message', (data, isBinary) => {
      try {
        session.receive(toBuffer(data), isBinary);
      } catch (err) {
        // A bug must not end the process for everyone: log it and drop this client.
        this.log.error({ ...errorForLog(err), session: session.id }, 'receive failed');
        ws.terminate();
      }
    });
    ws.on('pong', () => session.markAlive());
    this.log.debug({ session: session.id, addr: addressHash }, 'connected');
  }

  #beat(): void {
    this.#endedMatches.prune();
    this.#turnMints.prune();
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
      if (s.state === 'ready' || s.state === 'queued' || s.state === 'private-waiting') s.sendText(msg);
    }
  }

  async #onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(this.#headers)) res.setHeader(k, v);
    const p = requestPath(req.url);
    if (p === null) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('bad request target\n');
      return;
    }
    // With a separate metrics listener, the admin API, /metrics and /healthz are served there only.
    if (!this.#metricsHttp && p.startsWith(ADMIN_PREFIX)) {
      await serveAdmin(req, res, p, this.options.adminToken, this.#safety!);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!this.#metricsHttp && (await this.#serveOps(p, res))) return;
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

  async #onMetricsHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('x-content-type-options', 'nosniff');
    const p = requestPath(req.url);
    if (p !== null && p.startsWith(ADMIN_PREFIX)) {
      await serveAdmin(req, res, p, this.options.adminToken, this.#safety!);
      return;
    }
    if (p !== null && (req.method === 'GET' || req.method === 'HEAD') && (await this.#serveOps(p, res))) return;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this listener serves /metrics and /healthz\n');
  }

  /** /healthz and /metrics; false for any other path. */
  async #serveOps(p: string, res: http.ServerResponse): Promise<boolean> {
    if (p === '/healthz') {
      const redis = this.matchmaker instanceof RedisMatchmaker ? (this.matchmaker.healthy ? 'up' : 'down') : undefined;
      const ok = redis !== 'down' && !this.#closing;
      const sections: Record<string, HealthSection> = {};
      for (const [name, read] of this.#healthSections) sections[name] = read();
      const degraded = Object.values(sections).some((x) => x.degraded);
      const body = {
        // A degraded extra (a demo bot that cannot connect) is no reason to take the node out of a load balancer: still 200.
        status: !ok ? 'unhealthy' : degraded ? 'degraded' : 'ok', uptimeSeconds: Math.round(process.uptime()), clients: this.sessions.size,
        matchmaker: this.matchmaker instanceof RedisMatchmaker ? 'redis' : 'memory',
        ...(redis ? { redis, node: (this.matchmaker as RedisMatchmaker).nodeId } : {}),
        ...sections,
      };
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      return true;
    }
    if (p === '/metrics') {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text);
      return true;
    }
    return false;
  }

  /**
   * Adds a section to /healthz (`name: read()`), e.g. the demo bots. When a section says
   * `degraded`, the status reads "degraded" (HTTP still 200).
   */
  addHealthSection(name: string, read: () => HealthSection): void {
    this.#healthSections.set(name, read);
  }

  async #serveStatic(p: string, res: http.ServerResponse): Promise<void> {
    const root = this.options.webRoot ?? DEFAULT_WEB_ROOT;
    const rel = p === '/' ? 'index.html' : p.slice(1);
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(rel) || rel.includes('..')) {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = await readFile(path.join(root, rel));
      res.writeHead(200, { 'content-type': CONTENT_TYPES[path.extname(rel)] ?? 'application/octet-stream', ...STATIC_HEADERS.get(rel) }).end(body);
    } catch {
      if (rel === 'index.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PLACEHOLDER_PAGE);
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
    if (this.#metricsHttp?.listening) {
      this.#metricsHttp.closeAllConnections();
      await new Promise<void>((resolve) => this.#metricsHttp!.close(() => resolve()));
    }
    await this.#stun?.close();
    await this.matchmaker?.close();
    await this.#safety?.close();
    this.log.info('closed');
  }
}


/** Listens; a taken port is a {@link PortInUseError} naming it and the fix. */
function listen(server: http.Server | https.Server, port: number, host: string, role: PortRole): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(role, port, host, { cause: err }) : err);
    server.once('error', onError);
    server.listen(port, host, () => { server.off('error', onError); resolve(); });
  });
}

/** A /healthz section added with {@link SignalServer.addHealthSection}. */
export interface HealthSection {
  degraded: boolean;
  [key: string]: unknown;
}

/**
 * The STUN URL of each `turn:` URL (same host and port, default 3478): coturn answers Binding
 * requests there (RFC 8656 section 3: a TURN server is a STUN server). `turns:` is skipped:
 * browsers take no `stuns:`.
 */
export function stunUrlsFromTurn(turnUrls: string[]): string[] {
  const out = new Set<string>();
  for (const tagged of turnUrls) {
    const u = splitTurnRegion(tagged).url;
    const m = /^turn:(\[[0-9a-f:.]+\]|[^:?/\s[\]]+)(?::(\d{1,5}))?(?:\?|$)/i.exec(u.trim());
    if (m) out.add(`stun:${m[1]}:${m[2] ?? 3478}`);
  }
  return [...out];
}

/** Whether a STUN server answers a Binding request at `port` on this host (where `address` is bound). */
async function stunAnswers(address: string, port: number): Promise<boolean> {
  const target = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
  const sock = dgram.createSocket(target.includes(':') ? 'udp6' : 'udp4');
  sock.on('error', () => { /* surfaces as a timeout */ });
  try {
    await new Promise<void>((resolve) => sock.bind(0, resolve));
    await stunBinding(sock, target, port, { timeoutMs: 1000 });
    return true;
  } catch {
    return false;
  } finally {
    sock.close();
  }
}

/**
 * The path of a request target, or null when it cannot be parsed (`//`, `http://[`): targets
 * are the client's bytes, and `new URL` throws on many of them.
 */
export function requestPath(target: string | undefined): string | null {
  if (!target || target.length > 8192) return null;
  if (!target.startsWith('/') && !/^https?:\/\//i.test(target)) return null;
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    return null;
  }
}

/**
 * The client's address: the socket's, or behind `hops` trusted reverse proxies, the
 * X-Forwarded-For entry the first of them appended (the `hops`-th from the right). Entries
 * further left are written by the client and prove nothing.
 */
export function clientAddress(socketAddress: string | undefined, xff: string | string[] | undefined, hops: number): string {
  const fallback = socketAddress ?? 'unknown';
  if (hops <= 0 || xff === undefined) return fallback;
  const entries = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((e) => stripPort(e.trim())).filter(Boolean);
  // Fewer entries than trusted proxies: the request skipped one, and the leftmost entry may be
  // the client's own writing. Only the socket address is known then.
  if (entries.length < hops) return fallback;
  const picked = entries[entries.length - hops]!;
  return isIP(picked) ? picked : fallback;
}

/** `203.0.113.7:5678` -> `203.0.113.7`, `[2001:db8::1]:443` -> `2001:db8::1` (some proxies add ports). */
function stripPort(entry: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (v6) return v6[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4 ? v4[1]! : entry;
}

/**
 * The key per-address limits count under: an IPv4 address as is (an IPv4-mapped IPv6 address
 * as its IPv4 form), an IPv6 address by its /64, which one subscriber usually holds whole (RFC
 * 6177): keying by /128 would let one host open unlimited connections from fresh addresses.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const zoneless = address.split('%')[0]!.toLowerCase();
  const [head, tail] = zoneless.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => (parseInt(g || '0', 16) || 0).toString(16)).join(':')}::/64`;
}

/** `HTTPS://Example.COM:443/` -> `https://example.com`; null when it is not an http(s) origin. */
function normaliseOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.origin.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Security headers sent with every HTTP response (and every refused upgrade). The page may
 * talk only to its own origin (plus `allowedOrigins`), cannot be framed, and may use the
 * camera and microphone itself only.
 */
export function securityHeaders(o: Pick<SignalServerOptions, 'tlsCert' | 'allowedOrigins'>): Record<string, string> {
  // CSP's host-source grammar has no IPv6 literals (CSP3 section 2.3.1): browsers reject
  // `https://[::1]:8443` with a console error. Such an origin is left out; its WebSocket is still
  // allowed by the server's Origin check, and a page on it is covered by 'self'.
  const extra = o.allowedOrigins.filter((origin) => !/^[a-z]+:\/\/\[/i.test(origin)).flatMap((origin) => [origin, origin.replace(/^http/, 'ws')]);
  const csp = [
    "default-src 'self'",
    // 'wasm-unsafe-eval': the on-device screening model (TF.js's WebAssembly backend,
    // src/web/screening-model.ts) compiles /tfjs/*.wasm from this origin. It allows WebAssembly
    // compilation only, not eval() or new Function() (CSP3 section 6.1.1.1); without it TF.js
    // falls back to plain JavaScript, 20-30x slower per frame.
    "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "media-src 'self' blob: mediastream:", `connect-src ${["'self'", ...extra].join(' ')}`,
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "object-src 'none'",
    // The installable app: its service worker (/sw.js) and web manifest, from this origin only.
    "worker-src 'self'", "manifest-src 'self'",
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'permissions-policy': 'camera=(self), microphone=(self)',
    'cross-origin-opener-policy': 'same-origin',
    ...(o.tlsCert ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

function toBuffer(data: import('ws').RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validateOptions(o: SignalServerOptions): void {
  if (!o.hubs.length) throw new ConfigError('at least one hub is needed (--hubs)');
  for (const h of o.hubs) if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(h)) throw new ConfigError(`bad hub name "${h}": use 1-32 of a-z, 0-9 and -`);
  if (o.turnUrls.length && !o.turnSecret) throw new ConfigError('--turn needs --turn-secret (the coturn static-auth-secret)');
  for (const u of o.turnUrls) {
    if (u.includes('#') && splitTurnRegion(u).region === null) throw new ConfigError(`--turn ${u}: the only fragment it takes is #region=NAME (1-32 of a-z, 0-9 and -)`);
  }
  if (o.stunAltAddress && (!o.stunAddress && (o.host === '0.0.0.0' || o.host === '::'))) {
    throw new ConfigError('--stun-alt-address needs a specific primary address: set --stun-address (or --host)');
  }
  if ((o.tlsCert && !o.tlsKey) || (!o.tlsCert && o.tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together');
  // One reporter must never be enough to ban anyone.
  if (!Number.isInteger(o.banAfterReports) || o.banAfterReports < 2) throw new ConfigError('--ban-after-reports must be 2 or more: one reporter alone must never ban anyone');
  if (!o.banDurationsMs.length || o.banDurationsMs.some((d) => !Number.isFinite(d) || d < 1)) throw new ConfigError('--ban-durations needs at least one positive duration, e.g. 1h,24h,7d');
  if (o.adminToken !== undefined && o.adminToken.length < 16) throw new ConfigError('--admin-token must be at least 16 characters (e.g. openssl rand -hex 32)');
  if (o.safetySecret !== undefined && o.safetySecret.length < 16) throw new ConfigError('--safety-secret must be at least 16 characters (e.g. openssl rand -hex 32)');
  if (o.ageVerifier !== undefined && !/^https?:\/\/[^\s]+$/i.test(o.ageVerifier)) throw new ConfigError('--age-verifier must be an http(s) URL');
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new ConfigError(`${k} must be a non-negative number`);
  }
}
