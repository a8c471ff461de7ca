/**
 * A bot's signaling connection: one protocol WebSocket (hello, welcome, typed sends), with no
 * reconnection: a bot whose server goes away counts a failure and ends, which is what a load
 * test must see. Lighter than the headless peer's SignalClient, so a thread can hold thousands.
 */
import WebSocket from 'ws';
import {
  ChatzyoError, errorCodeForClose, parseServerFrame, PROTOCOL_VERSION,
  type ClientMessage, type ServerMessage, type ServerMessageOf,
} from '../protocol/index.js';
import { closeWebSocket, signalUrl, TypedEmitter } from '../peer/index.js';
import { botError } from './errors.js';

/** Events of a {@link BotConnection}. */
export type BotConnectionEvents = {
  /** Every server message after welcome. */
  message: [ServerMessage];
  /**
   * The socket closed without close() being called. `serverCode`: the error code the server gave,
   * if any; `announced`: it came in an `error` frame first (already seen as a message).
   */
  lost: [{ code: number; reason: string; serverCode: string | null; announced: boolean }];
};

/** Why an open failed: the bots error, and the server's own code when it gave one. */
export interface OpenFailure extends ChatzyoError {
  serverCode?: string;
}

/** One open, welcomed protocol connection. */
export class BotConnection extends TypedEmitter<BotConnectionEvents> {
  #closed = false;
  #lastServerError: string | null = null;

  private constructor(readonly ws: WebSocket, readonly welcome: ServerMessageOf<'welcome'>) {
    super();
    ws.removeAllListeners('message');
    ws.removeAllListeners('close');
    ws.on('message', (data) => {
      const parsed = parseServerFrame(data.toString());
      if (!parsed.ok) return; // a newer server's message: not ours to judge
      if (parsed.value.type === 'error') this.#lastServerError = parsed.value.code;
      this.emit('message', parsed.value);
    });
    ws.on('close', (code, reason) => {
      if (this.#closed) return;
      this.#closed = true;
      const serverCode = errorCodeForClose(code) ?? (code >= 4000 ? this.#lastServerError : null);
      this.emit('lost', { code, reason: reason.toString(), serverCode, announced: serverCode !== null && serverCode === this.#lastServerError });
    });
  }

  /**
   * Opens `server` (http(s):// or ws(s)://), says hello and resolves after welcome. Rejects with
   * CHZ_ERR_BOT_REJECTED when the server refuses us (version, too many connections), otherwise
   * CHZ_ERR_BOT_SIGNAL_FAILED.
   */
  static open(server: string, opts: { timeoutMs?: number; clientName?: string } = {}): Promise<BotConnection> {
    const url = signalUrl(server);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 1 << 20, perMessageDeflate: false });
      let settled = false;
      let serverCode: string | null = null;
      const fail = (code: 'CHZ_ERR_BOT_SIGNAL_FAILED' | 'CHZ_ERR_BOT_REJECTED', why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('close');
        ws.on('close', () => { /* reported */ });
        try { ws.terminate(); } catch { /* gone */ }
        const err = botError(code, `${url}: ${why}`) as OpenFailure;
        if (serverCode) err.serverCode = serverCode;
        reject(err);
      };
      const timer = setTimeout(() => fail('CHZ_ERR_BOT_SIGNAL_FAILED', `no welcome within ${timeoutMs} ms`), timeoutMs);
      ws.on('error', (err) => fail('CHZ_ERR_BOT_SIGNAL_FAILED', (err as NodeJS.ErrnoException).code ?? err.message));
      ws.on('unexpected-response', (_req, res) => fail('CHZ_ERR_BOT_SIGNAL_FAILED', `HTTP ${res.statusCode} instead of a WebSocket`));
      ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, client: opts.clientName ?? 'chatzyo-bot/0.1' })));
      ws.on('close', (code, reason) => {
        serverCode = errorCodeForClose(code) ?? serverCode;
        fail(code >= 4000 ? 'CHZ_ERR_BOT_REJECTED' : 'CHZ_ERR_BOT_SIGNAL_FAILED', `closed ${code} ${serverCode ?? reason.toString()}`.trim());
      });
      ws.on('message', (data) => {
        if (settled) return;
        const parsed = parseServerFrame(data.toString());
        if (!parsed.ok) return;
        const m = parsed.value;
        if (m.type === 'error') serverCode = m.code;
        if (m.type !== 'welcome') return;
        settled = true;
        clearTimeout(timer);
        resolve(new BotConnection(ws, m));
      });
    });
  }

  /** True while the socket is open and close() was not called. */
  get open(): boolean { return !this.#closed && this.ws.readyState === WebSocket.OPEN; }

  /** Sends a message; false (dropped) when the socket is not open. */
  send(msg: ClientMessage): boolean {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes the socket (1000) and waits up to 1 s for the close handshake. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed && this.ws.readyState === WebSocket.CLOSED) return;
    this.#closed = true;
    await closeWebSocket(this.ws);
  }
}
