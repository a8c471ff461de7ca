/**
 * The bots of one worker thread: starts them on the ramp's schedule, lends them the media feed
 * and the DTLS certificate, and batches what they report into one {@link WorkerTick} message
 * every `tickMs` (a thousand bots make one message, not a thousand). Demo bots are dispatched
 * to hubs here, one waiting bot per hub at a time, so they never meet each other.
 */
import type { RTCCertificate } from 'werift';
import { generateCertificate } from '../peer/index.js';
import { Bot, type AttemptOutcome, type BotHost, type BotPlan, type BotSettings, type BotState, type SampleKind } from './bot.js';
import { DEFAULT_CLIP, readClip, type Clip, type ClipSpec } from './clip.js';
import { ClipClock } from './clip-player.js';
import { ClipFeed, EncoderFeed, type MediaFeed } from './media-feed.js';
import type { BotReport } from './stats.js';
import { countBots, noStates, TickTally, type BotCounts, type TickDeltas } from './tally.js';
import { BotLab } from './quality.js';

/** What a worker is asked to run. */
export interface WorkerPlan {
  kind: 'load' | 'demo';
  index: number;
  settings: BotSettings;
  bots: BotPlan[];
  /** Media mode: replay the clip (files made by the controller) or run ffmpeg per bot. */
  media: { source: 'clip' | 'ffmpeg'; clipFiles?: { video: string; audio: string }; clipSpec?: ClipSpec; ffmpegPath?: string } | null;
  /** Demo bots: the hubs to keep one bot waiting in. */
  demoHubs?: string[];
  /** How often to report, ms. */
  tickMs: number;
}

/**
 * What a worker reports every tick: the counts of its bots now, and what happened since the
 * last tick (the deltas; see tally.ts).
 */
export interface WorkerTick extends BotCounts, TickDeltas {
  type: 'tick';
  index: number;
}

/** Messages from a worker. */
export type WorkerMessage =
  | { type: 'ready'; index: number }
  | WorkerTick
  | { type: 'done'; index: number; bots: BotReport[]; childCpuMs: number }
  | { type: 'fatal'; index: number; code: string; message: string };

/** Messages to a worker. */
/** `serverGone`: the run ends because this server went away. */
export type ControllerMessage = { type: 'go'; t0: number } | { type: 'stop'; serverGone?: string };

/**
 * Keeps at most one demo bot waiting per hub: when the waiting bot is matched (with a person,
 * as no other bot waits there), the next idle bot takes its place.
 */
export class DemoDispatcher {
  readonly #idle: Bot[] = [];
  readonly #duty = new Map<string, Bot | null>();

  constructor(readonly hubs: string[]) {
    for (const h of hubs) this.#duty.set(h, null);
  }

