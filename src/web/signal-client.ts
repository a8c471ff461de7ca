/**
 * The browser's connection to the signaling server: the client core's SignalClient (hello,
 * welcome, frames validated with the shared schemas, reconnect with the shared backoff and close
 * policy) over the browser's own WebSocket, at `/ws` on the page's own origin. The page retries
 * its first connection too and never gives up on its own: only a final close (a protocol version
 * this server does not speak) stops it, and then the page must be reloaded.
 */
import { SignalClient as CoreSignalClient, type Dial } from '../protocol/client/index.js';
import { WS_PATH } from '../protocol/index.js';
import * as log from './log.js';

/** The same-origin signaling URL: `ws:` for `http:` pages, `wss:` for `https:` ones. */
function signalingUrl(loc: Pick<Location, 'protocol' | 'host'> = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${WS_PATH}`;
}

/**
 * The browser's WebSocket as the core's transport. Its `error` event says nothing (browsers hide
 * why on purpose) and is always followed by `close`, whose code the core reads, so it is not
 * forwarded.
 */
const browserDial: Dial = (url, on) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { performance.mark('chatzyo:ws-open'); on.open(); };
  ws.onmessage = (ev: MessageEvent) => { if (typeof ev.data === 'string') on.message(ev.data); };
  ws.onclose = (ev: CloseEvent) => on.close(ev.code, ev.reason);
  return ws;
};

/**
 * Where the anonymous token of the last welcome is kept (issue 16): sent in every later hello,
 * so reports and bans follow the same browser across connections. It identifies nobody.
 */
const TOKEN_STORAGE_KEY = 'chatzyo.token';
/**
 * Where an age verifier's redirect leaves its signed over-18 assertion, when the deployment
 * requires one (`welcome.ageVerifier`): this localStorage key, or the page's fragment
 * `#age=ASSERTION` (moved into the key on load and removed from the address bar).
 */
const AGE_ASSERTION_STORAGE_KEY = 'chatzyo.ageAssertion';

function readStorage(key: string): string | undefined {
  try { return localStorage.getItem(key) ?? undefined; } catch { return undefined; }
}

function writeStorage(key: string, value: string): void {
  try { localStorage.setItem(key, value); } catch { /* storage off: this page only */ }
}

/** The age assertion: from the fragment (kept, and removed from the address bar), else from storage. */
function ageAssertion(): string | undefined {
  const m = /^#age=([A-Za-z0-9._~+/=-]{1,4096})$/.exec(location.hash);
  if (m) {
    writeStorage(AGE_ASSERTION_STORAGE_KEY, m[1]!);
    history.replaceState(null, '', location.pathname + location.search);
    return m[1];
  }
  return readStorage(AGE_ASSERTION_STORAGE_KEY);
}

/** A signaling connection that says hello (with the stored token) and reconnects by itself. */
export class SignalClient extends CoreSignalClient {
  constructor(url: string = signalingUrl()) {
    super({
      url, dial: browserDial, clientName: 'chatzyo-web', retryFirstConnect: true, reconnectTimeoutMs: Infinity, handshakeTimeoutMs: 0,
      token: readStorage(TOKEN_STORAGE_KEY), ageAssertion: ageAssertion(),
    });
    // A newer server's frame is no error: note it in the page's log and carry on.
    this.on('invalid', ({ reason }) => log.warn(`ignoring a server frame: ${reason}`));
    this.on('welcome', (w) => { if (w.token) writeStorage(TOKEN_STORAGE_KEY, w.token); });
  }
}
