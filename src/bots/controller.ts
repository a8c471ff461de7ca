/**
 * The bots controller: plans the run (which bot talks to which server, in which hub, when it
 * starts), spreads the bots over worker threads, gathers what they report, decides when the run
 * ends (--duration, every bot settled, Ctrl-C, the server going away), stops every bot, and
 * computes the summary with percentiles and thresholds. Observers (the ink view, tests) watch
 * `progress` events; nothing here prints.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { HubName } from '../protocol/index.js';
import { resolveFfmpeg, TypedEmitter } from '../peer/index.js';
import { BOT_STATES, type BotPlan, type BotSettings, type BotState, type SampleKind } from './bot.js';
import { DEFAULT_CLIP, ensureClipFiles, readClip, type Clip, type ClipSpec } from './clip.js';
import { botsUsageError } from './errors.js';
import { PHASES, type Phase } from './links.js';
import {
  evaluate, noFailures, percentiles, receiveStats,
  type BotReport, type BotsSummary, type EndReason, type Percentiles, type Thresholds,
} from './stats.js';
import type { ControllerMessage, WorkerMessage, WorkerPlan, WorkerTick } from './worker-host.js';

/** Options of a bots run (the CLI's flags as plain values). */
export interface BotsOptions {
  /** One or more server URLs; bots are spread over them. */
  servers: string[];
  count: number;
  mode: 'signal' | 'media';
  /** Hubs to spread the pairs over (default: global). */
  rooms?: string[];
  /** Bots started per second (default 100 in signal mode, 10 in media mode). */
  rampPerSecond?: number;
  /** Run this long, s. Without it the run ends once every bot has settled (connected, or failed). */
  durationS?: number;
  /** Each offerer presses Next this long after connecting, s (needs durationS). */
  nextEveryS?: number;
  /** Interest tags; each pair of bots joins with one of them. */
  interests?: string[];
  /** Pair by private call codes instead of hubs. */
  private?: boolean;
  relayOnly?: boolean;
  /** A bot waiting longer than this for a partner fails in the match phase, s (default 30). */
  matchTimeoutS?: number;
  /** A bot not connected (media mode: no video) this long after its match fails, s (default 20). */
  connectTimeoutS?: number;
  /** Media mode: how long a bot must receive media before it has settled, s (default 5). */
  holdS?: number;
  /** Worker threads (default: one per core, at most one per 10 media pairs or 500 signal bots). */
  workers?: number;
  /** Media mode: replay the clip (default) or run ffmpeg encoders per bot (the benchmark's baseline). */
  source?: 'clip' | 'ffmpeg';
  ffmpegPath?: string;
  clip?: ClipSpec;
  thresholds?: Thresholds;
  /** How often workers report and progress is emitted, ms (default 250). */
  tickMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Defaults of the options. */
export const BOTS_DEFAULTS = {
  rooms: ['global'],
  rampSignal: 100,
  rampMedia: 10,
  matchTimeoutS: 30,
  connectTimeoutS: 20,
  holdS: 5,
  maxFailRate: 0.01,
} as const;

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

/** Checks options; throws CHZ_ERR_BOTS_USAGE (exit code 2) for a bad combination. */
export function validateBotsOptions(o: BotsOptions): void {
  if (!o.servers.length) throw botsUsageError('--server needs at least one URL.');
  for (const s of o.servers) {
    try {
      const u = new URL(s.includes('://') ? s : `http://${s}`);
      if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error(u.protocol);
    } catch {
      throw botsUsageError(`--server: "${s}" is not an http(s):// or ws(s):// URL.`);
    }
  }
  if (!Number.isInteger(o.count) || o.count < 1) throw botsUsageError('--count must be a positive integer.');
  if (o.mode !== 'signal' && o.mode !== 'media') throw botsUsageError('--mode is signal or media.');
  for (const r of o.rooms ?? []) if (!HubName.safeParse(r).success) throw botsUsageError(`--rooms: "${r}" is not a hub name (1-32 of a-z, 0-9 and -).`);
  if (o.rooms && !o.rooms.length) throw botsUsageError('--rooms needs at least one hub.');
  if (o.private && o.interests?.length) throw botsUsageError('--private calls have no interests: drop --interests.');
  if (o.nextEveryS !== undefined && o.durationS === undefined) throw botsUsageError('--next-every needs --duration (churn has no natural end).');
  if (o.mode === 'signal' && o.thresholds?.minBitrateKbps !== undefined) throw botsUsageError('--min-bitrate-kbps needs --mode media (signal bots send no media).');
  if (o.mode === 'signal' && o.relayOnly) throw botsUsageError('--relay-only needs --mode media (signal bots make no ICE connection).');
  if (o.source === 'ffmpeg' && o.mode !== 'media') throw botsUsageError('--source ffmpeg needs --mode media.');
  const rate = o.thresholds?.maxFailRate;
  if (rate !== undefined && (!(rate >= 0) || rate > 1)) throw botsUsageError('--max-fail-rate is a share from 0 to 1 (or a percentage such as 1%).');
  for (const [k, v] of Object.entries({ rampPerSecond: o.rampPerSecond, durationS: o.durationS, nextEveryS: o.nextEveryS, matchTimeoutS: o.matchTimeoutS, connectTimeoutS: o.connectTimeoutS })) {
    if (v !== undefined && !(v > 0)) throw botsUsageError(`${k} must be positive.`);
  }
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1)) throw botsUsageError('--workers must be a positive integer.');
}

