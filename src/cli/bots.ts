/**
 * `chatzyo bots`: runs a {@link BotController} and shows it: a live ink view at a TTY, then
 * the summary table; one JSON document with --json. Resolves with the summary when every
 * threshold held; throws CHZ_ERR_BOTS_THRESHOLD (exit code 1) when one did not, and a usage
 * error (exit code 2) for options that do not go together.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ChatzyoError, displaySafe, jsonForTerminal } from '../protocol/index.js';
import { writeFileSync } from 'node:fs';
import { BotController, junitXml, type BotsOptions, type BotsSummary } from '../bots/index.js';
import { signalUrl, tlsTrustError, trustedCas, readCaFile } from '../peer/index.js';
import { summaryText } from './bots-text.js';
import { importLiveView } from './live-view.js';

/** Options of `chatzyo bots`, as plain values (the commander action builds them). */
export interface BotsCliOptions extends BotsOptions {
  json: boolean;
  /** --ca FILE: PEM certificates trusted for wss:// besides Node's roots and NODE_EXTRA_CA_CERTS. */
  caFile?: string;
  /** --junit FILE: also write the result as JUnit XML (src/bots/junit.ts). */
  junitFile?: string;
}

/** Where `bots` writes. */
export interface BotsIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Use the ink view (stdout is a TTY and --json was not given). */
  tty: boolean;
}

/** Extra wiring for tests and embedding. */
export interface BotsDeps {
  /** Listen for SIGINT/SIGTERM (default true). */
  signals?: boolean;
  /** Called with the controller once it exists. */
  onController?: (c: BotController) => void;
}

/** Runs `chatzyo bots` to the end. */
export async function runBots(o: BotsCliOptions, io: BotsIO, deps: BotsDeps = {}): Promise<BotsSummary> {
  const { json, caFile, junitFile, ...rest } = o;
  const options: BotsOptions = caFile ? { ...rest, ca: trustedCas(readCaFile(caFile), rest.env) } : rest;
  const controller = new BotController(options); // throws CHZ_ERR_BOTS_USAGE (exit 2)
  // A certificate the bots would not accept fails every bot alike: say so once, with what to do.
  await checkServerCertificates(options.servers, options.ca);
  deps.onController?.(controller);
  const cleanups: (() => void)[] = [];
  if (deps.signals ?? true) {
    let signals = 0;
    const onSignal = () => {
      // The first Ctrl-C stops the bots and prints the summary; a second one quits at once.
      if (++signals > 1) { io.err.write('chatzyo bots: interrupted twice; quitting without a summary\n'); process.exit(130); }
      controller.stop('interrupted');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
  }
  let unmount: (() => Promise<void>) | null = null;
  if (!json && io.tty) {
    const { mountBotsView } = await importLiveView(() => import('./bots-view.js'));
    unmount = mountBotsView(controller, io.out);
  } else if (!json) {
    io.out.write(`chatzyo bots: ${options.count} ${options.mode} bots → ${options.servers.join(', ')} (summary at the end; Ctrl-C stops)\n`);
    cleanups.push(controller.on('warning', (w) => io.err.write(`chatzyo bots: ${displaySafe(w)}\n`)));
  }
  let summary: BotsSummary;
  try {
    summary = await controller.run();
  } catch (err) {
    const e = err as ChatzyoError;
    throw new ChatzyoError(e.code ?? 'CHZ_ERR_BOT_INTERNAL', e.message, { cause: err });
  } finally {
    for (const c of cleanups.splice(0)) c();
    await unmount?.();
  }
  io.out.write(json ? jsonForTerminal(summary, 2) + '\n' : summaryText(summary));
  if (junitFile) writeFileSync(junitFile, junitXml(summary, { maxFailRate: options.thresholds?.maxFailRate }));
  if (!summary.passed) {
    const failed = summary.thresholds.filter((t) => !t.passed).map((t) => t.message);
    throw new ChatzyoError('CHZ_ERR_BOTS_THRESHOLD', `${failed.length === 1 ? 'a threshold' : `${failed.length} thresholds`} did not hold: ${failed.join('; ')}`);
  }
  return summary;
}

/**
 * Opens one TLS connection to each wss:// server with the bots' trust (Node's store, or `ca`)
 * and throws CHZ_ERR_TLS_UNTRUSTED (exit code 3, with a hint) for a certificate that is not
 * accepted. Any other failure is left to the bots, which report it per phase.
 */
async function checkServerCertificates(servers: string[], ca: string[] | undefined, timeoutMs = 5000): Promise<void> {
  for (const server of servers) {
    const url = new URL(signalUrl(server));
    if (url.protocol !== 'wss:') continue;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const failure = await new Promise<unknown>((resolve) => {
      const socket = tls.connect({
        host, port: Number(url.port || 443), ...(net.isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}), ALPNProtocols: ['http/1.1'],
      });
      const timer = setTimeout(() => { socket.destroy(); resolve(null); }, timeoutMs);
      socket.once('secureConnect', () => { clearTimeout(timer); socket.end(); resolve(null); });
      socket.once('error', (err) => { clearTimeout(timer); socket.destroy(); resolve(err); });
    });
    const err = failure ? tlsTrustError(failure, url.toString()) : null;
    if (err) throw err;
  }
}
