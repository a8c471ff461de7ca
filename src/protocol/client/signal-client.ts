/**
 * The client side of the signaling WebSocket, once for every client: the hello/welcome
 * handshake, typed sends, ping/pong, and what happens when the connection ends (the close-code
 * policy of ./policy.ts, reconnecting with the one backoff of ./backoff.ts, or giving up).
 * Pure TypeScript: the socket comes from a {@link Dial} function, so the browser (its own
 * WebSocket) and Node (the `ws` package) are thin adapters, and the bots use it with reconnect off.
 */
import { ChatzyoError, closeCodeFor } from '../errors.js';
import type { ClientMessage, ServerMessage, ServerMessageOf } from '../messages.js';
import { parseServerFrame } from '../parse.js';
import { StateMachine, type TransitionTable } from '../state-machine.js';
import { PROTOCOL_VERSION, WS_PATH } from '../version.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { closeBackoffFactor, closeErrorCode, isFinalClose, isServerClose } from './policy.js';

/** States of the signaling connection. `open` means welcomed; `closed` is final. */
export const SIGNAL_CLIENT_STATES = ['idle', 'connecting', 'open', 'reconnecting', 'closed'] as const;
/** One of {@link SIGNAL_CLIENT_STATES}. */
export type SignalClientState = (typeof SIGNAL_CLIENT_STATES)[number];

/** The allowed moves of a {@link SignalClient}. */
export const SIGNAL_CLIENT_TRANSITIONS: TransitionTable<SignalClientState> = {
  idle: ['connecting', 'closed'],
  connecting: ['open', 'reconnecting', 'closed'],
  open: ['reconnecting', 'closed'],
  reconnecting: ['connecting', 'closed'],
  closed: [],
};

/**
 * The part of a WebSocket the client uses: the WHATWG shape, which the browser's WebSocket
 * already has. `readyState` uses the WHATWG numbers (1 = OPEN); `close` may return a promise that
 * settles once the socket is really closed (the Node adapter waits for the close handshake).
 */
export interface SocketLike {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number, reason?: string): void | Promise<void>;
}

/** What a {@link Dial} reports about the socket it opened. Text frames only: the protocol is JSON. */
interface SocketHandlers {
  open(): void;
  message(text: string): void;
  close(code: number, reason: string): void;
  /**
   * The socket failed (refused, TLS, HTTP instead of an upgrade); `detail` says how, `cause` is
   * the transport's own error (kept as the cause, so a caller can name a certificate failure).
   */
  error(detail: string, cause?: unknown): void;
}

/** Opens a WebSocket to `url` and reports on it through `on`. */
export type Dial = (url: string, on: SocketHandlers) => SocketLike;

/** The WHATWG readyState of an open socket. */
const OPEN = 1;

/** Options of a {@link SignalClient}. */
export interface SignalClientOptions {
  /** The WebSocket URL (see {@link signalUrl}). */
  url: string;
  dial: Dial;
  /** Sent in hello (`chatzyo-web`, `chatzyo-cli/0.1`). */
  clientName: string;
  /** Reconnect after the connection drops (default true; the bots turn it off). */
  reconnect?: boolean;
  /**
   * Retry a first connection that fails, too (default false: an unreachable server is reported
   * at once by `connect()`). The browser page retries: it has nobody to report to but its user.
   */
  retryFirstConnect?: boolean;
  backoff?: BackoffOptions;
  /** Give up reconnecting after this long without a welcome (default 60 s; Infinity: never). */
  reconnectTimeoutMs?: number;
  /** Deadline for open + welcome on each attempt (default 5 s; 0: none). */
  handshakeTimeoutMs?: number;
  /**
   * The anonymous token a previous welcome gave (from the client's storage), sent in hello.
   * Each welcome's token replaces it (see {@link SignalClient.token}), so reconnects present it.
   */
  token?: string;
  /** A signed over-18 assertion for a server with an age verifier (`welcome.ageVerifier`). */
  ageAssertion?: string;
}