/** Who each bot is: server, target and start time (pairs are adjacent ids and share a worker). */
export function planBots(o: BotsOptions): BotPlan[] {
  const rooms = o.rooms?.length ? o.rooms : [...BOTS_DEFAULTS.rooms];
  const ramp = o.rampPerSecond ?? (o.mode === 'signal' ? BOTS_DEFAULTS.rampSignal : BOTS_DEFAULTS.rampMedia);
  const plans: BotPlan[] = [];
  for (let i = 0; i < o.count; i++) {
    const pair = Math.floor(i / 2);
    const interests = o.interests?.length ? [o.interests[pair % o.interests.length]!] : undefined;
    const target: BotPlan['target'] = o.private
      ? (i % 2 === 0 ? { kind: 'private-create', partner: i + 1 } : { kind: 'private-join', partner: i - 1 })
      : { kind: 'hub', hub: rooms[pair % rooms.length]!, ...(interests ? { interests } : {}) };
    plans.push({ id: i, server: o.servers[i % o.servers.length]!, target, startAtMs: Math.round((i * 1000) / ramp) });
  }
  return plans;
}

/** The settings every bot of the run shares. */
export function botSettings(o: BotsOptions): BotSettings {
  return {
    mode: o.mode,
    rejoin: o.durationS !== undefined,
    nextEveryMs: o.nextEveryS ? o.nextEveryS * 1000 : null,
    matchTimeoutMs: (o.matchTimeoutS ?? BOTS_DEFAULTS.matchTimeoutS) * 1000,
    connectTimeoutMs: (o.connectTimeoutS ?? BOTS_DEFAULTS.connectTimeoutS) * 1000,
    holdMs: (o.holdS ?? BOTS_DEFAULTS.holdS) * 1000,
    relayOnly: !!o.relayOnly,
  };
}

/** Where tsx's ESM loader API is (only needed when running from TypeScript source). */
function tsxApi(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return 'tsx/esm/api';
  }
}

/**
 * Starts a bots worker thread. Under tsx (tests, development) it registers tsx's loader and
 * imports the TypeScript entry; from dist/ it runs the compiled JavaScript.
 */
export function spawnBotWorker(plan: WorkerPlan): Worker {
  const here = import.meta.url;
  const worker = here.endsWith('.ts')
    ? new Worker(`import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./worker.ts', here).href)}); })`, {
      eval: true, workerData: plan, stdout: true, stderr: true,
    })
    : new Worker(new URL('./worker.js', here), { workerData: plan, stdout: true, stderr: true });
  worker.stdout.resume();
  worker.stderr.resume();
  return worker;
}

