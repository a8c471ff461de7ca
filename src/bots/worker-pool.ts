/**
 * The worker threads of a bots run: starts one per plan and waits until each is ready (clip
 * read, certificate made), starts them together, keeps each one's latest tick and final
 * reports, and stops them (asking first, terminating a thread that does not finish). What the
 * numbers mean is tally.ts's business; when the run ends is the controller's.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker, workerEntry } from '../peer/worker-thread.js';
import type { BotReport } from './stats.js';
import { addBotCounts, noBotCounts, type BotCounts } from './tally.js';
import type { ControllerMessage, WorkerMessage, WorkerPlan, WorkerTick } from './worker-host.js';

/** How long every worker has to become ready, ms. */
const READY_TIMEOUT_MS = 30_000;
/** How long a worker has to stop its bots and report, ms. */
const STOP_TIMEOUT_MS = 15_000;

/**
 * Starts a bots worker thread. Under tsx (tests, development) it registers tsx's loader and
 * imports the TypeScript entry; from dist/ it runs the compiled JavaScript.
 */
export function spawnBotWorker(plan: WorkerPlan): Worker {
  const worker = startWorker(workerEntry(import.meta.url, 'worker'), { workerData: plan, stdout: true, stderr: true });
  worker.stdout.resume();
  worker.stderr.resume();
  return worker;
}

/** One worker thread and what it last said. */
interface WorkerSlot {
  index: number;
  bots: number;
  worker: Worker;
  last: WorkerTick | null;
  done: { bots: BotReport[]; childCpuMs: number } | null;
  exited: boolean;
}

/** How a {@link WorkerPool} talks to the run. */
export interface WorkerPoolHooks {
  /** A worker's tick arrived (after the pool kept it as that worker's latest). */
  tick: (tick: WorkerTick) => void;
  warn: (message: string) => void;
  /** A worker failed (fatal error, or exited while the run was on): the run should end. */
  failed: () => void;
  /** True between the start and the stop of the run. */
  running: () => boolean;
}

/** The worker threads of one run. */
export class WorkerPool {
  readonly #slots: WorkerSlot[] = [];

  constructor(readonly hooks: WorkerPoolHooks) {}

  /** How many threads there are. */
  get size(): number { return this.#slots.length; }

  /** Every worker has sent at least one tick. */
  get everyoneReported(): boolean { return this.#slots.every((s) => s.last !== null); }

  /**
   * Starts a thread per plan and resolves once all are ready; rejects (after terminating them
   * all) when one fails or they take more than 30 s.
   */
  async start(plans: WorkerPlan[]): Promise<void> {
    const ready = plans.map((plan) => {
      const i = plan.index;
      const worker = spawnBotWorker(plan);
      const slot: WorkerSlot = { index: i, bots: plan.bots.length, worker, last: null, done: null, exited: false };
      this.#slots.push(slot);
      return new Promise<void>((resolve, reject) => {
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'fatal') { reject(Object.assign(new Error(m.message), { code: m.code })); this.hooks.warn(`worker ${i}: ${m.code} ${m.message}`); this.hooks.failed(); }
          else if (m.type === 'tick') { slot.last = m; this.hooks.tick(m); }
          else slot.done = { bots: m.bots, childCpuMs: m.childCpuMs };
        });
        worker.on('error', (err) => { this.hooks.warn(`worker ${i} crashed: ${err.stack ?? err.message}`); reject(err); });
        worker.on('exit', (code) => {
          slot.exited = true;
          reject(new Error(`worker ${i} exited before it was ready`));
          // A thread that dies mid-run takes its bots' numbers with it: end the run and say so.
          if (!slot.done && this.hooks.running()) { this.hooks.warn(`worker ${i} exited (${code}) during the run; its bots are not in the summary`); this.hooks.failed(); }
        });
      });
    });
    try {
      await Promise.race([
        Promise.all(ready),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the bot workers did not start within 30 s')), READY_TIMEOUT_MS).unref()),
      ]);
    } catch (err) {
      await Promise.all(this.#slots.map((s) => s.worker.terminate()));
      throw err;
    }
  }

  /** Starts every worker's ramp at `t0` (Date.now() time). */
  go(t0: number): void {
    for (const s of this.#slots) s.worker.postMessage({ type: 'go', t0 } satisfies ControllerMessage);
  }

  /** The workers' latest counts added up; a worker that has not reported yet has all its bots pending. */
  counts(): BotCounts {
    const total = noBotCounts();
    for (const s of this.#slots) {
      if (s.last) addBotCounts(total, s.last);
      else total.states.pending += s.bots;
    }
    return total;
  }

  /** Every bot's final report (of the workers that sent theirs). */
  reports(): BotReport[] {
    return this.#slots.flatMap((s) => s.done?.bots ?? []);
  }

  /** CPU of the ffmpeg children over the run, ms (the final figure where there is one). */
  childCpuMs(): number {
    return this.#slots.reduce((n, s) => n + (s.done?.childCpuMs ?? s.last?.childCpuMs ?? 0), 0);
  }

  /**
   * Asks every worker to stop its bots and report, waits up to 15 s each, then ends the
   * threads. `serverGone`: bots of that server count a failure in the phase they were in.
   */
  async stop(serverGone?: string): Promise<void> {
    await Promise.all(this.#slots.map(async (s) => {
      if (s.exited) return;
      const done = new Promise<void>((resolve) => {
        if (s.done) { resolve(); return; }
        const check = (m: WorkerMessage) => { if (m.type === 'done') { s.worker.off('message', check); resolve(); } };
        s.worker.on('message', check);
        s.worker.once('exit', () => resolve());
      });
      s.worker.postMessage({ type: 'stop', serverGone } satisfies ControllerMessage);
      let timer: NodeJS.Timeout | null = null;
      await Promise.race([done, new Promise<void>((r) => { timer = setTimeout(() => { this.hooks.warn(`worker ${s.index} did not stop within 15 s; terminated`); r(); }, STOP_TIMEOUT_MS); })]);
      if (timer) clearTimeout(timer);
      await s.worker.terminate();
    }));
  }
}
