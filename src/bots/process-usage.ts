/**
 * What a bots run costs this process: CPU (over the whole run, over the last second for the
 * live view, and in the steady state once every call is up, which is the number that says
 * what one call costs), resident memory and its peak. The ffmpeg children's CPU is added where
 * the workers report it.
 */
import type { BotsSummary } from './stats.js';

/** The process's numbers in a live snapshot. */
export interface LiveUsage {
  /** CPU of this process over the last second, % of one core. */
  cpuPercent: number;
  rssMb: number;
}

/** Measures one run's process usage. */
export class ProcessUsage {
  #rssBefore = process.memoryUsage().rss;
  #peakRss = 0;
  #cpu0 = process.cpuUsage();
  #lastCpu = { at: 0, usage: process.cpuUsage() };
  #cpuPercent = 0;
  #steady: { at: number; cpu: NodeJS.CpuUsage; childMs: number } | null = null;

  /** Memory before the workers start: what the bots add is measured from here. */
  beforeWorkers(): void {
    this.#rssBefore = process.memoryUsage().rss;
  }

  /** The run starts: CPU is counted from here. */
  start(): void {
    this.#cpu0 = process.cpuUsage();
    this.#lastCpu = { at: performance.now(), usage: process.cpuUsage() };
  }

  /** Whether the steady state has begun. */
  get steady(): boolean { return this.#steady !== null; }

  /** Every bot is started and in a call (or done): CPU from here on is the cost of the calls. */
  markSteady(childCpuMs: number): void {
    this.#steady ??= { at: performance.now(), cpu: process.cpuUsage(), childMs: childCpuMs };
  }

  /** CPU over the last second (recomputed at most once per 900 ms) and memory now. */
  live(): LiveUsage {
    const now = performance.now();
    const usage = process.cpuUsage();
    const dt = now - this.#lastCpu.at;
    if (dt >= 900) {
      this.#cpuPercent = Math.round(((usage.user - this.#lastCpu.usage.user + usage.system - this.#lastCpu.usage.system) / 1000 / dt) * 1000) / 10;
      this.#lastCpu = { at: now, usage };
    }
    const rss = process.memoryUsage().rss;
    this.#peakRss = Math.max(this.#peakRss, rss);
    return { cpuPercent: this.#cpuPercent, rssMb: Math.round(rss / 1048576) };
  }

  /**
   * The summary's `cpu` and `memory`: `childCpuMs` of the ffmpeg children, `wallMs` of the run,
   * `bots` planned and `started`.
   */
  summary(childCpuMs: number, wallMs: number, bots: number, started: number): Pick<BotsSummary, 'cpu' | 'memory'> {
    const cpu = process.cpuUsage(this.#cpu0);
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
    return {
      cpu: {
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        childrenMs: Math.round(childCpuMs),
        percentOfCore: Math.round((((cpu.user + cpu.system) / 1000 + childCpuMs) / wallMs) * 1000) / 10,
        steadyPercentOfCore: steadyPercent,
        steadySeconds,
        perBotPercent: steadyPercent !== null ? Math.round((steadyPercent / bots) * 1000) / 1000 : null,
      },
      memory: {
        rssMb: Math.round(process.memoryUsage().rss / 1048576),
        peakRssMb: Math.round(this.#peakRss / 1048576),
        perBotKb: Math.round(Math.max(0, this.#peakRss - this.#rssBefore) / 1024 / Math.max(1, started)),
      },
    };
  }
}
