/**
 * Numbers of a bots run: percentiles (nearest-rank), per-bot receive bitrate and loss, the
 * summary document that `--json` prints, and the thresholds that decide `passed`. Pure
 * functions, so the CLI, the tests and the benchmark compute them the same way.
 */
import { PHASES, type Phase, type ReceiveTotals } from './links.js';
import { evaluateQuality, type BotQuality, type QualitySummary, type QualityThresholds } from './quality.js';
import type { ThresholdResult } from './threshold.js';

/** p50/p95/p99/max of a list of timings, ms (null when nothing was measured). */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
function quantileSorted(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Percentiles of `values` (rounded to 0.1 ms); null for an empty list. */
export function percentiles(values: readonly number[]): Percentiles | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const r = (n: number) => Math.round(n * 10) / 10;
  return { count: s.length, p50: r(quantileSorted(s, 0.5)), p95: r(quantileSorted(s, 0.95)), p99: r(quantileSorted(s, 0.99)), max: r(s[s.length - 1]!) };
}

/** What one bot received over the run. */
interface BotReceive extends ReceiveTotals {
  /** How long media flowed to it, ms. */
  mediaMs: number;
}

/** The final numbers of one bot. */
export interface BotReport {
  id: number;
  server: string;
  state: string;
  matches: number;
  successes: number;
  failures: number;
  recv: BotReceive;
  /** Media mode: what the bot's calls looked like to a viewer (quality.ts). */
  quality?: BotQuality | null;
}

/** Receive bitrate (kbit/s) and loss (%) of one bot; null when it received no media for a second. */
function botRate(r: BotReceive): { kbps: number; videoKbps: number; lossPercent: number } | null {
  if (r.mediaMs < 1000 || r.packets === 0) return null;
  return {
    kbps: ((r.videoBytes + r.audioBytes) * 8) / r.mediaMs,
    videoKbps: (r.videoBytes * 8) / r.mediaMs,
    lossPercent: (100 * r.lost) / (r.packets + r.lost),
  };
}

/** Why a run ended. */
export type EndReason = 'settled' | 'duration' | 'interrupted' | 'server-gone' | 'all-ended';

/** Thresholds of a run (--max-fail-rate and friends; the call-quality ones are in quality.ts). */
export interface Thresholds extends QualityThresholds {
  /** Largest share of failed attempts, 0..1. */
  maxFailRate?: number;
  maxP95ConnectMs?: number;
  maxP95MatchMs?: number;
  /** Smallest p5 of the per-bot receive bitrate, kbit/s (media mode). */
  minBitrateKbps?: number;
}

/** The document `chatzyo bots --json` prints. */
export interface BotsSummary {
  mode: 'signal' | 'media';
  servers: string[];
  /** Bots asked for, bots that started, bots the run ended before starting. */
  bots: number;
  started: number;
  notStarted: number;
  /** Bots matched at least once, and connected at least once (signal mode: completed the exchange; media: received video). */
  matched: number;
  connected: number;
  /** Matches made (each counted once, by its offerer) — the server's chatzyo_matches_total. */
  matches: number;
  /** Attempts that ended: succeeded and failed; the rest were still running at the end. */
  attempts: { succeeded: number; failed: number; unfinished: number };
  failRate: number;
  /** Failed attempts by the phase they failed in. */
  failed: Record<Phase, number>;
  /** Failed attempts by code. */
  failureCodes: Record<string, number>;
  timeToSignalMs: Percentiles | null;
  timeToMatchMs: Percentiles | null;
  timeToIceMs: Percentiles | null;
  timeToDtlsMs: Percentiles | null;
  timeToConnectMs: Percentiles | null;
  timeToFirstMediaMs: Percentiles | null;
  /** Per-bot receive bitrate (video + audio), kbit/s: median, 5th percentile (the worst 5%), minimum. */
  recvBitrateKbps: { bots: number; p50: number; p5: number; min: number } | null;
  recvVideoKbps: { p50: number; p5: number } | null;
  /** Per-bot packet loss, %: median, 95th percentile (the worst 5%), maximum, and over all bots. */
  lossPercent: { p50: number; p95: number; max: number; overall: number } | null;
  /** Media mode: per-bot fps, freeze ratio, latency and MOS percentiles, and the --network profile (quality.ts). */
  quality?: QualitySummary | null;
  signals: { sent: number; received: number };
  /** Error codes the server sent the bots (error frames and close codes). */
  serverErrors: Record<string, number>;
  serverGone: { server: string; code: number } | null;
  /** CPU of the bots' process (and their encoders, if any): whole run and steady state (all bots in a call). */
  cpu: { userMs: number; systemMs: number; childrenMs: number; percentOfCore: number; steadyPercentOfCore: number | null; steadySeconds: number | null; perBotPercent: number | null };
  /** Memory of the bots' process: now, at its peak, and the peak's growth over the start per started bot. */
  memory: { rssMb: number; peakRssMb: number; perBotKb: number };
  /** The replayed clip (media mode). */
  clip: { width: number; height: number; fps: number; videoKbps: number; audioKbps: number } | null;
  source: 'clip' | 'ffmpeg' | null;
  workers: number;
  durationMs: number;
  endReason: EndReason;
  warnings: string[];
  thresholds: ThresholdResult[];
  passed: boolean;
}

