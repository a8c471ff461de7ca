/**
 * The browser's connection to the signaling server: one WebSocket at `/ws` on the page's own
 * origin, `hello` first, every frame validated with the shared protocol schemas, and a
 * reconnect with jittered exponential backoff when the connection drops.
 */
import {
  errorCodeForClose, parseServerFrame, PROTOCOL_VERSION, WS_PATH,
  type ClientMessage, type ServerMessage, type ServerMessageOf,
} from '../protocol/index.js';
import { Emitter } from './emitter.js';

/** Connection states; `closed` is final (the page called `close()` or the server refused our version). */
export const SIGNAL_STATES = ['connecting', 'open', 'retrying', 'closed'] as const;
export type SignalState = (typeof SIGNAL_STATES)[number];

const TRANSITIONS: Record<SignalState, readonly SignalState[]> = {
  connecting: ['open', 'retrying', 'closed'],
  open: ['retrying', 'closed'],
  retrying: ['connecting', 'closed'],
  closed: [],
};

/** Why the connection went away, for the status line. */
export interface ConnectionLost {
  /** Our error code from the close code or the last `error` frame, when the server said why. */
  code: string | null;
  /** Milliseconds until the next attempt, or null when no retry will happen. */
  retryInMs: number | null;
}

/** Events of a {@link SignalClient}. */
export type SignalEvents = {
  state: [SignalState];
  /** The server accepted our hello (after every (re)connect). */
  welcome: [ServerMessageOf<'welcome'>];
  /** Every server message after `welcome`. */
  message: [ServerMessage];
  lost: [ConnectionLost];
};

/** The same-origin signaling URL: `ws:` for `http:` pages, `wss:` for `https:` ones. */
export function signalingUrl(loc: Pick<Location, 'protocol' | 'host'> = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${WS_PATH}`;
}

/** Backoff before attempt `n` (0-based): 0.5 s doubling to 15 s, each scaled by 0.5-1.5 at random. */
export function backoffMs(attempt: number): number {
  const base = Math.min(15_000, 500 * 2 ** attempt);
  return Math.round(base * (0.5 + Math.random()));
}

/** A signaling connection that says hello and reconnects by itself. */
export class SignalClient extends Emitter<SignalEvents> {
  #state: SignalState = 'connecting';
  #ws: WebSocket | null = null;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #welcomed = false;
  #lastError: string | null = null;

  constructor(readonly url: string = signalingUrl()) {
    super();
  }

  get state(): SignalState { return this.#state; }
  /** True once `welcome` arrived on the current socket. */
  get ready(): boolean { return this.#state === 'open' && this.#welcomed; }

  /** Opens the first connection. */
  connect(): void {
    if (this.#state !== 'connecting' || this.#ws) throw new Error(`SignalClient.connect() is not allowed in state ${this.#state}`);
    this.#open();
  }

  /** Sends one message; throws when there is no welcomed connection (callers check `ready`). */
  send(msg: ClientMessage): void {
    if (!this.ready || !this.#ws) throw new Error(`cannot send "${msg.type}": signaling is not open (state ${this.#state})`);
    this.#ws.send(JSON.stringify(msg));
  }

  /** Closes for good. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#to('closed');
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#ws?.close(1000, 'bye');
    this.#ws = null;
    this.removeAll();
  }

  #to(next: SignalState): void {
    if (next === this.#state) return;
    if (!TRANSITIONS[this.#state].includes(next)) throw new Error(`SignalClient cannot go from state ${this.#state} to ${next}`);
    this.#state = next;
    this.emit('state', next);
  }

  #open(): void {
    this.#welcomed = false;
    this.#lastError = null;
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#to('open');
      ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, client: 'chatzyo-web' } satisfies ClientMessage));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#ws !== ws || typeof ev.data !== 'string') return;
      const parsed = parseServerFrame(ev.data);
      if (!parsed.ok) {
        console.warn(`chatzyo: ignoring a server frame: ${parsed.message}`);
        return;
      }
      const msg = parsed.value;
      if (msg.type === 'error') this.#lastError = msg.code;
      if (msg.type === 'welcome') {
        this.#welcomed = true;
        this.#attempt = 0;
        this.emit('welcome', msg);
        return;
      }
      if (this.#welcomed || msg.type === 'error') this.emit('message', msg);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#state === 'closed') return;
      const code = errorCodeForClose(ev.code) ?? this.#lastError;
      // A version mismatch will not fix itself by retrying: the page must be reloaded.
      if (code === 'CHZ_ERR_VERSION') {
        this.#to('closed');
        this.emit('lost', { code, retryInMs: null });
        return;
      }
      const wait = backoffMs(this.#attempt++) * (code === 'CHZ_ERR_TOO_MANY_CONNECTIONS' ? 4 : 1);
      this.#to('retrying');
      this.emit('lost', { code, retryInMs: wait });
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        if (this.#state !== 'retrying') return;
        this.#to('connecting');
        this.#open();
      }, wait);
    };
    // Errors always end in `close`, which does the bookkeeping.
    ws.onerror = () => {};
  }
}
