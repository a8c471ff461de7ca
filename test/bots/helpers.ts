/** Helpers for the bots tests: the server's /metrics as numbers, a controller run with a deadline. */
import { BotController, type BotsOptions, type BotsProgress, type BotsSummary } from '../../src/bots/index.js';
import { withTimeout } from '../helpers/deadline.js';

/** Reads /metrics into `name{labels}` -> value. */
export async function metrics(serverUrl: string): Promise<Map<string, number>> {
  const text = await withTimeout(fetch(`${serverUrl}/metrics`).then((r) => r.text()), 5000, 'GET /metrics');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Runs bots to the end within `ms`, collecting every progress snapshot. */
export async function runBotsFor(options: BotsOptions, ms: number, onProgress?: (p: BotsProgress, c: BotController) => void): Promise<{ summary: BotsSummary; progress: BotsProgress[]; controller: BotController }> {
  const controller = new BotController(options);
  const progress: BotsProgress[] = [];
  controller.on('progress', (p) => { progress.push(p); onProgress?.(p, controller); });
  try {
    const summary = await withTimeout(controller.run(), ms, `${options.count} ${options.mode} bots finish`);
    return { summary, progress, controller };
  } catch (err) {
    controller.stop('interrupted');
    await controller.run().catch(() => {});
    throw err;
  }
}
