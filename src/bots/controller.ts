/**
 * The bots controller: runs a planned bots run (plan.ts) on worker threads (worker-pool.ts),
 * folds what they report into the run's totals (tally.ts), decides when the run ends
 * (--duration, every bot settled, Ctrl-C, the server going away: server-health.ts), stops every
 * bot, and computes the summary with percentiles and thresholds. Observers (the ink view,
 * tests) watch `progress` events; nothing here prints.
 */
import { TypedEmitter } from '../protocol/client/index.js';
import { resolveFfmpeg } from '../peer/index.js';
import type { BotPlan, BotState, SampleKind } from './bot.js';
import { DEFAULT_CLIP, ensureClipFiles, readClip, type Clip } from './clip.js';
import { BOTS_DEFAULTS, rampPerSecond, validateBotsOptions, type BotsOptions } from './options.js';
import { botSettings, botsByWorker, planBots, workerCount } from './plan.js';
import { ProcessUsage } from './process-usage.js';
import { ServerWatch } from './server-health.js';
import { evaluate, percentiles, receiveStats, type BotsSummary, type EndReason, type Percentiles } from './stats.js';
import { qualitySummary } from './quality.js';
import { countBots, RunTally, type BotCounts } from './tally.js';
import { WorkerPool } from './worker-pool.js';
import type { Phase } from './links.js';
import type { WorkerPlan } from './worker-host.js';

// Kept importable from here and from the package index (the CLI checks and documents options with them).
export { BOTS_DEFAULTS, validateBotsOptions, type BotsOptions } from './options.js';

/** A live snapshot of a run, for the ink view. */
export interface BotsProgress {
  mode: 'signal' | 'media';
  bots: number;
  started: number;
  elapsedMs: number;
  durationMs: number | null;
  /** When the last bot is due to start, ms after the start. */
  rampMs: number;
  states: Record<BotState, number>;
  matchedBots: number;
  connectedBots: number;
  matches: number;
  succeeded: number;
  failed: Record<Phase, number>;
  failedTotal: number;
  /** Percentiles of the last 500 samples of each. */
  rolling: { match: Percentiles | null; connect: Percentiles | null; media: Percentiles | null };
  serverErrors: Record<string, number>;
  /** The latest failure messages. */
  errors: string[];
  warnings: string[];
  /** CPU of this process over the last second, % of one core. */
  cpuPercent: number;
  rssMb: number;
  serverGone: { server: string; code: number } | null;
  stopping: EndReason | null;
}

/** Events of a {@link BotController}. */
export type BotControllerEvents = {
  progress: [BotsProgress];
  warning: [string];
};

/** How many of the latest samples the live percentiles cover. */
const ROLLING = 500;

/** Runs bots and reports. */
export class BotController extends TypedEmitter<BotControllerEvents> {
  readonly options: BotsOptions;
  readonly plans: BotPlan[];
  clip: Clip | null = null;
  readonly #tally = new RunTally();
  readonly #usage = new ProcessUsage();
  readonly #pool: WorkerPool;
  readonly #servers: ServerWatch;
  #warnings: string[] = [];
  #startedAt = 0;
  #stopReason: EndReason | null = null;
  #stopRequested: ((r: EndReason) => void) | null = null;
  #progressTimer: NodeJS.Timeout | null = null;
  #running: Promise<BotsSummary> | null = null;