/** The http(s) base of a server URL (for /healthz). */
export function httpBase(server: string): string {
  const u = new URL(server.includes('://') ? server : `http://${server}`);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  if (u.protocol === 'wss:') u.protocol = 'https:';
  u.pathname = '/';
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/$/, '');
}

const ROLLING = 500;

interface WorkerSlot {
  index: number;
  bots: number;
  worker: Worker;
  last: WorkerTick | null;
  done: { bots: BotReport[]; childCpuMs: number } | null;
  exited: boolean;
}

/** Runs bots and reports. */
export class BotController extends TypedEmitter<BotControllerEvents> {
  readonly options: BotsOptions;
  readonly plans: BotPlan[];
  clip: Clip | null = null;
  #slots: WorkerSlot[] = [];
  #samples: Record<SampleKind, number[]> = { signal: [], match: [], ice: [], dtls: [], connect: [], media: [] };
  #succeeded = 0;
  #failed = noFailures();
  #failureCodes: Record<string, number> = {};
  #errors: string[] = [];
  #warnings: string[] = [];
  #matches = 0;
  #serverErrors: Record<string, number> = {};
  #serverGone: { server: string; code: number } | null = null;
  #checking = new Set<string>();
  #startedAt = 0;
  #cpu0 = process.cpuUsage();
  #steady: { at: number; cpu: NodeJS.CpuUsage; childMs: number } | null = null;
  #lastCpu = { at: 0, usage: process.cpuUsage() };
  #cpuPercent = 0;
  #peakRss = 0;
  #rssBefore = process.memoryUsage().rss;
  #stopReason: EndReason | null = null;
  #stopRequested: ((r: EndReason) => void) | null = null;
  #progressTimer: NodeJS.Timeout | null = null;
  #running: Promise<BotsSummary> | null = null;

