/**
 * A bot's signaling connection: the client core's SignalClient (hello, welcome, the close policy)
 * over the `ws` transport, with reconnection off: a bot whose server goes away counts a failure
 * and ends, which is what a load test must see. Adds only the bots' TLS trust and error codes.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { ChatzyoError, ClientMessage, ServerMessage, ServerMessageOf } from '../protocol/index.js';
import { SignalClient, signalUrl, TypedEmitter } from '../protocol/client/index.js';
import { wsDial } from '../peer/index.js';
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

/**
 * TLS options that trust one certificate, `pem` (a demo bot's own server's, which may be
 * self-signed or name a host other than the loopback address the bot dials): the chain is
 * verified against the public roots plus `pem`, and the host-name check passes for exactly
 * that certificate (its SHA-256 fingerprint) and falls back to the usual check for any other.
 * Verification stays on; nothing else is trusted that was not before.
 */
export function pinnedTls(pem: string): WebSocket.ClientOptions {
  const fingerprint = new X509Certificate(pem).fingerprint256;
  const checkServerIdentity = (host: string, cert: tls.PeerCertificate): Error | undefined =>
    (cert.fingerprint256 === fingerprint ? undefined : tls.checkServerIdentity(host, cert));
  // @types/ws declares a boolean result; ws hands the function to tls.connect, which wants Error | undefined.
  return { ca: [...tls.rootCertificates, pem], checkServerIdentity: checkServerIdentity as unknown as WebSocket.ClientOptions['checkServerIdentity'] };
}

const contexts = new WeakMap<string[], tls.SecureContext>();
/** One TLS context per CA list: parsing ~150 roots for each of thousands of bots would cost seconds. */
function sharedContext(ca: string[]): tls.SecureContext {
  let ctx = contexts.get(ca);
  if (!ctx) { ctx = tls.createSecureContext({ ca }); contexts.set(ca, ctx); }
  return ctx;
}

/** One open, welcomed protocol connection: the client core's signaling client with reconnect off. */
export class BotConnection extends TypedEmitter<BotConnectionEvents> {
  private constructor(readonly client: SignalClient) {
    super();
    // Wired before connect(): frames that arrive with the welcome reach the bot too.
    client.on('message', (m) => this.emit('message', m));
    client.on('disconnected', (d) => this.emit('lost', { code: d.code, reason: d.reason, serverCode: d.serverCode, announced: d.announced }));
  }

  /** The server's welcome (ICE servers, limits). */
  get welcome(): ServerMessageOf<'welcome'> { return this.client.welcome!; }

  /**
   * Opens `server` (http(s):// or ws(s)://), says hello and resolves after welcome. Rejects with
   * CHZ_ERR_BOT_REJECTED when the server refuses us (version, too many connections), otherwise
   * CHZ_ERR_BOT_SIGNAL_FAILED; the core's error is the cause (a TLS failure names itself there).
   */
  static async open(server: string, opts: { timeoutMs?: number; clientName?: string; family?: 4 | 6; trustCert?: string; ca?: string[] } = {}): Promise<BotConnection> {
    const url = signalUrl(server);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const secure = url.startsWith('wss:');
    const tlsOptions: WebSocket.ClientOptions = {
      ...(opts.ca && secure ? { secureContext: sharedContext(opts.ca) } : {}),
      ...(opts.trustCert && secure ? pinnedTls(opts.trustCert) : {}),
    };
    const conn = new BotConnection(new SignalClient({
      url, clientName: opts.clientName ?? 'chatzyo-bot/0.1', reconnect: false, handshakeTimeoutMs: timeoutMs,
      dial: wsDial({ handshakeTimeoutMs: timeoutMs, family: opts.family, tls: tlsOptions }),
    }));
    try {
      await conn.client.connect();
      return conn;
    } catch (err) {
      const e = err as ChatzyoError;
      const refused = e.code === 'CHZ_ERR_SERVER_REJECTED';
      const failure = botError(refused ? 'CHZ_ERR_BOT_REJECTED' : 'CHZ_ERR_BOT_SIGNAL_FAILED', `${url}: ${e.message}`, e) as OpenFailure;
      const serverCode = refused ? (e.cause as ChatzyoError | undefined)?.code : undefined;
      if (serverCode) failure.serverCode = serverCode;
      throw failure;
    }
  }

  /** True while the socket is open and close() was not called. */
  get open(): boolean { return this.client.ready; }

  /** Sends a message; false (dropped) when the socket is not open. */
  send(msg: ClientMessage): boolean {
    return this.client.send(msg);
  }

  /** Closes the socket (1000) and waits up to 1 s for the close handshake. Idempotent. */
  close(): Promise<void> {
    return this.client.close();
  }
}
