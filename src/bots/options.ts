/**
 * The options of a bots run (the CLI's flags as plain values), their defaults, and the check
 * that refuses a combination that makes no sense before anything starts.
 */
import { HubName } from '../protocol/index.js';
import type { ClipSpec } from './clip.js';
import { botsUsageError } from './errors.js';
import { parseNetworkProfile } from '../lab/profiles.js';
import type { Thresholds } from './stats.js';

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
  /** -4 / -6: reach the servers and (media mode) gather candidates over this IP family only. */
  ipFamily?: 4 | 6;
  /** CA certificates for wss:// (`bots --ca`: see `trustedCas`); default: Node's own store. */
  ca?: string[];
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
  /**
   * The clip to replay (default DEFAULT_CLIP); with `adapt: false` (`--no-adapt`) every call
   * replays it as is, otherwise each call picks a rung of its ladder from its bandwidth estimate.
   */
  clip?: ClipSpec;
  thresholds?: Thresholds;
  /** Media mode: put every bot behind this network profile of the lab (`3g`, `custom:rtt=...`; src/lab/profiles.ts). */
  network?: string;
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
  if (o.clip?.adapt === false && o.mode !== 'media') throw botsUsageError('--no-adapt needs --mode media (signal bots send no media).');
  if (o.network !== undefined) {
    if (o.mode !== 'media') throw botsUsageError('--network needs --mode media (signal bots send no media).');
    parseNetworkProfile(o.network); // CHZ_ERR_LAB_PROFILE (exit 2) naming the bad part
  }
  const t = o.thresholds ?? {};
  if (o.mode === 'signal' && (t.maxFreezeRatio !== undefined || t.maxP95LatencyMs !== undefined || t.minMos !== undefined)) {
    throw botsUsageError('--max-freeze-ratio, --max-p95-latency-ms and --min-mos need --mode media (signal bots send no media).');
  }
  if (t.maxFreezeRatio !== undefined && !(t.maxFreezeRatio >= 0 && t.maxFreezeRatio <= 1)) throw botsUsageError('--max-freeze-ratio is a share from 0 to 1 (or a percentage such as 5%).');
  if (t.minMos !== undefined && !(t.minMos >= 1 && t.minMos <= 4.5)) throw botsUsageError('--min-mos is between 1 and 4.5.');
  if (t.maxP95LatencyMs !== undefined && !(t.maxP95LatencyMs > 0)) throw botsUsageError('--max-p95-latency-ms must be positive.');
  const rate = o.thresholds?.maxFailRate;
  if (rate !== undefined && (!(rate >= 0) || rate > 1)) throw botsUsageError('--max-fail-rate is a share from 0 to 1 (or a percentage such as 1%).');
  for (const [k, v] of Object.entries({ rampPerSecond: o.rampPerSecond, durationS: o.durationS, nextEveryS: o.nextEveryS, matchTimeoutS: o.matchTimeoutS, connectTimeoutS: o.connectTimeoutS })) {
    if (v !== undefined && !(v > 0)) throw botsUsageError(`${k} must be positive.`);
  }
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1)) throw botsUsageError('--workers must be a positive integer.');
}

/** Bots started per second: --ramp, else the mode's default. */
export function rampPerSecond(o: Pick<BotsOptions, 'mode' | 'rampPerSecond'>): number {
  return o.rampPerSecond ?? (o.mode === 'signal' ? BOTS_DEFAULTS.rampSignal : BOTS_DEFAULTS.rampMedia);
}
