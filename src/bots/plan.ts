/**
 * The plan of a bots run, made before anything starts: who each bot is (server, hub or
 * private partner, start time on the ramp), the settings every bot shares, and how many worker
 * threads carry them. Pure: the same options give the same plan.
 */
import os from 'node:os';
import type { BotPlan, BotSettings } from './bot.js';
import { BOTS_DEFAULTS, rampPerSecond, type BotsOptions } from './options.js';
import { parseNetworkProfile } from '../lab/profiles.js';

/** Who each bot is: server, target and start time (pairs are adjacent ids and share a worker). */
export function planBots(o: BotsOptions): BotPlan[] {
  const rooms = o.rooms?.length ? o.rooms : [...BOTS_DEFAULTS.rooms];
  const ramp = rampPerSecond(o);
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
    ...(o.ipFamily ? { ipFamily: o.ipFamily } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.network ? { network: parseNetworkProfile(o.network) } : {}),
  };
}

/**
 * Worker threads: --workers, else one per core but no more than one per 10 media pairs (or 500
 * signal bots): each thread has a fixed cost (its own werift timers, GC), which a small run
 * pays for nothing. Never more threads than pairs.
 */
export function workerCount(o: BotsOptions): number {
  const useful = o.mode === 'media' ? Math.ceil(o.count / 20) : Math.ceil(o.count / 500);
  return Math.max(1, Math.min(o.workers ?? Math.min(os.availableParallelism(), useful), Math.ceil(o.count / 2)));
}

/** The bots of each worker: a pair (adjacent ids) always shares a thread, pairs go round-robin. */
export function botsByWorker(plans: readonly BotPlan[], workers: number): BotPlan[][] {
  const byWorker: BotPlan[][] = Array.from({ length: workers }, () => []);
  for (const p of plans) byWorker[Math.floor(p.id / 2) % workers]!.push(p);
  return byWorker;
}
