/**
 * Named network profiles (the README's "Network lab" table) and the parser of
 * `custom:rtt=120ms,jitter=15ms,loss=2%,up=500kbit,down=2mbit`. Pure TypeScript.
 *
 * Every number describes the link of one participant, as that participant sees it: `rttMs` is
 * the round trip it adds (half on each direction), `jitterMs` the standard deviation of the
 * one-way delay in each direction, `lossPercent` the random loss in each direction, `upKbps`
 * and `downKbps` the rate of its uplink and downlink (null: unlimited).
 */
import { labError } from './errors.js';

/** One participant's link. */
export interface NetworkProfile {
  name: string;
  /** Round-trip time added by the link, ms (split evenly between the two directions). */
  rttMs: number;
  /** Standard deviation of the one-way delay in each direction, ms. */
  jitterMs: number;
  /** Random loss in each direction, percent. */
  lossPercent: number;
  /** Uplink rate (participant to server), kbit/s; null: unlimited. */
  upKbps: number | null;
  /** Downlink rate (server to participant), kbit/s; null: unlimited. */
  downKbps: number | null;
  /** Packets that overtake their predecessors, percent (0: the link keeps order, as most access links do). */
  reorderPercent: number;
  /** The bottleneck queue holds at most this many ms of data at the link rate, and at least 64 KB; more is dropped (drop-tail). */
  queueMs: number;
}

/** Queue of an access link's bottleneck: 200 ms at its rate (a typical modem/eNodeB buffer). */
const DEFAULT_QUEUE_MS = 200;

function profile(name: string, rttMs: number, jitterMs: number, lossPercent: number, upKbps: number | null, downKbps: number | null): NetworkProfile {
  return { name, rttMs, jitterMs, lossPercent, upKbps, downKbps, reorderPercent: 0, queueMs: DEFAULT_QUEUE_MS };
}

/** The named profiles, in the README's order. */
export const NETWORK_PROFILES = {
  good: profile('good', 20, 0, 0, null, null),
  '4g': profile('4g', 45, 5, 0.2, 5000, 20000),
  '3g': profile('3g', 250, 20, 0.5, 750, 1500),
  'low-upload': profile('low-upload', 60, 10, 0.5, 300, 5000),
  'lossy-5': profile('lossy-5', 40, 5, 5, null, null),
  'lossy-10': profile('lossy-10', 40, 5, 10, null, null),
  'high-latency': profile('high-latency', 500, 10, 0, null, null),
  satellite: profile('satellite', 600, 30, 1, 2000, 10000),
} as const satisfies Record<string, NetworkProfile>;

/** A profile name of {@link NETWORK_PROFILES}. */
export type NetworkProfileName = keyof typeof NETWORK_PROFILES;

/** The names, for help texts and errors. */
export const NETWORK_PROFILE_NAMES = Object.keys(NETWORK_PROFILES) as NetworkProfileName[];

const CUSTOM_KEYS = ['rtt', 'jitter', 'loss', 'up', 'down', 'reorder', 'queue'] as const;

function bad(part: string, why: string): never {
  throw labError('CHZ_ERR_LAB_PROFILE', `Bad network profile part "${part}": ${why}.`);
}

/** `120ms`, `0.5s`, `120` (ms). */
function parseMs(part: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/i.exec(v);
  if (!m) bad(part, 'expected a duration such as 120ms or 0.5s');
  const n = Number(m[1]) * (m[2]?.toLowerCase() === 's' ? 1000 : 1);
  if (n > 10_000) bad(part, 'at most 10 s');
  return n;
}

/** `2%`, `2` (percent), 0..100. */
function parsePercent(part: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(v);
  if (!m) bad(part, 'expected a percentage such as 2%');
  const n = Number(m[1]);
  if (n > 100) bad(part, 'at most 100%');
  return n;
}

/** `500kbit`, `2mbit`, `1.5Mbit`, `64000bit`, `unlimited`; kbit/s or null. */
function parseRate(part: string, v: string): number | null {
  if (/^(unlimited|none|0)$/i.test(v)) return null;
  const m = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)(?:\/s|ps)?$/i.exec(v);
  if (!m) bad(part, 'expected a rate such as 500kbit or 2mbit (or unlimited)');
  const mult = { bit: 0.001, kbit: 1, mbit: 1000, gbit: 1_000_000 }[m[2]!.toLowerCase() as 'bit' | 'kbit' | 'mbit' | 'gbit'];
  const kbps = Number(m[1]) * mult;
  if (kbps < 8) bad(part, 'at least 8kbit (one packet a second)');
  return kbps;
}

/**
 * A profile by name (`3g`) or `custom:key=value,...` (keys rtt, jitter, loss, up, down,
 * reorder, queue; missing keys are 0 / unlimited, queue 200 ms). Throws `CHZ_ERR_LAB_PROFILE`
 * naming the part that does not parse.
 */
export function parseNetworkProfile(spec: string): NetworkProfile {
  const s = spec.trim();
  if (Object.hasOwn(NETWORK_PROFILES, s)) return { ...NETWORK_PROFILES[s as NetworkProfileName] };
  if (!s.toLowerCase().startsWith('custom:')) {
    throw labError('CHZ_ERR_LAB_PROFILE', `Unknown network profile "${s}": use one of ${NETWORK_PROFILE_NAMES.join(', ')} or custom:rtt=120ms,jitter=15ms,loss=2%,up=500kbit,down=2mbit.`);
  }
  const p: NetworkProfile = { name: s, rttMs: 0, jitterMs: 0, lossPercent: 0, upKbps: null, downKbps: null, reorderPercent: 0, queueMs: DEFAULT_QUEUE_MS };
  const body = s.slice('custom:'.length);
  if (!body) bad(s, 'custom: needs at least one key=value (rtt, jitter, loss, up, down, reorder, queue)');
  const seen = new Set<string>();
  for (const part of body.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) bad(part, 'expected key=value');
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (!(CUSTOM_KEYS as readonly string[]).includes(key)) bad(part, `unknown key "${key}" (use ${CUSTOM_KEYS.join(', ')})`);
    if (seen.has(key)) bad(part, `"${key}" given twice`);
    seen.add(key);
    switch (key as (typeof CUSTOM_KEYS)[number]) {
      case 'rtt': p.rttMs = parseMs(part, value); break;
      case 'jitter': p.jitterMs = parseMs(part, value); break;
      case 'loss': p.lossPercent = parsePercent(part, value); break;
      case 'up': p.upKbps = parseRate(part, value); break;
      case 'down': p.downKbps = parseRate(part, value); break;
      case 'reorder': p.reorderPercent = parsePercent(part, value); break;
      case 'queue': p.queueMs = parseMs(part, value); if (p.queueMs < 1) bad(part, 'at least 1ms'); break;
    }
  }
  return p;
}
