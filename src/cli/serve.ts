/** `chatzyo serve`: parses nothing, prints the listening line, waits for a signal. */
import { SignalServer, type SignalServerDeps } from '../signal/server.js';
import type { SignalServerOptions } from '../signal/options.js';
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

/** The URL the server's own demo bots connect to (loopback when it listens on every interface). */
export function ownUrl(server: SignalServer): string {
  if (server.options.tlsCert) return server.url; // the certificate names a host, not 127.0.0.1
  const h = server.options.host;
  const host = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
  return `http://${host}:${server.port}`;
}

/** Starts the server (and its demo bots) and prints where it listens; resolves to the running server. */
export async function runServe(opts: ServeRunOptions, deps: SignalServerDeps = {}, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<SignalServer> {
  const { json, demoBots: demoCount, ...serverOpts } = opts;
  const server = await SignalServer.start(serverOpts, deps);
  if (json) {
    out.write(JSON.stringify({ event: 'listening', url: server.url, stunPort: server.stunPort, stunAltPort: server.stunAltPort }) + '\n');
  } else {
    out.write(`chatzyo is serving on ${server.url}  (open it in a browser; STUN ${server.stunPort === null ? 'off' : `udp/${server.stunPort}`}, Ctrl-C stops)\n`);
  }
  if (demoCount) {
    try {
      const bots = await DemoBots.start({ server: ownUrl(server), count: demoCount, hubs: server.options.hubs });
      demoBotsOf.set(server, bots);
      const hubs = server.options.hubs.slice(0, demoCount);
      out.write(json
        ? JSON.stringify({ event: 'demo-bots', count: demoCount, hubs }) + '\n'
        : `${demoCount} demo bot${demoCount === 1 ? '' : 's'} wait${demoCount === 1 ? 's' : ''} in ${hubs.join(', ')}: press Start there to meet one (test pattern, chat echo)\n`);
    } catch (e) {
      // The server is fine without them: say why and serve on.
      err.write(`chatzyo: the demo bots could not start: ${(e as Error).message}\n`);
    }
  }
  return server;
}

/** Stops the demo bots (they leave their calls), then the server. Idempotent. */
export async function stopServe(server: SignalServer): Promise<void> {
  await demoBotsOf.get(server)?.stop();
  await server.close();
}

/** Closes the server on SIGINT/SIGTERM and resolves when it is closed. */
export function untilSignal(server: SignalServer, out: NodeJS.WritableStream, json: boolean): Promise<void> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      stopServe(server).then(() => {
        out.write(json ? JSON.stringify({ event: 'closed', signal: sig }) + '\n' : `chatzyo stopped (${sig})\n`);
        resolve();
      });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
