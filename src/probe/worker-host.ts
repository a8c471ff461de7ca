/**
 * One job in a worker thread, terminated afterwards: werift leaves timers (TURN refresh) that
 * would keep the probe's process alive, and terminating the worker ends them. Spawn it early:
 * loading werift takes a few hundred ms, which then overlaps other checks. Under tsx (tests,
 * development) the worker loads the TypeScript source through tsx's loader; from dist/ it loads
 * the compiled JavaScript. The end-to-end calls (ice-check.ts) and the uplink test
 * (upload-ramp.ts) both run this way.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../peer/worker-thread.js';
export { workerEntry } from '../peer/worker-thread.js';

/** Options of {@link WorkerJob}. */
export interface WorkerJobOptions {
  /** The module to run, as `import.meta.url`-relative URL of its TypeScript source (`.ts`). */
  entry: URL;
  /** Passed to the worker as `workerData`. */
  workerData?: unknown;
  /** How the job is named in failure messages ("the test peers", "the uplink test"). */
  name: string;
}

/** A worker thread that runs one job: post a request, get one reply or a reason why not. */
export class WorkerJob<Req, Res> {
  readonly #worker: Worker;
  readonly #name: string;
  #failure: string | null = null;
  #result: ((r: Res | string) => void) | null = null;

  constructor(o: WorkerJobOptions) {
    this.#name = o.name;
    this.#worker = startWorker(o.entry, { stdout: true, stderr: true, workerData: o.workerData });
    this.#worker.stdout.resume();
    this.#worker.stderr.resume();
    this.#worker.on('message', (r: Res) => this.#result?.(r));
    this.#worker.on('error', (err) => this.#fail(`${o.name} crashed: ${err.message}`));
    this.#worker.on('exit', (code) => this.#fail(`${o.name}'s worker exited (${code}) without a result`));
  }

  #fail(why: string): void {
    this.#failure ??= why;
    this.#result?.(why);
  }

  /**
   * Posts `request` and resolves with the reply, or with a string saying why there is none (the
   * worker failed, or no reply within `limitMs`; `timedOut` tells which). Never rejects; the
   * worker is terminated afterwards.
   */
  async run(request: Req, limitMs: number): Promise<{ reply: Res } | { why: string; timedOut: boolean }> {
    try {
      if (this.#failure) return { why: this.#failure, timedOut: false };
      let timedOut = false;
      const r = await new Promise<Res | string>((resolve) => {
        const timer = setTimeout(() => { timedOut = true; resolve(`${this.#name} did not finish within ${limitMs} ms`); }, limitMs);
        this.#result = (v) => { clearTimeout(timer); resolve(v); };
        this.#worker.postMessage(request);
      });
      return typeof r === 'string' ? { why: r, timedOut } : { reply: r };
    } finally {
      await this.terminate();
    }
  }

  /** Ends the worker (and any timer werift left in it). Idempotent. */
  async terminate(): Promise<void> {
    this.#result = null;
    await this.#worker.terminate().catch(() => {});
  }
}

