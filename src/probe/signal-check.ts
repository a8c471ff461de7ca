/**
 * Signaling check: opens the chatzyo WebSocket, says hello, takes the welcome (whose ICE
 * servers the other checks use), then measures round trips with the protocol's ping/pong.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION, errorCodeForClose, limitHint, parseServerFrame, type ServerMessageOf } from '../protocol/index.js';
import { signalUrl } from '../peer/signal-client.js';
import { ProbeCheckError, toCheckError } from './errors.js';
import { urlsOf } from './ice-url.js';
import type { SignalResult } from './report.js';
import { ms, percentile } from './stats.js';

/** Settings of the signaling check. */
export interface SignalCheckOptions {
  /** Deadline for TCP + TLS + upgrade + welcome. */
  timeoutMs: number;
  /** Pings to send, one after another. */
  pings: number;
  /** Deadline of each ping. */
  pingTimeoutMs: number;
  /** Extra CA certificates for wss:// (tests, private CAs). */
  ca?: string | Buffer | (string | Buffer)[];
  /** Resolve the server's name to this family only (the per-family reachability check). */
  family?: 4 | 6;
}

/** The result, plus the welcome for the other checks. */
export interface SignalOutcome {
  result: SignalResult;
  welcome: ServerMessageOf<'welcome'> | null;
}

/** Checks the signaling path to `server` (http(s):// or ws(s):// URL). Never throws. */
export async function checkSignal(server: string, opts: SignalCheckOptions): Promise<SignalOutcome> {
  let url: string;
  try {
    url = signalUrl(server);
  } catch {
    return { welcome: null, result: { url: server, ok: false, connectMs: null, welcomeMs: null, rttMs: null, turnAnnounced: null, iceServerUrls: [], error: { code: 'CHZ_ERR_SERVER_UNREACHABLE', message: `"${server}" is not a URL` } } };
  }
  const result: SignalResult = { url, ok: false, connectMs: null, welcomeMs: null, rttMs: null, turnAnnounced: null, iceServerUrls: [] };
  let ws: WebSocket | null = null;
  let welcome: ServerMessageOf<'welcome'> | null = null;
  try {
    const t0 = performance.now();
    ws = new WebSocket(url, { handshakeTimeout: opts.timeoutMs, perMessageDeflate: false, maxPayload: 1 << 20, ca: opts.ca, ...(opts.family ? { family: opts.family } : {}) });
    const sock = ws;
    const pongs = new Map<number, () => void>();
    welcome = await new Promise<ServerMessageOf<'welcome'>>((resolve, reject) => {
      const fail = (err: ProbeCheckError) => { clearTimeout(timer); reject(err); };
      const timer = setTimeout(() => fail(new ProbeCheckError('CHZ_ERR_SERVER_UNREACHABLE', `no welcome from ${url} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      sock.on('error', (err: NodeJS.ErrnoException) => fail(new ProbeCheckError('CHZ_ERR_SERVER_UNREACHABLE', `cannot reach ${url}: ${err.code ?? err.message}`)));
      sock.on('unexpected-response', (_req, res) => fail(new ProbeCheckError('CHZ_ERR_SERVER_UNREACHABLE', `${url} answered HTTP ${res.statusCode} instead of a WebSocket upgrade (a proxy in the way, or not a chatzyo server)`)));
      sock.on('close', (code, reason) => {
        const known = errorCodeForClose(code);
        const hint = limitHint(known);
        fail(new ProbeCheckError(known ? 'CHZ_ERR_SERVER_REJECTED' : 'CHZ_ERR_SERVER_UNREACHABLE', `the server closed the connection (${code} ${known ?? reason.toString()})${hint ? `: ${hint}` : ''}`.trim()));
      });
      sock.once('open', () => {
        result.connectMs = ms(performance.now() - t0);
        const t1 = performance.now();
        sock.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, client: 'chatzyo-probe/0.1', relayOnly: true }));
        sock.on('message', (data) => {
          const parsed = parseServerFrame(data.toString());
          if (!parsed.ok) return;
          const m = parsed.value;
          if (m.type === 'welcome' && !result.welcomeMs) {
            result.welcomeMs = ms(performance.now() - t1);
            clearTimeout(timer);
            resolve(m);
          } else if (m.type === 'pong') {
            pongs.get(m.id)?.();
          } else if (m.type === 'error' && m.code === 'CHZ_ERR_VERSION') {
            fail(new ProbeCheckError('CHZ_ERR_SERVER_REJECTED', m.message));
          }
        });
      });
    });
    result.turnAnnounced = welcome.turn;
    result.iceServerUrls = welcome.iceServers.flatMap((s) => urlsOf(s.urls));
    const rtts: number[] = [];
    for (let id = 1; id <= opts.pings; id++) {
      const t = performance.now();
      const got = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { pongs.delete(id); resolve(false); }, opts.pingTimeoutMs);
        pongs.set(id, () => { clearTimeout(timer); pongs.delete(id); resolve(true); });
        sock.send(JSON.stringify({ type: 'ping', id }));
      });
      if (got) rtts.push(performance.now() - t);
    }
    if (rtts.length) {
      result.rttMs = { min: ms(Math.min(...rtts)), p50: ms(percentile(rtts, 50)), p95: ms(percentile(rtts, 95)), max: ms(Math.max(...rtts)), samples: rtts.length };
    }
    result.ok = true;
  } catch (err) {
    result.error = toCheckError(err);
  } finally {
    if (ws) {
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'probe done');
      else ws.terminate();
    }
  }
  return { result, welcome };
}