  constructor(options: BotsOptions) {
    super();
    validateBotsOptions(options);
    this.options = options;
    this.plans = planBots(options);
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

  /**
   * Worker threads: --workers, else one per core but no more than one per 10 media pairs (or 500
   * signal bots): each thread has a fixed cost (its own werift timers, GC), which a small run
   * pays for nothing.
   */
  get workerCount(): number {
    const o = this.options;
    const useful = o.mode === 'media' ? Math.ceil(o.count / 20) : Math.ceil(o.count / 500);
    return Math.max(1, Math.min(o.workers ?? Math.min(os.availableParallelism(), useful), Math.ceil(o.count / 2)));
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
    this.#rssBefore = process.memoryUsage().rss;
    const n = this.workerCount;
    const settings = botSettings(o);
    const byWorker: BotPlan[][] = Array.from({ length: n }, () => []);
    for (const p of this.plans) byWorker[Math.floor(p.id / 2) % n]!.push(p);
    const tickMs = o.tickMs ?? 250;

    const stopped = new Promise<EndReason>((resolve) => { this.#stopRequested = resolve; });
    if (this.#stopReason) this.#stopRequested!(this.#stopReason);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const plan: WorkerPlan = { kind: 'load', index: i, settings, bots: byWorker[i]!, media, tickMs };
      const worker = spawnBotWorker(plan);
      const slot: WorkerSlot = { index: i, bots: plan.bots.length, worker, last: null, done: null, exited: false };
      this.#slots.push(slot);
      ready.push(new Promise<void>((resolve, reject) => {
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'fatal') { reject(Object.assign(new Error(m.message), { code: m.code })); this.#warn(`worker ${i}: ${m.code} ${m.message}`); this.stop('all-ended'); }
          else this.#onMessage(slot, m);
        });
        worker.on('error', (err) => { this.#warn(`worker ${i} crashed: ${err.stack ?? err.message}`); reject(err); });
        worker.on('exit', (code) => {
          slot.exited = true;
          reject(new Error(`worker ${i} exited before it was ready`));
          // A thread that dies mid-run takes its bots' numbers with it: end the run and say so.
          if (!slot.done && this.#startedAt && !this.#stopReason) { this.#warn(`worker ${i} exited (${code}) during the run; its bots are not in the summary`); this.stop('all-ended'); }
        });
      }));
    }
    try {
      await Promise.race([
        Promise.all(ready),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the bot workers did not start within 30 s')), 30_000).unref()),
      ]);
    } catch (err) {
      await Promise.all(this.#slots.map((s) => s.worker.terminate()));
      throw err;
    }

    const t0 = Date.now() + 20;
    this.#startedAt = t0;
    this.#cpu0 = process.cpuUsage();
    this.#lastCpu = { at: performance.now(), usage: process.cpuUsage() };
    for (const s of this.#slots) s.worker.postMessage({ type: 'go', t0 } satisfies ControllerMessage);
    this.#progressTimer = setInterval(() => this.#onProgressTick(), tickMs);
    let durationTimer: NodeJS.Timeout | null = null;
    if (o.durationS) durationTimer = setTimeout(() => this.stop('duration'), o.durationS * 1000);

    const reason = await stopped;
    if (durationTimer) clearTimeout(durationTimer);
    const stoppedAt = Date.now();
    this.#emitProgress();
    await this.#stopWorkers();
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    return this.#summary(reason, stoppedAt);
  }

  #onMessage(slot: WorkerSlot, m: WorkerMessage): void {
    if (m.type === 'tick') {
      slot.last = m;
      for (const k of Object.keys(m.samples) as SampleKind[]) for (const v of m.samples[k]) this.#samples[k].push(v);
      this.#succeeded += m.succeeded;
      for (const f of m.failures) {
        this.#failed[f.phase]++;
        this.#failureCodes[f.code] = (this.#failureCodes[f.code] ?? 0) + 1;
      }
      this.#errors.push(...m.errors);
      if (this.#errors.length > 20) this.#errors.splice(0, this.#errors.length - 20);
      this.#matches += m.matches;
      for (const [c, k] of Object.entries(m.serverErrors)) this.#serverErrors[c] = (this.#serverErrors[c] ?? 0) + k;
      for (const w of m.warnings) this.#warn(w);
      for (const l of m.lost) this.#onLost(l);
    } else if (m.type === 'done') {
      slot.done = { bots: m.bots, childCpuMs: m.childCpuMs };
    } else if (m.type === 'fatal') {
      this.#warn(`worker ${slot.index}: ${m.code} ${m.message}`);
      this.stop('all-ended');
    }
  }

  #warn(message: string): void {
    if (this.#warnings.includes(message)) return;
    this.#warnings.push(message);
    this.emit('warning', message);
  }

  /** A bot's socket dropped: is its server gone? A shutdown says so; otherwise ask /healthz. */
  #onLost(l: { server: string; code: number; serverCode: string | null }): void {
    if (this.#serverGone || this.#stopReason) return;
    if (l.serverCode === 'CHZ_ERR_SERVER_SHUTDOWN') { this.#declareGone(l.server, l.code); return; }
    if (this.#checking.has(l.server)) return;
    this.#checking.add(l.server);
    fetch(`${httpBase(l.server)}/healthz`, { signal: AbortSignal.timeout(2000) })
      .then((res) => { void res.body?.cancel(); })
      .catch(() => this.#declareGone(l.server, l.code))
      .finally(() => this.#checking.delete(l.server));
  }

  #declareGone(server: string, code: number): void {
    if (this.#serverGone) return;
    this.#serverGone = { server, code };
    this.#warn(`the server ${server} went away (close ${code}); stopping the bots`);
    this.stop('server-gone');
  }

  #totals() {
    const states = Object.fromEntries(BOT_STATES.map((s) => [s, 0])) as Record<BotState, number>;
    let started = 0;
    let settled = 0;
    let matchedBots = 0;
    let connectedBots = 0;
    let signalsSent = 0;
    let signalsReceived = 0;
    let childCpuMs = 0;
    for (const s of this.#slots) {
      const t = s.last;
      if (!t) { states.pending += s.bots; continue; }
      for (const k of BOT_STATES) states[k] += t.states[k];
      started += t.started;
      settled += t.settled;
      matchedBots += t.matchedBots;
      connectedBots += t.connectedBots;
      signalsSent += t.signalsSent;
      signalsReceived += t.signalsReceived;
      childCpuMs += t.childCpuMs;
    }
    return { states, started, settled, matchedBots, connectedBots, signalsSent, signalsReceived, childCpuMs };
  }

  #onProgressTick(): void {
    if (this.#stopReason) return;
    const o = this.options;
    const t = this.#totals();
    const all = this.plans.length;
    const everyoneReported = this.#slots.every((s) => s.last !== null);
    // Steady state: every bot started and in a call (or done): CPU from here on is the cost of the calls.
    const busy = t.states.pending + t.states.signaling + t.states.ready + t.states.queued + t.states.matched + (o.mode === 'media' ? t.states.connected : 0);
    if (!this.#steady && everyoneReported && t.started === all && busy === 0) {
      this.#steady = { at: performance.now(), cpu: process.cpuUsage(), childMs: t.childCpuMs };
    }
    this.#emitProgress(t);
    if (!everyoneReported || t.started < all) return;
    if (o.durationS === undefined && t.settled >= all) { this.stop('settled'); return; }
    // Nothing left running (every bot failed for good or ended): waiting longer would show nothing new.
    if (t.states.failed + t.states.ended >= all) this.stop('all-ended');
  }

  #emitProgress(t = this.#totals()): void {
    const now = performance.now();
    const usage = process.cpuUsage();
    const dt = now - this.#lastCpu.at;
    if (dt >= 900) {
      this.#cpuPercent = Math.round(((usage.user - this.#lastCpu.usage.user + usage.system - this.#lastCpu.usage.system) / 1000 / dt) * 1000) / 10;
      this.#lastCpu = { at: now, usage };
    }
    const rss = process.memoryUsage().rss;
    this.#peakRss = Math.max(this.#peakRss, rss);
    const o = this.options;
    const ramp = o.rampPerSecond ?? (o.mode === 'signal' ? BOTS_DEFAULTS.rampSignal : BOTS_DEFAULTS.rampMedia);
    const failedTotal = PHASES.reduce((n, p) => n + this.#failed[p], 0);
    const roll = (k: SampleKind) => percentiles(this.#samples[k].slice(-ROLLING));
    this.emit('progress', {
      mode: o.mode,
      bots: this.plans.length,
      started: t.started,
      elapsedMs: this.#startedAt ? Date.now() - this.#startedAt : 0,
      durationMs: o.durationS ? o.durationS * 1000 : null,
      rampMs: Math.round(((this.plans.length - 1) * 1000) / ramp),
      states: t.states,
      matchedBots: t.matchedBots,
      connectedBots: t.connectedBots,
      matches: this.#matches,
      succeeded: this.#succeeded,
      failed: { ...this.#failed },
      failedTotal,
      rolling: { match: roll('match'), connect: roll('connect'), media: roll('media') },
      serverErrors: { ...this.#serverErrors },
      errors: this.#errors.slice(-5),
      warnings: [...this.#warnings],
      cpuPercent: this.#cpuPercent,
      rssMb: Math.round(rss / 1048576),
      serverGone: this.#serverGone,
      stopping: this.#stopReason,
    });
  }

  async #stopWorkers(): Promise<void> {
    await Promise.all(this.#slots.map(async (s) => {
      if (s.exited) return;
      const done = new Promise<void>((resolve) => {
        if (s.done) { resolve(); return; }
        const check = (m: WorkerMessage) => { if (m.type === 'done') { s.worker.off('message', check); resolve(); } };
        s.worker.on('message', check);
        s.worker.once('exit', () => resolve());
      });
      s.worker.postMessage({ type: 'stop', serverGone: this.#serverGone?.server } satisfies ControllerMessage);
      let timer: NodeJS.Timeout | null = null;
      await Promise.race([done, new Promise<void>((r) => { timer = setTimeout(() => { this.#warn(`worker ${s.index} did not stop within 15 s; terminated`); r(); }, 15_000); })]);
      if (timer) clearTimeout(timer);
      await s.worker.terminate();
    }));
  }

  #summary(reason: EndReason, stoppedAt: number): BotsSummary {
    const o = this.options;
    const t = this.#totals();
    const reports = this.#slots.flatMap((s) => s.done?.bots ?? []);
    const childCpuMs = this.#slots.reduce((n, s) => n + (s.done?.childCpuMs ?? s.last?.childCpuMs ?? 0), 0);
    const cpu = process.cpuUsage(this.#cpu0);
    const wallMs = Math.max(1, stoppedAt - this.#startedAt);
    const failedAttempts = PHASES.reduce((n, p) => n + this.#failed[p], 0);
    let steadyPercent: number | null = null;
    let steadySeconds: number | null = null;
    if (this.#steady) {
      const steadyMs = performance.now() - this.#steady.at;
      if (steadyMs >= 1000) {
        const c = process.cpuUsage(this.#steady.cpu);
        steadyPercent = Math.round((((c.user + c.system) / 1000 + (childCpuMs - this.#steady.childMs)) / steadyMs) * 1000) / 10;
        steadySeconds = Math.round(steadyMs / 100) / 10;
      }
    }
    const started = reports.length ? reports.filter((r) => r.state !== 'pending').length : t.started;
    const unfinished = reports.filter((r) => r.state !== 'pending' && r.state !== 'failed' && r.state !== 'ended').length;
    const base: Omit<BotsSummary, 'thresholds' | 'passed'> = {
      mode: o.mode,
      servers: o.servers,
      bots: this.plans.length,
      started,
      notStarted: this.plans.length - started,
      matched: reports.length ? reports.filter((r) => r.matches > 0).length : t.matchedBots,
      connected: reports.length ? reports.filter((r) => r.successes > 0).length : t.connectedBots,
      matches: this.#matches,
      attempts: { succeeded: this.#succeeded, failed: failedAttempts, unfinished },
      failRate: failedAttempts + this.#succeeded > 0 ? Math.round((failedAttempts / (failedAttempts + this.#succeeded)) * 10000) / 10000 : 0,
      failed: { ...this.#failed },
      failureCodes: { ...this.#failureCodes },
      timeToSignalMs: percentiles(this.#samples.signal),
      timeToMatchMs: percentiles(this.#samples.match),
      timeToIceMs: percentiles(this.#samples.ice),
      timeToDtlsMs: percentiles(this.#samples.dtls),
      timeToConnectMs: percentiles(this.#samples.connect),
      timeToFirstMediaMs: percentiles(this.#samples.media),
      ...(o.mode === 'media' ? receiveStats(reports) : { recvBitrateKbps: null, recvVideoKbps: null, lossPercent: null }),
      signals: { sent: t.signalsSent, received: t.signalsReceived },
      serverErrors: { ...this.#serverErrors },
      serverGone: this.#serverGone,
      cpu: {
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        childrenMs: Math.round(childCpuMs),
        percentOfCore: Math.round((((cpu.user + cpu.system) / 1000 + childCpuMs) / wallMs) * 1000) / 10,
        steadyPercentOfCore: steadyPercent,
        steadySeconds,
        perBotPercent: steadyPercent !== null ? Math.round((steadyPercent / this.plans.length) * 1000) / 1000 : null,
      },
      memory: {
        rssMb: Math.round(process.memoryUsage().rss / 1048576),
        peakRssMb: Math.round(this.#peakRss / 1048576),
        perBotKb: Math.round(Math.max(0, this.#peakRss - this.#rssBefore) / 1024 / Math.max(1, started)),
      },
      clip: this.clip ? { width: this.clip.width, height: this.clip.height, fps: this.clip.fps, videoKbps: this.clip.videoKbps, audioKbps: this.clip.audioKbps } : null,
      source: o.mode === 'media' ? (o.source ?? 'clip') : null,
      workers: this.#slots.length,
      durationMs: wallMs,
      endReason: reason,
      warnings: [...this.#warnings],
    };
    const thresholds = evaluate(base, { maxFailRate: BOTS_DEFAULTS.maxFailRate, ...o.thresholds });
    return { ...base, thresholds, passed: thresholds.every((x) => x.passed) };
  }
}
