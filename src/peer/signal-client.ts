/**
 * The client side of the signaling WebSocket: hello/welcome, typed sends, and reconnection
 * with jittered exponential backoff after the server goes away (a restart, a network blip).
 * The first connection does not retry: an unreachable server is reported at once.
 */
import WebSocket from 'ws';
import {
  errorCodeForClose, parseServerFrame, PROTOCOL_VERSION, WS_PATH,
  type ClientMessage, type ServerMessage, type ServerMessageOf,
} from '../protocol/index.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { peerError } from './errors.js';
import type { ChatzyoError } from '../protocol/index.js';

/** States of the signaling connection. */
export const SIGNAL_CLIENT_STATES = ['idle', 'connecting', 'open', 'reconnecting', 'closed'] as const;
/** One of {@link SIGNAL_CLIENT_STATES}. */
export type SignalClientState = (typeof SIGNAL_CLIENT_STATES)[number];

const TRANSITIONS: Record<SignalClientState, readonly SignalClientState[]> = {
  idle: ['connecting', 'closed'],
  connecting: ['open', 'reconnecting', 'closed'],
  open: ['reconnecting', 'closed'],
  reconnecting: ['connecting', 'closed'],
  closed: [],
};

/** Close codes after which reconnecting is pointless (RFC 6455 section 7.4.2 private range). */
const FATAL_CLOSE_CODES = new Set([4001]);

/** Options of a {@link SignalClient}. */
export interface SignalClientOptions {
  /** Server URL: http(s)://host:port or ws(s)://host:port/ws. */
  url: string;
  /** Sent in hello (`chatzyo-cli/0.1`). */
  clientName?: string;
  /** Reconnect after the connection drops (default true). */
  reconnect?: boolean;
  backoff?: BackoffOptions;
  /** Give up reconnecting after this long without a welcome (default 60 s). */
  reconnectTimeoutMs?: number;
  /** Deadline for open + welcome on each attempt (default 5 s). */
  handshakeTimeoutMs?: number;
}

/** Events of a {@link SignalClient}. */
export type SignalClientEvents = {
  state: [SignalClientState];
  /** A welcome arrived; `reconnected` is true after the first one. */
  welcome: [ServerMessageOf<'welcome'>, { reconnected: boolean }];
  /** Every server message after welcome. */
  message: [ServerMessage];
  /** The connection dropped; a reconnect follows after `delayMs` unless it is fatal. */
  disconnected: [{ code: number; reason: string; willReconnect: boolean; delayMs: number; attempt: number }];
  /** The client gave up (fatal close code or reconnect timeout). */
  failed: [ChatzyoError];
  /** A frame that is not a valid server message (dropped; a newer server may send more). */
  invalid: [{ reason: string; frame: string }];
};

/** Turns `--server` into the WebSocket URL. */
export function signalUrl(server: string): string {
  const u = new URL(server.includes('://') ? server : `http://${server}`);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}

/** A signaling connection that survives server restarts. */
export class SignalClient extends TypedEmitter<SignalClientEvents> {
  readonly url: string;
  #state: SignalClientState = 'idle';
  #ws: WebSocket | null = null;
  #welcome: ServerMessageOf<'welcome'> | null = null;
  #welcomes = 0;
  #attempt = 0;
  #downSince = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #pingId = 0;
  readonly #pings = new Map<number, (ms: number) => void>();
  readonly #opts: Required<Omit<SignalClientOptions, 'url'>>;