/** The connection dropped (or an attempt failed while reconnecting). */
export interface SignalLoss {
  /** The WebSocket close code (1006 for an attempt that failed before it opened). */
  code: number;
  reason: string;
  /** The error code the server gave for the close (close code, or the `error` frame before it). */
  serverCode: string | null;
  /** `serverCode` came in an `error` frame first, which listeners have already seen as a message. */
  announced: boolean;
  willReconnect: boolean;
  /** Milliseconds until the next attempt (0 when none follows). */
  delayMs: number;
  /** Attempts since the last welcome. */
  attempt: number;
}

/** Events of a {@link SignalClient}. */
export type SignalClientEvents = {
  state: [SignalClientState];
  /** A welcome arrived; `reconnected` is true after the first one. */
  welcome: [ServerMessageOf<'welcome'>, { reconnected: boolean }];
  /** Every server message after welcome. */
  message: [ServerMessage];
  /** A frame that is not a valid server message (dropped; a newer server may send more). */
  invalid: [{ reason: string; frame: string }];
  /** The connection dropped; a reconnect follows after `delayMs` when `willReconnect`. */
  disconnected: [SignalLoss];
  /** The client gave up (a final close, a refusal, or no welcome within the reconnect timeout). */
  failed: [ChatzyoError];
};

/** Turns a server address (`host:port`, `http(s)://...`, `ws(s)://...`) into the signaling URL. */
export function signalUrl(server: string): string {
  const u = new URL(server.includes('://') ? server : `http://${server}`);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}

/** Why one attempt ended before a welcome: its error, and the close that carried it. */
interface AttemptFailure {
  error: ChatzyoError;
  code: number;
  reason: string;
  serverCode: string | null;
}

/** A signaling connection: hello/welcome, then reconnects by the protocol's rules. */
export class SignalClient extends TypedEmitter<SignalClientEvents> {
  readonly url: string;
  readonly #machine = new StateMachine<SignalClientState>('SignalClient', SIGNAL_CLIENT_TRANSITIONS, 'idle', 'CHZ_ERR_CLIENT_STATE');
  readonly #opts: Required<Omit<SignalClientOptions, 'url' | 'token' | 'ageAssertion'>>;
  #token: string | undefined;
  readonly #ageAssertion: string | undefined;
  #socket: SocketLike | null = null;
  #welcome: ServerMessageOf<'welcome'> | null = null;
  #welcomes = 0;
  #attempt = 0;
  #downSince = 0;
  #lastServerError: string | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #pingId = 0;
  readonly #pings = new Map<number, (at: number) => void>();
  /** Settles `connect()` when the first connection is retried (retryFirstConnect). */
  #firstWelcome: { resolve: (w: ServerMessageOf<'welcome'>) => void; reject: (e: ChatzyoError) => void } | null = null;

