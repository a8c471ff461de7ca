/** `chatzyo serve`: parses nothing, prints the listening line, waits for a signal. */
import { SignalServer, type SignalServerDeps } from '../signal/server.js';
import type { SignalServerOptions } from '../signal/options.js';
import { readFileSync } from 'node:fs';
import { DemoBots } from '../bots/index.js';

/** Options of `runServe` beyond the server's own. */
export interface ServeRunOptions extends Partial<SignalServerOptions> {
  json?: boolean;
  /** Keep this many media bots waiting in the hubs (one per hub at a time) as demo partners. */
  demoBots?: number;
}

/** Demo bots started by {@link runServe}, by server. */
const demoBotsOf = new WeakMap<SignalServer, DemoBots>();

/** The demo bots running beside `server`, if any. */
export function demoBots(server: SignalServer): DemoBots | undefined {
  return demoBotsOf.get(server);
}

/**
 * The URL the server's own demo bots connect to: the listen address (loopback when it listens
 * on every interface). Under TLS too: the bots trust exactly the server's certificate
 * ({@link ownCert}), whatever host it names, so a self-signed one or one for a public name works.
 */
function ownUrl(server: SignalServer): string {
  const h = server.options.host;
  const host = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
  return `${server.options.tlsCert ? 'https' : 'http'}://${host}:${server.port}`;
}

/** The server's own certificate (PEM) when it serves TLS, for its demo bots to trust. */
function ownCert(server: SignalServer): string | undefined {
  return server.options.tlsCert ? readFileSync(server.options.tlsCert, 'utf8') : undefined;
}

/** Starts the server (and its demo bots) and prints where it listens; resolves to the running server. */
export async function runServe(opts: ServeRunOptions, deps: SignalServerDeps = {}, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<SignalServer> {
  const { json, demoBots: demoCount, ...serverOpts } = opts;
  const server = await SignalServer.start(serverOpts, deps);
  if (json) {
    out.write(JSON.stringify({
      event: 'listening', url: server.url, stunPort: server.stunPort, stunAltPort: server.stunAltPort,
      ...(server.sharedStunPort !== null ? { sharedStunPort: server.sharedStunPort } : {}),
      ...(server.stunUrls.length ? { stunUrls: server.stunUrls } : {}),
      ...(server.stunNote ? { stunNote: server.stunNote } : {}),
    }) + '\n');
  } else {
    out.write(`chatzyo is serving on ${server.url}  (open it in a browser; STUN ${stunSummary(server)}, Ctrl-C stops)\n`);
    if (server.stunNote) err.write(`chatzyo: note: ${server.stunNote}\n`);
  }
  if (demoCount) {
    const url = ownUrl(server);
    try {
      const bots = await DemoBots.start({
        server: url, count: demoCount, hubs: server.options.hubs, trustCert: ownCert(server),
        onError: (message) => server.log.error({ demoBots: true }, message),
      });
      demoBotsOf.set(server, bots);
      server.addHealthSection('demoBots', () => bots.health());
      // Say what is true: a bot that cannot reach the server is an error, not a partner waiting.
      await bots.untilSettled(30_000);
      const h = bots.health();
      const hubs = server.options.hubs.slice(0, demoCount);
      if (h.connected === demoCount) {
        out.write(json
          ? JSON.stringify({ event: 'demo-bots', count: demoCount, hubs }) + '\n'
          : `${demoCount} demo bot${demoCount === 1 ? '' : 's'} wait${demoCount === 1 ? 's' : ''} in ${hubs.join(', ')}: press Start there to meet one (test pattern, chat echo)\n`);
      } else {
        err.write(`chatzyo: error: ${demoCount - h.connected} of ${demoCount} demo bots could not connect to ${url}${h.lastError ? ` (${h.lastError})` : ''}; /healthz reports them under "demoBots"\n`);
      }
    } catch (e) {
      // The server is fine without them: say why, report it in /healthz and serve on.
      const message = `the demo bots could not start: ${(e as Error).message}`;
      server.log.error({ demoBots: true }, message);
      server.addHealthSection('demoBots', () => ({ wanted: demoCount, connected: 0, starting: 0, failing: demoCount, degraded: true, lastError: message }));
      err.write(`chatzyo: ${message}\n`);
    }
  }
  return server;
}

/** What the listening line says about STUN: our port, another server's, the announced URLs, or off. */
function stunSummary(server: SignalServer): string {
  if (server.stunPort !== null) return `udp/${server.stunPort}`;
  if (server.sharedStunPort !== null) return `udp/${server.sharedStunPort} (another server's)`;
  if (server.stunUrls.length) return server.stunUrls.join(' ');
  return 'off';
}

/** Stops the demo bots (they leave their calls), then the server. Idempotent. */
export async function stopServe(server: SignalServer): Promise<void> {
  await demoBotsOf.get(server)?.stop();
  await server.close();
}

/** Closes the server on SIGINT/SIGTERM and resolves when it is closed; rejects if it fails to start. */
export function untilSignal(server: SignalServer | Promise<SignalServer>, out: NodeJS.WritableStream, json: boolean): Promise<void> {
  // The handlers go in before the server has started (and printed its listening line), so a
  // SIGTERM sent as soon as that line appears still shuts down cleanly.
  return new Promise((resolve, reject) => {
    let signalled: string | null = null;
    let running: SignalServer | null = null;
    const detach = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
    const stop = (srv: SignalServer, sig: string) => {
      stopServe(srv).then(() => {
        out.write(json ? JSON.stringify({ event: 'closed', signal: sig }) + '\n' : `chatzyo stopped (${sig})\n`);
        resolve();
      }, reject);
    };
    const on = (sig: string) => {
      if (signalled) return;
      signalled = sig;
      detach();
      if (running) stop(running, sig);
    };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    Promise.resolve(server).then((srv) => {
      running = srv;
      if (signalled) stop(srv, signalled);
    }, (err: unknown) => {
      detach();
      reject(err);
    });
  });
}
