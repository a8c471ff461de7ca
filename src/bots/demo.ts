/**
 * Demo partners for `chatzyo serve --demo-bots N`: N media bots in one worker thread, connected
 * to the server's own URL, that stream the test-pattern clip and echo chat. At most one of them
 * waits in each hub at a time (so they never meet each other), and after each partner a bot
 * goes back to the pool and waits again.
 */
import type { Worker } from 'node:worker_threads';
import type { BotPlan, BotSettings, BotState } from './bot.js';
import { DEFAULT_CLIP, ensureClipFiles, type ClipSpec } from './clip.js';
import { spawnBotWorker } from './controller.js';
import type { ControllerMessage, WorkerMessage, WorkerPlan, WorkerTick } from './worker-host.js';

/** Options of {@link DemoBots.start}. */
export interface DemoBotsOptions {
  /** The server's own URL. */
  server: string;
  count: number;
  /** The server's hubs, in the order they get a bot. */
  hubs: string[];
  greeting?: string;
  clip?: ClipSpec;
  ffmpegPath?: string;
  env?: NodeJS.ProcessEnv;
}

/** The greeting a demo bot sends when the chat opens. */
export const DEMO_GREETING = 'Hi! I am a chatzyo demo bot: you see my test pattern, and I echo what you type.';

/** Running demo bots. */
export class DemoBots {
  #last: WorkerTick | null = null;
  #waiters: (() => void)[] = [];
  #stopping: Promise<void> | null = null;

  private constructor(readonly options: DemoBotsOptions, readonly worker: Worker) {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'tick') return;
      this.#last = m;
      for (const w of this.#waiters.splice(0)) w();
      // Every bot is gone (the server closed under them): end the thread, or it would keep the process alive.
      if (m.states.ended + m.states.failed >= options.count) void this.stop();
    });
  }

  /** Makes the clip if needed, starts the bots' thread and lets them connect. */
  static async start(o: DemoBotsOptions): Promise<DemoBots> {
    const spec = o.clip ?? DEFAULT_CLIP;
    const files = await ensureClipFiles(spec, { ffmpegPath: o.ffmpegPath, env: o.env });
    const settings: BotSettings = {
      mode: 'media', rejoin: true, manualJoin: true, nextEveryMs: null, matchTimeoutMs: 0, connectTimeoutMs: 20_000, holdMs: 0,
      relayOnly: false, chat: { greeting: o.greeting ?? DEMO_GREETING, echo: true },
    };
    const bots: BotPlan[] = Array.from({ length: o.count }, (_, i) => ({
      id: i, server: o.server, target: { kind: 'hub', hub: o.hubs[0]! }, startAtMs: i * 50,
    }));
    const plan: WorkerPlan = { kind: 'demo', index: 0, settings, bots, media: { source: 'clip', clipFiles: files, clipSpec: spec }, demoHubs: o.hubs, tickMs: 500 };
    const worker = spawnBotWorker(plan);
    const demo = new DemoBots(o, worker);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the demo bots did not start within 30 s')), 30_000);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') { clearTimeout(timer); resolve(); }
        if (m.type === 'fatal') { clearTimeout(timer); reject(Object.assign(new Error(m.message), { code: m.code })); }
      });
      worker.once('error', (err) => { clearTimeout(timer); reject(err); });
      worker.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo bots' thread exited (${code})`)); });
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    worker.postMessage({ type: 'go', t0: Date.now() } satisfies ControllerMessage);
    return demo;
  }

  /** The hubs that get a waiting bot (the first `count` of them). */
  get hubs(): string[] { return this.options.hubs.slice(0, this.options.count); }

  /** Bots by state, as of the last report (every 500 ms). */
  get states(): Record<BotState, number> | null { return this.#last?.states ?? null; }

  /** Resolves once `n` bots wait in hubs (for tests and for a ready line). */
  untilWaiting(n: number, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${n} demo bots were waiting after ${ms} ms (states: ${JSON.stringify(this.states)})`)), ms);
      const look = () => {
        if ((this.#last?.states.queued ?? 0) >= n) { clearTimeout(timer); resolve(); return; }
        this.#waiters.push(look);
      };
      look();
    });
  }

  /** Every bot leaves and closes its call and socket; then the thread ends. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const done = new Promise<void>((resolve) => {
        this.worker.on('message', (m: WorkerMessage) => { if (m.type === 'done') resolve(); });
        this.worker.once('exit', () => resolve());
      });
      this.worker.postMessage({ type: 'stop' } satisfies ControllerMessage);
      let timer: NodeJS.Timeout | null = null;
      await Promise.race([done, new Promise<void>((r) => { timer = setTimeout(r, 8000); })]);
      if (timer) clearTimeout(timer);
      await this.worker.terminate();
    })();
    return this.#stopping;
  }
}
