/** `chatzyo serve`: parses nothing, prints the listening line, waits for a signal. */
import { SignalServer, type SignalServerDeps } from '../signal/server.js';
import type { SignalServerOptions } from '../signal/options.js';

/** Options of `runServe` beyond the server's own. */
export interface ServeRunOptions extends Partial<SignalServerOptions> {
  json?: boolean;
}

/** Starts the server and prints where it listens; resolves to the running server. */
export async function runServe(opts: ServeRunOptions, deps: SignalServerDeps = {}, out: NodeJS.WritableStream = process.stdout): Promise<SignalServer> {
  const { json, ...serverOpts } = opts;
  const server = await SignalServer.start(serverOpts, deps);
  if (json) {
    out.write(JSON.stringify({ event: 'listening', url: server.url, stunPort: server.stunPort, stunAltPort: server.stunAltPort }) + '\n');
  } else {
    out.write(`chatzyo is serving on ${server.url}  (open it in a browser; STUN ${server.stunPort === null ? 'off' : `udp/${server.stunPort}`}, Ctrl-C stops)\n`);
  }
  return server;
}

/** Closes the server on SIGINT/SIGTERM and resolves when it is closed. */
export function untilSignal(server: SignalServer, out: NodeJS.WritableStream, json: boolean): Promise<void> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      server.close().then(() => {
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
