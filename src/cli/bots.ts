/**
 * `chatzyo bots`: runs a {@link BotController} and shows it: a live ink view at a TTY, then
 * the summary table; one JSON document with --json. Resolves with the summary when every
 * threshold held; throws CHZ_ERR_BOTS_THRESHOLD (exit code 1) when one did not, and a usage
 * error (exit code 2) for options that do not go together.
 */
import { ChatzyoError } from '../protocol/index.js';
import { BotController, type BotsOptions, type BotsSummary } from '../bots/index.js';
import { exitCodeFor } from './errors.js';
import { summaryText } from './bots-text.js';

/** Options of `chatzyo bots`, as plain values (the commander action builds them). */
export interface BotsCliOptions extends BotsOptions {
  json: boolean;
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
  const { json, ...options } = o;
  const controller = new BotController(options); // throws CHZ_ERR_BOTS_USAGE (exit 2)
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
    const { mountBotsView } = await import('./bots-view.js');
    unmount = mountBotsView(controller, io.out);
  } else if (!json) {
    io.out.write(`chatzyo bots: ${options.count} ${options.mode} bots → ${options.servers.join(', ')} (summary at the end; Ctrl-C stops)\n`);
    cleanups.push(controller.on('warning', (w) => io.err.write(`chatzyo bots: ${w}\n`)));
  }
  let summary: BotsSummary;
  try {
    summary = await controller.run();
  } catch (err) {
    const e = err as ChatzyoError;
    throw new ChatzyoError(e.code ?? 'CHZ_ERR_BOT_INTERNAL', e.message, { exitCode: e.exitCode && e.exitCode !== 1 ? e.exitCode : exitCodeFor(e.code), cause: err });
  } finally {
    for (const c of cleanups.splice(0)) c();
    await unmount?.();
  }
  io.out.write(json ? JSON.stringify(summary, null, 2) + '\n' : summaryText(summary));
  if (!summary.passed) {
    const failed = summary.thresholds.filter((t) => !t.passed).map((t) => t.message);
    throw new ChatzyoError('CHZ_ERR_BOTS_THRESHOLD', `${failed.length === 1 ? 'a threshold' : `${failed.length} thresholds`} did not hold: ${failed.join('; ')}`, { exitCode: 1 });
  }
  return summary;
}
