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

/** A signaling connection that says hello and reconnects by itself. */
export class SignalClient extends CoreSignalClient {
  constructor(url: string = signalingUrl()) {
    super({ url, dial: browserDial, clientName: 'chatzyo-web', retryFirstConnect: true, reconnectTimeoutMs: Infinity, handshakeTimeoutMs: 0 });
    // A newer server's frame is no error: note it in the page's log and carry on.
    this.on('invalid', ({ reason }) => log.warn(`ignoring a server frame: ${reason}`));
  }
}
