/**
 * Demo partners for `chatzyo serve --demo-bots N`: N media bots in one worker thread, connected
 * to the server's own URL, that stream the test-pattern clip and echo chat. At most one of them
 * waits in each hub at a time (so they never meet each other), and after each partner a bot
 * goes back to the pool and waits again.
 */
import type { Worker } from 'node:worker_threads';
import type { BotPlan, BotSettings, BotState } from './bot.js';
import { DEFAULT_CLIP, ensureClipFiles, type ClipSpec } from './clip.js';
import { spawnBotWorker } from './worker-pool.js';
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
  /** PEM certificate of the server when it serves TLS itself: the bots trust exactly it (see `pinnedTls`). */
  trustCert?: string;
  /** Told once per bot that could not reach the server, or lost it, with the reason (the server logs it as an error). */
  onError?: (message: string) => void;
}

/** How the demo bots are doing, for /healthz. `degraded` when a bot cannot reach the server. */
export interface DemoBotsHealth {
  [key: string]: unknown;
  wanted: number;
  /** Bots with an open signaling connection (waiting in a hub, or in a call). */
  connected: number;
  /** Bots still opening their connection. */
  starting: number;
  /** Bots that could not connect, or lost the server. */
  failing: number;
  degraded: boolean;
  /** The last reason a bot failed. */
  lastError?: string;
}

/** The greeting a demo bot sends when the chat opens. */
const DEMO_GREETING = 'Hi! I am a chatzyo demo bot: you see my test pattern, and I echo what you type.';

/** Running demo bots. */
export class DemoBots {
  #last: WorkerTick | null = null;
  #waiters: (() => void)[] = [];
  #stopping: Promise<void> | null = null;
  #lastError: string | undefined;

  private constructor(readonly options: DemoBotsOptions, readonly worker: Worker) {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'tick') return;
      this.#last = m;
      // A demo bot that cannot connect must not vanish silently (an untrusted certificate, a wrong address).
      if (!this.#stopping) {
        for (const e of m.errors) if (e.startsWith('signal:')) this.#error(`a demo bot could not connect: ${e.slice('signal:'.length).trim()}`);
        for (const l of m.lost) this.#error(`a demo bot lost its connection to ${l.server} (close ${l.code}${l.serverCode ? ` ${l.serverCode}` : ''})`);
      }
      for (const w of this.#waiters.splice(0)) w();
      // Every bot is gone (the server closed under them): end the thread, or it would keep the process alive.
      if (m.states.ended + m.states.failed >= options.count) void this.stop();
    });
  }

  #error(message: string): void {
    this.#lastError = message;
    this.options.onError?.(message);
  }

  /** Makes the clip if needed, starts the bots' thread and lets them connect. */
  static async start(o: DemoBotsOptions): Promise<DemoBots> {
    const spec = o.clip ?? DEFAULT_CLIP;
    const files = await ensureClipFiles(spec, { ffmpegPath: o.ffmpegPath, env: o.env });
    const settings: BotSettings = {
      mode: 'media', rejoin: true, manualJoin: true, nextEveryMs: null, matchTimeoutMs: 0, connectTimeoutMs: 20_000, holdMs: 0,
      relayOnly: false, chat: { greeting: o.greeting ?? DEMO_GREETING, echo: true }, ...(o.trustCert ? { trustCert: o.trustCert } : {}),
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

  /** Bots connected, starting and failing, as of the last report. */
  health(): DemoBotsHealth {
    const s = this.#last?.states;
    const wanted = this.options.count;
    if (!s) return { wanted, connected: 0, starting: wanted, failing: 0, degraded: false };
    const connected = s.ready + s.queued + s.matched + s.connected + s.streaming;
    const failing = s.failed + s.ended;
    return { wanted, connected, starting: s.pending + s.signaling, failing, degraded: failing > 0, ...(this.#lastError ? { lastError: this.#lastError } : {}) };
  }

  /** Resolves once no bot is still opening its connection (connected or failed), or after `ms`. */
  untilSettled(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => { done = true; resolve(); }, ms);
      const look = () => {
        // After the deadline nobody waits: stop re-queueing this check.
        if (done) return;
        const s = this.#last?.states;
        if (s && s.pending + s.signaling === 0) { clearTimeout(timer); resolve(); return; }
        this.#waiters.push(look);
      };
      look();
    });
  }

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