  constructor(options: BotsOptions) {
    super();
    validateBotsOptions(options);
    this.options = options;
    this.plans = planBots(options);
    this.#servers = new ServerWatch((gone) => {
      this.#warn(`the server ${gone.server} went away (close ${gone.code}); stopping the bots`);
      this.stop('server-gone');
    }, () => this.#stopReason !== null);
    this.#pool = new WorkerPool({
      tick: (m) => {
        this.#tally.add(m);
        for (const w of m.warnings) this.#warn(w);
        for (const l of m.lost) this.#servers.lost(l);
      },
      warn: (message) => this.#warn(message),
      failed: () => this.stop('all-ended'),
      running: () => this.#startedAt !== 0 && this.#stopReason === null,
    });
  }

  /** Runs to the end and resolves with the summary. Rejects only when the run cannot start (clip, ffmpeg, workers). */
  run(): Promise<BotsSummary> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Ends the run early (Ctrl-C). Idempotent. */
  stop(reason: EndReason = 'interrupted'): void {
    this.#stopReason ??= reason;
    this.#stopRequested?.(this.#stopReason);
  }

  /** Worker threads of this run (see plan.ts's workerCount). */
  get workerCount(): number {
    return workerCount(this.options);
  }

  async #run(): Promise<BotsSummary> {
    const o = this.options;
    let media: WorkerPlan['media'] = null;
    if (o.mode === 'media') {
      const spec = o.clip ?? DEFAULT_CLIP;
      if ((o.source ?? 'clip') === 'clip') {
        const files = await ensureClipFiles(spec, { ffmpegPath: o.ffmpegPath, env: o.env });
        this.clip = readClip(files, spec);
        media = { source: 'clip', clipFiles: files, clipSpec: spec };
      } else {
        media = { source: 'ffmpeg', clipSpec: spec, ffmpegPath: resolveFfmpeg({ explicit: o.ffmpegPath, env: o.env }).path };
      }
    }
    this.#usage.beforeWorkers();
    const settings = botSettings(o);
    const tickMs = o.tickMs ?? 250;

    const stopped = new Promise<EndReason>((resolve) => { this.#stopRequested = resolve; });
    if (this.#stopReason) this.#stopRequested!(this.#stopReason);
    await this.#pool.start(botsByWorker(this.plans, this.workerCount).map((bots, index) => ({ kind: 'load', index, settings, bots, media, tickMs })));

    const t0 = Date.now() + 20;
    this.#startedAt = t0;
    this.#usage.start();
    this.#pool.go(t0);
    this.#progressTimer = setInterval(() => this.#onProgressTick(), tickMs);
    let durationTimer: NodeJS.Timeout | null = null;
    if (o.durationS) durationTimer = setTimeout(() => this.stop('duration'), o.durationS * 1000);

    const reason = await stopped;
    if (durationTimer) clearTimeout(durationTimer);
    const stoppedAt = Date.now();
    this.#emitProgress();
    await this.#pool.stop(this.#servers.gone?.server);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    return this.#summary(reason, stoppedAt);
  }

  #warn(message: string): void {
    if (this.#warnings.includes(message)) return;
    this.#warnings.push(message);
    this.safeEmit('warning', message);
  }

  #onProgressTick(): void {
    if (this.#stopReason) return;
    const o = this.options;
    const t = this.#pool.counts();
    const all = this.plans.length;
    const everyoneReported = this.#pool.everyoneReported;
    // Steady state: every bot started and in a call (or done): CPU from here on is the cost of the calls.
    const busy = t.states.pending + t.states.signaling + t.states.ready + t.states.queued + t.states.matched + (o.mode === 'media' ? t.states.connected : 0);
    if (everyoneReported && t.started === all && busy === 0) this.#usage.markSteady(t.childCpuMs);
    this.#emitProgress(t);
    if (!everyoneReported || t.started < all) return;
    if (o.durationS === undefined && t.settled >= all) { this.stop('settled'); return; }
    // Nothing left running (every bot failed for good or ended): waiting longer would show nothing new.
    if (t.states.failed + t.states.ended >= all) this.stop('all-ended');
  }

  #emitProgress(t: BotCounts = this.#pool.counts()): void {
    const o = this.options;
    const run = this.#tally;
    const roll = (k: SampleKind) => percentiles(run.samples[k].slice(-ROLLING));
    this.safeEmit('progress', {
      mode: o.mode,
      bots: this.plans.length,
      started: t.started,
      elapsedMs: this.#startedAt ? Date.now() - this.#startedAt : 0,
      durationMs: o.durationS ? o.durationS * 1000 : null,
      rampMs: Math.round(((this.plans.length - 1) * 1000) / rampPerSecond(o)),
      states: t.states,
      matchedBots: t.matchedBots,
      connectedBots: t.connectedBots,
      matches: run.matches,
      succeeded: run.succeeded,
      failed: { ...run.failed },
      failedTotal: run.failedTotal,
      rolling: { match: roll('match'), connect: roll('connect'), media: roll('media') },
      serverErrors: { ...run.serverErrors },
      errors: run.errors.slice(-5),
      warnings: [...this.#warnings],
      ...this.#usage.live(),
      serverGone: this.#servers.gone,
      stopping: this.#stopReason,
    });
  }

  #summary(reason: EndReason, stoppedAt: number): BotsSummary {
    const o = this.options;
    const run = this.#tally;
    const t = this.#pool.counts();
    const reports = this.#pool.reports();
    const wallMs = Math.max(1, stoppedAt - this.#startedAt);
    const failedAttempts = run.failedTotal;
    const final = reports.length ? countBots(reports) : t;
    const started = reports.length ? reports.filter((r) => r.state !== 'pending').length : t.started;
    const unfinished = reports.filter((r) => r.state !== 'pending' && r.state !== 'failed' && r.state !== 'ended').length;
    const base: Omit<BotsSummary, 'thresholds' | 'passed'> = {
      mode: o.mode,
      servers: o.servers,
      bots: this.plans.length,
      started,
      notStarted: this.plans.length - started,
      matched: final.matchedBots,
      connected: final.connectedBots,
      matches: run.matches,
      attempts: { succeeded: run.succeeded, failed: failedAttempts, unfinished },
      failRate: failedAttempts + run.succeeded > 0 ? Math.round((failedAttempts / (failedAttempts + run.succeeded)) * 10000) / 10000 : 0,
      failed: { ...run.failed },
      failureCodes: { ...run.failureCodes },
      timeToSignalMs: percentiles(run.samples.signal),
      timeToMatchMs: percentiles(run.samples.match),
      timeToIceMs: percentiles(run.samples.ice),
      timeToDtlsMs: percentiles(run.samples.dtls),
      timeToConnectMs: percentiles(run.samples.connect),
      timeToFirstMediaMs: percentiles(run.samples.media),
      ...(o.mode === 'media' ? receiveStats(reports) : { recvBitrateKbps: null, recvVideoKbps: null, lossPercent: null }),
      ...(o.mode === 'media' ? { quality: qualitySummary(reports.map((r) => r.quality), o.network ?? null) } : {}),
      signals: { sent: t.signalsSent, received: t.signalsReceived },
      serverErrors: { ...run.serverErrors },
      serverGone: this.#servers.gone,
      ...this.#usage.summary(this.#pool.childCpuMs(), wallMs, this.plans.length, started),
      clip: this.clip ? { width: this.clip.width, height: this.clip.height, fps: this.clip.fps, videoKbps: this.clip.videoKbps, audioKbps: this.clip.audioKbps } : null,
      source: o.mode === 'media' ? (o.source ?? 'clip') : null,
      workers: this.#pool.size,
      durationMs: wallMs,
      endReason: reason,
      warnings: [...this.#warnings],
    };
    const thresholds = evaluate(base, { maxFailRate: BOTS_DEFAULTS.maxFailRate, ...o.thresholds });
    return { ...base, thresholds, passed: thresholds.every((x) => x.passed) };
  }
}