  constructor(opts: SignalClientOptions) {
    super();
    this.url = opts.url;
    this.#opts = {
      dial: opts.dial,
      clientName: opts.clientName,
      reconnect: opts.reconnect ?? true,
      retryFirstConnect: opts.retryFirstConnect ?? false,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      reconnectTimeoutMs: opts.reconnectTimeoutMs ?? 60_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
    };
    this.#token = opts.token;
    this.#ageAssertion = opts.ageAssertion;
  }

  /** The anonymous token to store for the next run: the latest welcome's, else the one given. */
  get token(): string | undefined { return this.#token; }

  /** The current state. */
  get state(): SignalClientState { return this.#machine.state; }
  /** The latest welcome (ICE servers, limits, session id). */
  get welcome(): ServerMessageOf<'welcome'> | null { return this.#welcome; }
  /** True while welcomed and the socket is open (a send would go out). */
  get ready(): boolean { return this.state === 'open' && this.#socket?.readyState === OPEN; }

  #to(next: SignalClientState): void {
    if (this.#machine.to(next) !== next) this.safeEmit('state', next);
  }

  /**
   * Opens the first connection and resolves with the welcome. Rejects with
   * CHZ_ERR_SERVER_UNREACHABLE (no answer) or CHZ_ERR_SERVER_REJECTED (the server refused us;
   * the refusal's wire code is the cause) unless `retryFirstConnect`, which keeps trying until
   * the client gives up or is closed. Rejects with CHZ_ERR_CLIENT_STATE unless the client is idle.
   */
  connect(): Promise<ServerMessageOf<'welcome'>> {
    try {
      this.#to('connecting');
    } catch (err) {
      return Promise.reject(err as ChatzyoError);
    }
    if (this.#opts.retryFirstConnect) {
      this.#downSince = Date.now(); // the reconnect timeout counts from the first try
      const first = new Promise<ServerMessageOf<'welcome'>>((resolve, reject) => { this.#firstWelcome = { resolve, reject }; });
      this.#retry();
      return first;
    }
    return this.#open().catch((f: AttemptFailure) => {
      if (this.state !== 'closed') this.#to('closed');
      throw f.error;
    });
  }

  /** One attempt: open, hello, welcome. Rejects with an {@link AttemptFailure} and leaves no socket. */
  #open(): Promise<ServerMessageOf<'welcome'>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let lastError: string | null = null;
      const fail = (f: AttemptFailure) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (this.#socket === socket) this.#socket = null;
        void Promise.resolve(socket.close(1000, 'bye')).catch(() => { /* gone already */ });
        reject(f);
      };
      const unreachable = (why: string, code = 1006, reason = '', cause?: unknown) => fail({
        error: new ChatzyoError('CHZ_ERR_SERVER_UNREACHABLE', `Cannot reach the chatzyo server at ${this.url}: ${why}`, { cause }), code, reason, serverCode: null,
      });
      const rejected = (message: string, code: number, reason: string, serverCode: string | null) => fail({
        // The wire code rides along as the cause, so the CLI can say which limit refused us.
        error: new ChatzyoError('CHZ_ERR_SERVER_REJECTED', message, { cause: serverCode ? ChatzyoError.fromWire({ code: serverCode }) : undefined }),
        code, reason, serverCode,
      });
      const ms = this.#opts.handshakeTimeoutMs;
      const timer = ms > 0 ? setTimeout(() => unreachable(`no welcome within ${ms} ms`), ms) : null;
      const socket: SocketLike = this.#opts.dial(this.url, {
        open: () => {
          if (settled) return;
          const hello: ClientMessage = {
            type: 'hello', version: PROTOCOL_VERSION, client: this.#opts.clientName,
            ...(this.#token !== undefined ? { token: this.#token } : {}),
            ...(this.#ageAssertion !== undefined ? { ageAssertion: this.#ageAssertion } : {}),
          };
          socket.send(JSON.stringify(hello));
        },
        error: (detail, cause) => unreachable(detail, 1006, '', cause),
        close: (code, reason) => {
          if (settled) { this.#closedAfterWelcome(socket, code, reason); return; }
          const serverCode = closeErrorCode(code, lastError);
          if (isServerClose(code)) rejected(`The server closed the connection (${code} ${serverCode ?? reason}).`, code, reason, serverCode);
          else unreachable(`closed ${code} ${reason}`.trim(), code, reason);
        },
        message: (text) => {
          if (settled) { this.#onFrame(socket, text); return; }
          const parsed = parseServerFrame(text);
          if (!parsed.ok) return; // before welcome: a newer server's extra message, not ours to judge
          const msg = parsed.value;
          if (msg.type === 'error') {
            lastError = msg.code;
            // A version mismatch will not fix itself; the close that follows says the same.
            if (msg.code === 'CHZ_ERR_VERSION') rejected(msg.message, closeCodeFor(msg.code)!, '', msg.code);
            return;
          }
          if (msg.type !== 'welcome') return;
          // close() ran while the hello was out (ws still delivers frames while closing): not a
          // transition to make, and nothing may throw out of this listener.
          if (this.state === 'closed') { unreachable('closed before the welcome arrived'); return; }
          settled = true;
          if (timer) clearTimeout(timer);
          this.#lastServerError = null;
          this.#welcome = msg;
          if (msg.token !== undefined) this.#token = msg.token;
          const reconnected = this.#welcomes++ > 0;
          this.#attempt = 0;
          this.#to('open');
          resolve(msg);
          const first = this.#firstWelcome;
          this.#firstWelcome = null;
          first?.resolve(msg);
          // Observers only: a throwing listener must not escape the socket's message listener.
          this.safeEmit('welcome', msg, { reconnected });
        },
      });
      this.#socket = socket;
    });
  }

  /** A frame on a welcomed socket. */
  #onFrame(socket: SocketLike, text: string): void {
    if (this.#socket !== socket) return;
    const parsed = parseServerFrame(text);
    if (!parsed.ok) { this.emit('invalid', { reason: parsed.message, frame: text.slice(0, 200) }); return; }
    const msg = parsed.value;
    if (msg.type === 'error') this.#lastServerError = msg.code;
    if (msg.type === 'pong') {
      const done = this.#pings.get(msg.id);
      if (done) { this.#pings.delete(msg.id); done(Date.now()); }
    }
    this.emit('message', msg);
  }

  #closedAfterWelcome(socket: SocketLike, code: number, reason: string): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    this.#pings.clear();
    if (this.state === 'closed') return;
    this.#downSince = Date.now();
    const serverCode = closeErrorCode(code, this.#lastServerError);
    this.#dropped(code, reason, serverCode, serverCode !== null && serverCode === this.#lastServerError);
  }

  /** The connection (or an attempt to get it back) ended: reconnect after the backoff, or give up. */
  #dropped(code: number, reason: string, serverCode: string | null, announced: boolean): void {
    const final = isFinalClose(code) || serverCode === 'CHZ_ERR_VERSION';
    const willReconnect = this.#opts.reconnect && !final && Date.now() - this.#downSince <= this.#opts.reconnectTimeoutMs;
    const delayMs = willReconnect ? backoffDelay(this.#attempt, this.#opts.backoff) * closeBackoffFactor(code) : 0;
    const attempt = this.#attempt;
    if (this.state !== 'reconnecting') this.#to('reconnecting');
    // safeEmit: this runs inside the socket's close listener (or a promise handler); a throwing
    // listener must neither crash the process nor stop the retry below from being armed.
    this.safeEmit('disconnected', { code, reason, serverCode, announced, willReconnect, delayMs, attempt });
    if (this.state === 'closed') return; // a listener closed us
    if (!willReconnect) {
      const err = final
        ? new ChatzyoError('CHZ_ERR_SERVER_REJECTED', `The server closed the connection for good (${code} ${serverCode ?? reason}).`, { cause: serverCode ? ChatzyoError.fromWire({ code: serverCode }) : undefined })
        : this.#opts.reconnect
          ? new ChatzyoError('CHZ_ERR_SERVER_UNREACHABLE', `Lost the chatzyo server at ${this.url} and could not reconnect within ${Math.round(this.#opts.reconnectTimeoutMs / 1000)} s.`)
          : new ChatzyoError('CHZ_ERR_SERVER_UNREACHABLE', `Lost the chatzyo server at ${this.url} (${[code, serverCode ?? reason].filter(Boolean).join(' ')}).`);
      this.#giveUp(err);
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.state !== 'reconnecting') return;
      this.#attempt++;
      this.#retry();
    }, delayMs);
  }

  /** One more attempt while reconnecting (or a first connect that is retried). */
  #retry(): void {
    if (this.state !== 'connecting') this.#to('connecting');
    this.#open().catch((f: AttemptFailure) => {
      if (this.state === 'closed') return;
      this.#dropped(f.code, f.error.message, f.serverCode, false);
    });
  }

  #giveUp(err: ChatzyoError): void {
    this.#to('closed');
    const first = this.#firstWelcome;
    this.#firstWelcome = null;
    first?.reject(err);
    this.emit('failed', err);
  }

  /** Sends a message; returns false (and drops it) when there is no welcomed, open connection. */
  send(msg: ClientMessage): boolean {
    const socket = this.#socket;
    if (!this.ready || !socket) return false;
    socket.send(JSON.stringify(msg));
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

  /** Closes the connection (1000) and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.#retryTimer) { clearTimeout(this.#retryTimer); this.#retryTimer = null; }
    if (this.state !== 'closed') this.#to('closed');
    const first = this.#firstWelcome;
    this.#firstWelcome = null;
    first?.reject(new ChatzyoError('CHZ_ERR_SERVER_UNREACHABLE', `Closed before the server at ${this.url} answered.`));
    const socket = this.#socket;
    this.#socket = null;
    this.#pings.clear();
    if (socket) await socket.close(1000, 'bye');
  }
}
