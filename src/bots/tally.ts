/**
 * How a bots run adds up, in one place for both ends of the worker boundary: a worker counts
 * its bots and collects what happened since its last tick ({@link TickTally}); the controller
 * adds the workers' counts together and folds each tick into the run's totals
 * ({@link addBotCounts}, {@link RunTally}). The summary counts the final bot reports with the
 * same {@link countBots}.
 */
import { BOT_STATES, type BotState, type SampleKind } from './bot.js';
import { PHASES, type Phase } from './links.js';
import { noFailures } from './stats.js';

/** Every kind of timing sample, in the order a bot's attempt measures them. */
const SAMPLE_KINDS: readonly SampleKind[] = ['signal', 'match', 'ice', 'dtls', 'connect', 'media'];

/** An empty list per sample kind. */
function emptySamples(): Record<SampleKind, number[]> {
  return Object.fromEntries(SAMPLE_KINDS.map((k) => [k, []])) as unknown as Record<SampleKind, number[]>;
}

/** Zero bots in every state. */
export function noStates(): Record<BotState, number> {
  return Object.fromEntries(BOT_STATES.map((s) => [s, 0])) as Record<BotState, number>;
}

/** Adds `n` to `record[key]`. */
function bump(record: Record<string, number>, key: string, n = 1): void {
  record[key] = (record[key] ?? 0) + n;
}

/** What a bot says about itself, as far as the counts need it (a live bot or its final report). */
export interface CountedBot {
  matches: number;
  successes: number;
  settled?: boolean;
  signalsSent?: number;
  signalsReceived?: number;
}

/** Counts of a set of bots now (not deltas): one worker's bots, or every worker's added up. */
export interface BotCounts {
  started: number;
  states: Record<BotState, number>;
  settled: number;
  /** Bots matched at least once. */
  matchedBots: number;
  /** Bots that made at least one successful attempt. */
  connectedBots: number;
  signalsSent: number;
  signalsReceived: number;
  /** CPU of the ffmpeg children, ms. */
  childCpuMs: number;
}

/** The part of {@link BotCounts} read off the bots themselves. */
export function countBots(bots: Iterable<CountedBot>): Pick<BotCounts, 'settled' | 'matchedBots' | 'connectedBots' | 'signalsSent' | 'signalsReceived'> {
  const c = { settled: 0, matchedBots: 0, connectedBots: 0, signalsSent: 0, signalsReceived: 0 };
  for (const b of bots) {
    if (b.settled) c.settled++;
    if (b.matches > 0) c.matchedBots++;
    if (b.successes > 0) c.connectedBots++;
    c.signalsSent += b.signalsSent ?? 0;
    c.signalsReceived += b.signalsReceived ?? 0;
  }
  return c;
}

/** Counts of no bot at all. */
export function noBotCounts(): BotCounts {
  return { started: 0, states: noStates(), settled: 0, matchedBots: 0, connectedBots: 0, signalsSent: 0, signalsReceived: 0, childCpuMs: 0 };
}

/** Adds `b` into `a` (the controller summing its workers' last ticks) and returns `a`. */
export function addBotCounts(a: BotCounts, b: BotCounts): BotCounts {
  for (const k of BOT_STATES) a.states[k] += b.states[k];
  a.started += b.started;
  a.settled += b.settled;
  a.matchedBots += b.matchedBots;
  a.connectedBots += b.connectedBots;
  a.signalsSent += b.signalsSent;
  a.signalsReceived += b.signalsReceived;
  a.childCpuMs += b.childCpuMs;
  return a;
}

/** A bot's socket dropped: which server, the close code, and the server's error code if it sent one. */
export interface LostSocket {
  server: string;
  code: number;
  serverCode: string | null;
}

/** What happened since a worker's last tick. */
export interface TickDeltas {
  samples: Record<SampleKind, number[]>;
  /** Attempts that succeeded. */
  succeeded: number;
  failures: { phase: Phase; code: string }[];
  /** The first few failure messages, for a person. */
  errors: string[];
  /** Matches made (counted by the offerer). */
  matches: number;
  serverErrors: Record<string, number>;
  lost: LostSocket[];
  warnings: string[];
}

/** Failure messages a worker passes on per tick. */
const ERRORS_PER_TICK = 5;

/** A worker's deltas: recorded as the bots report, taken (and reset) once per tick. */
export class TickTally {
  #d = TickTally.#empty();
  /** Every warning already passed on: each is said once per worker. */
  readonly #warned = new Set<string>();

  static #empty(): TickDeltas {
    return { samples: emptySamples(), succeeded: 0, failures: [], errors: [], matches: 0, serverErrors: {}, lost: [], warnings: [] };
  }

  /** A timing, ms (kept to 0.1 ms). */
  sample(kind: SampleKind, ms: number): void { this.#d.samples[kind].push(Math.round(ms * 10) / 10); }
  /** An attempt succeeded. */
  succeeded(): void { this.#d.succeeded++; }
  /** An attempt failed in `phase`; the first few messages of a tick are passed on. */
  failed(phase: Phase, code: string, message: string): void {
    this.#d.failures.push({ phase, code });
    if (this.#d.errors.length < ERRORS_PER_TICK) this.#d.errors.push(`${phase}: ${code} ${message}`);
  }
  /** A match was made (the offerer reports it, so each counts once). */
  matched(): void { this.#d.matches++; }
  /** The server answered a bot with this error code. */
  serverError(code: string): void { bump(this.#d.serverErrors, code); }
  /** A bot's socket dropped. */
  lost(l: LostSocket): void { this.#d.lost.push(l); }
  /** A warning for a person; each is passed on once per worker. */
  warning(message: string): void {
    if (this.#warned.has(message)) return;
    this.#warned.add(message);
    this.#d.warnings.push(message);
  }

  /** What happened since the last call. */
  take(): TickDeltas {
    const d = this.#d;
    this.#d = TickTally.#empty();
    return d;
  }
}

/** The most recent failure messages the run keeps. */
const ERRORS_KEPT = 20;

/** The run's totals: every worker's ticks folded together. */
export class RunTally {
  readonly samples = emptySamples();
  succeeded = 0;
  readonly failed = noFailures();
  readonly failureCodes: Record<string, number> = {};
  /** The latest failure messages. */
  readonly errors: string[] = [];
  matches = 0;
  readonly serverErrors: Record<string, number> = {};

  /** Folds one tick in. */
  add(d: TickDeltas): void {
    for (const k of SAMPLE_KINDS) for (const v of d.samples[k]) this.samples[k].push(v);
    this.succeeded += d.succeeded;
    for (const f of d.failures) {
      this.failed[f.phase]++;
      bump(this.failureCodes, f.code);
    }
    this.errors.push(...d.errors);
    if (this.errors.length > ERRORS_KEPT) this.errors.splice(0, this.errors.length - ERRORS_KEPT);
    this.matches += d.matches;
    for (const [c, n] of Object.entries(d.serverErrors)) bump(this.serverErrors, c, n);
  }

  /** Failed attempts over every phase. */
  get failedTotal(): number {
    return PHASES.reduce((n, p) => n + this.failed[p], 0);
  }
}