  constructor(opts: SignalClientOptions) {
    super();
    this.url = signalUrl(opts.url);
    this.#opts = {
      clientName: opts.clientName ?? 'chatzyo-peer',
      reconnect: opts.reconnect ?? true,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      reconnectTimeoutMs: opts.reconnectTimeoutMs ?? 60_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
    };
  }

  get state(): SignalClientState { return this.#state; }
  /** The latest welcome (ICE servers, limits, session id). */
  get welcome(): ServerMessageOf<'welcome'> | null { return this.#welcome; }

  #to(next: SignalClientState): void {
    if (!TRANSITIONS[this.#state].includes(next)) throw new Error(`SignalClient cannot go from state ${this.#state} to ${next}`);
    this.#state = next;
    this.emit('state', next);
  }

  /**
   * Opens the first connection and resolves with the welcome. Rejects with
   * `CHZ_ERR_SERVER_UNREACHABLE` when the server cannot be reached (no retry).
   */
  async connect(): Promise<ServerMessageOf<'welcome'>> {
    if (this.#state !== 'idle') throw peerError('CHZ_ERR_PEER_STATE', `SignalClient.connect() needs state idle, not ${this.#state}`);
    this.#to('connecting');
    try {
      return await this.#open();
    } catch (err) {
      if ((this.#state as SignalClientState) !== 'closed') this.#to('closed');
      throw err;
    }
  }

  /** One attempt: open, hello, welcome. Rejects on failure and leaves `#ws` null. */
  #open(): Promise<ServerMessageOf<'welcome'>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { handshakeTimeout: this.#opts.handshakeTimeoutMs, maxPayload: 1 << 20, perMessageDeflate: false });
      this.#ws = ws;
      let settled = false;
      const fail = (why: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('close');
        ws.on('close', () => { /* already reported */ });
        try { ws.terminate(); } catch { /* already gone */ }
        if (this.#ws === ws) this.#ws = null;
        reject(peerError('CHZ_ERR_SERVER_UNREACHABLE', `Cannot reach the chatzyo server at ${this.url}: ${why}`, cause));
      };
      const timer = setTimeout(() => fail(`no welcome within ${this.#opts.handshakeTimeoutMs} ms`), this.#opts.handshakeTimeoutMs);
      ws.on('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message, err));
      ws.on('unexpected-response', (_req, res) => fail(`HTTP ${res.statusCode} instead of a WebSocket`));
      ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, client: this.#opts.clientName })));
      ws.on('close', (code, reason) => {
        if (!settled) {
          const r = reason.toString();
          if (FATAL_CLOSE_CODES.has(code) || code === 4003) {
            settled = true;
            clearTimeout(timer);
            if (this.#ws === ws) this.#ws = null;
            reject(peerError('CHZ_ERR_SERVER_REJECTED', `The server closed the connection (${code} ${errorCodeForClose(code) ?? r}).`));
            return;
          }
          fail(`closed ${code} ${r}`.trim());
        }
      });
      ws.on('message', (data) => {
        const parsed = parseServerFrame(data.toString());
        if (!parsed.ok) return; // a newer server's extra message: ignore rather than die
        const msg = parsed.value;
        if (!settled) {
          if (msg.type === 'welcome') {
            settled = true;
            clearTimeout(timer);
            this.#attached(ws);
            this.#welcome = msg;
            const reconnected = this.#welcomes++ > 0;
            this.#attempt = 0;
            this.#to('open');
            resolve(msg);
            this.emit('welcome', msg, { reconnected });
          } else if (msg.type === 'error' && msg.code === 'CHZ_ERR_VERSION') {
            settled = true;
            clearTimeout(timer);
            reject(peerError('CHZ_ERR_SERVER_REJECTED', msg.message));
          }
          return;
        }
      });
    });
  }

  /** Wires an open, welcomed socket: messages, pongs and the reconnect-on-close. */
  #attached(ws: WebSocket): void {
    ws.removeAllListeners('message');
    ws.removeAllListeners('close');
    ws.on('message', (data) => {
      const text = data.toString();
      const parsed = parseServerFrame(text);
      if (!parsed.ok) { this.emit('invalid', { reason: parsed.message, frame: text.slice(0, 200) }); return; }
      const msg = parsed.value;
      if (msg.type === 'pong') {
        const done = this.#pings.get(msg.id);
        if (done) { this.#pings.delete(msg.id); done(Date.now()); }
      }
      this.emit('message', msg);
    });
    ws.on('close', (code, reason) => {
      if (this.#ws === ws) this.#ws = null;
      this.#pings.clear();
      if (this.#state === 'closed') return;
      this.#downSince = Date.now();
      this.#dropped(code, reason.toString());
    });
  }

  #dropped(code: number, reason: string): void {
    const fatal = FATAL_CLOSE_CODES.has(code);
    const willReconnect = this.#opts.reconnect && !fatal && Date.now() - this.#downSince <= this.#opts.reconnectTimeoutMs;
    const delayMs = willReconnect ? backoffDelay(this.#attempt, this.#opts.backoff) : 0;
    const attempt = this.#attempt;
    if (this.#state !== 'reconnecting') this.#to('reconnecting');
    this.emit('disconnected', { code, reason, willReconnect, delayMs, attempt });
    if (!willReconnect) {
      const err = fatal
        ? peerError('CHZ_ERR_SERVER_REJECTED', `The server closed the connection for good (${code} ${errorCodeForClose(code) ?? reason}).`)
        : peerError('CHZ_ERR_SERVER_UNREACHABLE', `Lost the chatzyo server at ${this.url} and could not reconnect within ${Math.round(this.#opts.reconnectTimeoutMs / 1000)} s.`);
      this.#to('closed');
      this.emit('failed', err);
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state !== 'reconnecting') return;
      this.#attempt++;
      this.#to('connecting');
      this.#open().catch((err: ChatzyoError) => {
        if (this.#state === 'closed') return;
        if (err.code === 'CHZ_ERR_SERVER_REJECTED') {
          this.#to('closed');
          this.emit('failed', err);
          return;
        }
        this.#dropped(1006, err.message);
      });
    }, delayMs);
  }

  /** Sends a message; returns false (and drops it) when the connection is not open. */
  send(msg: ClientMessage): boolean {
    const ws = this.#ws;
    if (this.#state !== 'open' || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /** Signaling round-trip time in ms (ping/pong over the protocol). */
  ping(timeoutMs = 5000): Promise<number> {
    const id = ++this.#pingId;
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#pings.delete(id); reject(new Error('ping timed out')); }, timeoutMs);
      this.#pings.set(id, (t) => { clearTimeout(timer); resolve(t - t0); });
      if (!this.send({ type: 'ping', id })) { clearTimeout(timer); this.#pings.delete(id); reject(new Error('not connected')); }
    });
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed' && !this.#ws) return;
    if (this.#retryTimer) { clearTimeout(this.#retryTimer); this.#retryTimer = null; }
    if (this.#state !== 'closed') this.#to('closed');
    const ws = this.#ws;
    this.#ws = null;
    if (ws) await closeWebSocket(ws);
  }
}

/**
 * Closes a WebSocket (1000) and waits up to `timeoutMs` for the close handshake, then
 * terminates it. Resolves at once for a socket already closed.
 */
export function closeWebSocket(ws: WebSocket, timeoutMs = 1000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => { ws.terminate(); resolve(); }, timeoutMs);
    ws.once('close', () => { clearTimeout(t); resolve(); });
    ws.on('error', () => { /* closing anyway */ });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000, 'bye');
  });
}
