/**
 * The headless peer's signaling connection: the client core's {@link CoreSignalClient} (hello,
 * welcome, reconnect with the shared backoff and close policy) over a `ws` WebSocket. This file
 * is only the Node transport: `ws` options (payload limit, IP family, TLS) and its error names.
 */
import WebSocket from 'ws';
import {
  SignalClient as CoreSignalClient, signalUrl,
  type BackoffOptions, type Dial,
} from '../protocol/client/index.js';
import type { IpFamily } from './ip-family.js';

export { signalUrl };

/** How the `ws` transport dials. */
export interface WsDialOptions {
  /** Deadline of the TCP + TLS + upgrade part, ms. */
  handshakeTimeoutMs?: number;
  /** Resolve the server's name to this IP family only (default: either). */
  family?: IpFamily;
  /** Extra `ws` client options (TLS trust). */
  tls?: WebSocket.ClientOptions;
}

/**
 * A {@link Dial} over the `ws` package: a 1 MiB payload limit and no compression (signaling
 * frames are small; CONVENTIONS.md "Sockets are hardened"), failures named by their errno
 * (`ECONNREFUSED`) or HTTP status, and a `close` that waits for the close handshake.
 */
export function wsDial(opts: WsDialOptions = {}): Dial {
  return (url, on) => {
    const ws = new WebSocket(url, {
      handshakeTimeout: opts.handshakeTimeoutMs, maxPayload: 1 << 20, perMessageDeflate: false,
      ...(opts.family ? { family: opts.family } : {}), ...opts.tls,
    });
    ws.on('open', () => on.open());
    ws.on('message', (data) => on.message(data.toString()));
    ws.on('close', (code, reason) => on.close(code, reason.toString()));
    ws.on('error', (err) => on.error((err as NodeJS.ErrnoException).code ?? err.message, err));
    ws.on('unexpected-response', (_req, res) => on.error(`HTTP ${res.statusCode} instead of a WebSocket`));
    return {
      get readyState() { return ws.readyState; },
      send: (text) => ws.send(text),
      close: () => closeWebSocket(ws),
    };
  };
}

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
  /** Resolve the server's name to this IP family only (default: either). */
  family?: IpFamily;
  /** CA certificates for wss:// (`connect --ca`: see `trustedCas`); default: Node's own store. */
  ca?: string[];
  /** The anonymous token from an earlier welcome (see the core client's `token`). */
  token?: string;
  /** A signed over-18 assertion, for a server with `--age-verifier`. */
  ageAssertion?: string;
}

/**
 * A signaling connection that survives server restarts. The first connection does not retry:
 * `connect()` reports an unreachable server at once.
 */
export class SignalClient extends CoreSignalClient {
  constructor(opts: SignalClientOptions) {
    const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    super({
      url: signalUrl(opts.url),
      dial: wsDial({ handshakeTimeoutMs, family: opts.family, tls: opts.ca ? { ca: opts.ca } : undefined }),
      clientName: opts.clientName ?? 'chatzyo-peer',
      reconnect: opts.reconnect,
      backoff: opts.backoff,
      reconnectTimeoutMs: opts.reconnectTimeoutMs,
      handshakeTimeoutMs,
      token: opts.token,
      ageAssertion: opts.ageAssertion,
    });
  }
}

/**
 * Closes a WebSocket (1000) and waits up to `timeoutMs` for the close handshake, then
 * terminates it. Resolves at once for a socket already closed.
 */
function closeWebSocket(ws: WebSocket, timeoutMs = 1000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => { ws.terminate(); resolve(); }, timeoutMs);
    ws.once('close', () => { clearTimeout(t); resolve(); });
    ws.on('error', () => { /* closing anyway */ });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000, 'bye');
  });
}