  idle(bot: Bot): void {
    for (const [h, b] of this.#duty) if (b === bot) this.#duty.set(h, null);
    if (!this.#idle.includes(bot)) this.#idle.push(bot);
    this.#dispatch();
  }

  matched(bot: Bot): void {
    for (const [h, b] of this.#duty) if (b === bot) this.#duty.set(h, null);
    this.#dispatch();
  }

  gone(bot: Bot): void {
    const i = this.#idle.indexOf(bot);
    if (i >= 0) this.#idle.splice(i, 1);
    this.matched(bot);
  }

  /** Hubs that have a bot waiting now. */
  get covered(): string[] { return [...this.#duty].filter(([, b]) => b !== null).map(([h]) => h); }

  #dispatch(): void {
    for (const [h, b] of this.#duty) {
      if (b !== null) continue;
      const bot = this.#idle.shift();
      if (!bot) return;
      this.#duty.set(h, bot);
      bot.join(h);
    }
  }
}

/** Runs and reports the bots of one thread. */
export class WorkerHost implements BotHost {
  readonly bots: Bot[] = [];
  readonly #byId = new Map<number, Bot>();
  certificate?: RTCCertificate;
  readonly peerConfig = undefined;
  lab: BotLab | null = null;
  #clip: Clip | null = null;
  #clock: ClipClock | null = null;
  #clipFeed: ClipFeed | null = null;
  readonly #feeds = new Map<number, EncoderFeed>();
  #started = 0;
  #startTimer: NodeJS.Timeout | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #stopping: Promise<BotReport[]> | null = null;
  readonly #dispatcher: DemoDispatcher | null;
  readonly #states = noStates();
  readonly #tally = new TickTally();
  #urgent = false;

  constructor(readonly plan: WorkerPlan, readonly post: (m: WorkerMessage) => void) {
    this.#dispatcher = plan.kind === 'demo' ? new DemoDispatcher(plan.demoHubs ?? []) : null;
    for (const p of plan.bots) {
      const bot = new Bot(p, plan.settings, this);
      this.bots.push(bot);
      this.#byId.set(p.id, bot);
    }
    this.#states.pending = this.bots.length;
  }

  /** Reads the clip and makes the DTLS certificate every call of this thread uses. */
  async prepare(): Promise<void> {
    const m = this.plan.media;
    if (!m) return;
    this.certificate = await generateCertificate();
    this.lab = await BotLab.start(this.plan.settings.network);
    if (m.source === 'clip') {
      this.#clip = readClip(m.clipFiles!, m.clipSpec ?? DEFAULT_CLIP);
      this.#clock = new ClipClock();
      this.#clipFeed = new ClipFeed(this.#clock, this.#clip);
    }
  }

  /** Starts the ramp: each bot at `t0 + startAtMs` (t0 from Date.now(), shared by every worker). */
  go(t0: number): void {
    const queue = [...this.bots].sort((a, b) => a.plan.startAtMs - b.plan.startAtMs);
    let i = 0;
    const step = () => {
      if (this.#stopping) return;
      const elapsed = Date.now() - t0;
      while (i < queue.length && queue[i]!.plan.startAtMs <= elapsed) void this.#startBot(queue[i++]!);
      if (i >= queue.length && this.#startTimer) { clearInterval(this.#startTimer); this.#startTimer = null; }
    };
    this.#startTimer = setInterval(step, 5);
    step();
    this.#tickTimer = setInterval(() => this.#tick(), this.plan.tickMs);
  }

  async #startBot(bot: Bot): Promise<void> {
    this.#started++;
    const m = this.plan.media;
    if (m?.source === 'ffmpeg') {
      try {
        const s = m.clipSpec ?? DEFAULT_CLIP;
        const feed = await EncoderFeed.start({
          ffmpegPath: m.ffmpegPath!, width: s.width, height: s.height, fps: s.fps, videoKbps: s.videoKbps, audioKbps: s.audioKbps, keyframeIntervalS: s.keyframeIntervalS,
        });
        if (this.#stopping) { await feed.close(); return; }
        this.#feeds.set(bot.id, feed);
      } catch (err) {
        this.post({ type: 'fatal', index: this.plan.index, code: (err as { code?: string }).code ?? 'CHZ_ERR_FFMPEG_FAILED', message: (err as Error).message });
        return;
      }
    }
    try {
      await bot.start();
    } catch (err) {
      this.warning(`bot ${bot.id} could not start: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ BotHost

  feed(bot: Bot): MediaFeed {
    const f = this.#clipFeed ?? this.#feeds.get(bot.id);
    if (!f) throw new Error(`bot ${bot.id} has no media feed`);
    return f;
  }

  now(): number { return performance.now(); }

  state(_bot: Bot, from: BotState, to: BotState): void {
    this.#states[from]--;
    this.#states[to]++;
    if (this.#dispatcher && (to === 'ended' || (to === 'failed' && !_bot.settings.rejoin))) this.#dispatcher.gone(_bot);
  }

  sample(kind: SampleKind, ms: number): void {
    this.#tally.sample(kind, ms);
  }

  attempt(_bot: Bot, o: AttemptOutcome): void {
    if (o.ok) this.#tally.succeeded();
    else this.#tally.failed(o.phase, o.code, o.message);
  }

  matched(bot: Bot, role: 'offerer' | 'answerer'): void {
    if (role === 'offerer') this.#tally.matched();
    this.#dispatcher?.matched(bot);
  }

  serverError(code: string): void {
    this.#tally.serverError(code);
  }

  lost(bot: Bot, info: { code: number; serverCode: string | null }): void {
    this.#tally.lost({ server: bot.plan.server, ...info });
    // The controller decides at once whether the server is gone.
    if (!this.#urgent) {
      this.#urgent = true;
      setImmediate(() => { this.#urgent = false; this.#tick(); });
    }
  }

  finished(): void { /* counted from the bots at each tick */ }

  privateCode(_bot: Bot, partner: number, code: string): void {
    this.#byId.get(partner)?.receiveCode(code);
  }

  idle(bot: Bot): void {
    this.#dispatcher?.idle(bot);
  }

  warning(message: string): void {
    this.#tally.warning(message);
  }

  // ------------------------------------------------------------------ reporting

  #childCpuMs(): number {
    let n = 0;
    for (const f of this.#feeds.values()) n += f.childCpuMs();
    return n;
  }

  #tick(): void {
    this.post({
      type: 'tick', index: this.plan.index, started: this.#started, states: { ...this.#states }, ...countBots(this.bots),
      childCpuMs: this.#childCpuMs(), ...this.#tally.take(),
    });
  }

  /**
   * Stops every bot (leave, close calls and sockets), sends the last tick and the reports.
   * `serverGone`: bots of that server count a failure in the phase they were in. Idempotent.
   */
  stop(serverGone?: string): Promise<BotReport[]> {
    this.#stopping ??= (async () => {
      if (this.#startTimer) clearInterval(this.#startTimer);
      if (this.#tickTimer) clearInterval(this.#tickTimer);
      const childCpuMs = this.#childCpuMs();
      await Promise.race([
        Promise.all(this.bots.map((b) => b.stop({ serverLost: b.plan.server === serverGone }).catch(() => {}))),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      this.#clock?.close();
      await Promise.all([...this.#feeds.values()].map((f) => f.close().catch(() => {})));
      this.#tick();
      const reports: BotReport[] = this.bots.map((b) => ({
        id: b.id, server: b.plan.server, state: b.state, matches: b.matches, successes: b.successes, failures: b.failures, recv: b.received(),
        ...(this.lab ? { quality: this.lab.quality(b.id) } : {}),
      }));
      await this.lab?.close();
      this.post({ type: 'done', index: this.plan.index, bots: reports, childCpuMs: Math.max(childCpuMs, this.#childCpuMs()) });
      return reports;
    })();
    return this.#stopping;
  }
}