/** An empty failure table. */
export function noFailures(): Record<Phase, number> {
  return Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
}

/** The per-bot receive numbers of a run. */
export function receiveStats(reports: readonly BotReport[]): Pick<BotsSummary, 'recvBitrateKbps' | 'recvVideoKbps' | 'lossPercent'> {
  const rates = reports.map((b) => botRate(b.recv)).filter((r): r is NonNullable<typeof r> => r !== null);
  if (!rates.length) return { recvBitrateKbps: null, recvVideoKbps: null, lossPercent: null };
  const kbps = rates.map((r) => r.kbps).sort((a, b) => a - b);
  const video = rates.map((r) => r.videoKbps).sort((a, b) => a - b);
  const loss = rates.map((r) => r.lossPercent).sort((a, b) => a - b);
  const lost = reports.reduce((n, b) => n + b.recv.lost, 0);
  const packets = reports.reduce((n, b) => n + b.recv.packets, 0);
  const r1 = (n: number) => Math.round(n * 10) / 10;
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  return {
    recvBitrateKbps: { bots: rates.length, p50: r1(quantileSorted(kbps, 0.5)), p5: r1(quantileSorted(kbps, 0.05)), min: r1(kbps[0]!) },
    recvVideoKbps: { p50: r1(quantileSorted(video, 0.5)), p5: r1(quantileSorted(video, 0.05)) },
    lossPercent: { p50: r3(quantileSorted(loss, 0.5)), p95: r3(quantileSorted(loss, 0.95)), max: r3(loss[loss.length - 1]!), overall: r3((100 * lost) / Math.max(1, packets + lost)) },
  };
}

/** Applies the thresholds to a summary (fields other than thresholds/passed filled in). */
export function evaluate(s: Omit<BotsSummary, 'thresholds' | 'passed'>, t: Thresholds): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  if (t.maxFailRate !== undefined) {
    const v = s.failRate;
    out.push({
      name: 'max-fail-rate', limit: t.maxFailRate, value: v, passed: v <= t.maxFailRate,
      message: `fail rate ${(v * 100).toFixed(2)}% (${s.attempts.failed} of ${s.attempts.failed + s.attempts.succeeded} attempts) ${v <= t.maxFailRate ? '<=' : '>'} ${(t.maxFailRate * 100).toFixed(2)}%`,
    });
  }
  const p95 = (name: 'max-p95-connect-ms' | 'max-p95-match-ms', limit: number | undefined, p: Percentiles | null, what: string) => {
    if (limit === undefined) return;
    const v = p?.p95 ?? null;
    const ok = v !== null && v <= limit;
    out.push({ name, limit, value: v, passed: ok, message: v === null ? `no ${what} was measured (limit ${limit} ms)` : `p95 ${what} ${v} ms ${ok ? '<=' : '>'} ${limit} ms` });
  };
  p95('max-p95-connect-ms', t.maxP95ConnectMs, s.timeToConnectMs, 'time to connect');
  p95('max-p95-match-ms', t.maxP95MatchMs, s.timeToMatchMs, 'time to match');
  if (t.minBitrateKbps !== undefined) {
    const v = s.recvBitrateKbps?.p5 ?? null;
    const ok = v !== null && v >= t.minBitrateKbps;
    out.push({
      name: 'min-bitrate-kbps', limit: t.minBitrateKbps, value: v, passed: ok,
      message: v === null ? `no bot received media for a second (limit ${t.minBitrateKbps} kbit/s)` : `p5 receive bitrate ${v} kbit/s ${ok ? '>=' : '<'} ${t.minBitrateKbps} kbit/s`,
    });
  }
  out.push(...evaluateQuality(s.quality, t));
  if (s.connected === 0) {
    out.push({ name: 'any-connected', limit: null, value: 0, passed: false, message: `no bot ${s.mode === 'media' ? 'received media from a partner' : 'completed an exchange with a partner'}` });
  }
  if (s.serverGone) {
    out.push({ name: 'server-stayed-up', limit: null, value: null, passed: false, message: `the server ${s.serverGone.server} went away during the run (close ${s.serverGone.code})` });
  }
  return out;
}
