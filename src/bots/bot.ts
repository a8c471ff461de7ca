/**
 * One load bot: an explicit state machine over a {@link BotConnection} and, per partner, a
 * {@link Link} (a fake exchange in signal mode, a werift call in media mode). It timestamps
 * each phase (signal, match, ice, dtls, connect, media) and reports them, and every failed
 * attempt with its phase and code, to its {@link BotHost}; it never prints.
 */
import type { RTCCertificate, RTCPeerConnectionConfig } from 'werift';
import { ChatzyoError, type IceServer, type ServerMessage, type ServerMessageOf, type ClientMessageOf } from '../protocol/index.js';
import { isCrossedSkip, isFatalServerError } from '../protocol/client/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import type { IpFamily } from '../peer/index.js';
import { BotConnection, type OpenFailure } from './connection.js';
import type { BotErrorCode } from './errors.js';
import { ExchangeLink, MediaLink, type Link, type Phase, type ReceiveTotals } from './links.js';
import type { MediaFeed } from './media-feed.js';
import type { NetworkProfile } from '../lab/profiles.js';
import type { BotLab } from './quality.js';

/** States of a bot. `failed` and `ended` are final unless the bot re-joins after a failure. */
export const BOT_STATES = ['pending', 'signaling', 'ready', 'queued', 'matched', 'connected', 'streaming', 'failed', 'ended'] as const;
/** One of {@link BOT_STATES}. */
export type BotState = (typeof BOT_STATES)[number];

/** The allowed moves of a {@link Bot} (`queued` to itself: Next re-queues a queued bot's attempt). */
export const BOT_TRANSITIONS: TransitionTable<BotState> = {
  pending: ['signaling', 'ended'],
  signaling: ['ready', 'queued', 'failed', 'ended'],
  ready: ['queued', 'matched', 'failed', 'ended'],
  queued: ['matched', 'ready', 'queued', 'failed', 'ended'],
  matched: ['connected', 'ready', 'queued', 'failed', 'ended'],
  connected: ['streaming', 'ready', 'queued', 'failed', 'ended'],
  streaming: ['ready', 'queued', 'failed', 'ended'],
  failed: ['ready', 'queued', 'ended'],
  ended: [],
};

/** What a bot looks for. Private pairs hand the code from the creator to the joiner. */
type BotTarget =
  | { kind: 'hub'; hub: string; interests?: string[] }
  | { kind: 'private-create'; partner: number }
  | { kind: 'private-join'; partner: number };

/** One bot of a run. */
export interface BotPlan {
  id: number;
  server: string;
  target: BotTarget;
  /** When to start, ms after the run's start (the ramp). */
  startAtMs: number;
}

/** Settings shared by every bot of a run. */
export interface BotSettings {
  mode: 'signal' | 'media';
  /** After a failure, a partner leaving or Next: join again (runs with --duration, demo bots). Otherwise the bot ends. */
  rejoin: boolean;
  /** The offerer presses Next this long after each connection (--next-every). */
  nextEveryMs: number | null;
  /** 0: wait for a partner forever. */
  matchTimeoutMs: number;
  /** From the match to connected (and media, in media mode). */
  connectTimeoutMs: number;
  /** Media mode: a bot has finished once it received media this long. */
  holdMs: number;
  relayOnly: boolean;
  /** Reach the server and gather candidates over this IP family only (default: both). */
  ipFamily?: IpFamily;
  /** Join only when told to ({@link Bot.join}); demo bots are dispatched to hubs one at a time. */
  manualJoin?: boolean;
  /** Chat: greet the partner when the chat opens, echo what they write (demo bots). */
  chat?: { greeting?: string; echo?: boolean };
  /** PEM certificate to trust for the server (demo bots: their own server's, maybe self-signed); see `pinnedTls`. */
  trustCert?: string;
  /** CA certificates for wss:// (`bots --ca`: Node's roots, NODE_EXTRA_CA_CERTS and the file). */
  ca?: string[];
  /** Media mode: calls go through the lab's impairment relay with this profile (`bots --network`; relay-only). */
  network?: NetworkProfile;
}

/** The kinds of timings a bot reports (ms). `connect`: match to connected; `media`: match to the first video. */
export type SampleKind = 'signal' | 'match' | 'ice' | 'dtls' | 'connect' | 'media';

/** The end of one attempt. */
export type AttemptOutcome = { ok: true } | { ok: false; phase: Phase; code: BotErrorCode; message: string };

/** Where a bot reports, and what it borrows (media feed, certificate). */
export interface BotHost {
  /** Media mode: the feed for this bot's calls. */
  feed(bot: Bot): MediaFeed;
  readonly certificate?: RTCCertificate;
  readonly peerConfig?: Partial<RTCPeerConnectionConfig>;
  /** Media mode: the network lab and call-quality watches of this thread (quality.ts). */
  readonly lab?: BotLab | null;
  now(): number;
  state(bot: Bot, from: BotState, to: BotState): void;
  sample(kind: SampleKind, ms: number): void;
  attempt(bot: Bot, outcome: AttemptOutcome): void;
  matched(bot: Bot, role: 'offerer' | 'answerer'): void;
  /** An `error` frame, or the code a refusal carried. */
  serverError(code: string): void;
  /** The signaling socket dropped while the bot was running. */
  lost(bot: Bot, info: { code: number; serverCode: string | null }): void;
  /** The bot has done what a settling run waits for (connected, and held media in media mode). */
  finished(bot: Bot): void;
  /** A private-call creator has a code for its partner bot. */
  privateCode(bot: Bot, partner: number, code: string): void;
  /** A manually dispatched bot is ready for a hub (demo bots). */
  idle(bot: Bot): void;
  warning(message: string): void;
}

/** Adds one call's receive totals and media time into `into`. */
function addReceived(into: ReceiveTotals & { mediaMs: number }, r: ReceiveTotals, mediaMs: number): void {
  into.videoBytes += r.videoBytes;
  into.audioBytes += r.audioBytes;
  into.packets += r.packets;
  into.lost += r.lost;
  into.frames += r.frames;
  into.keyframes += r.keyframes;
  into.mediaMs += mediaMs;
}

/** A load bot. */
export class Bot {
  readonly id: number;
  readonly #machine: StateMachine<BotState>;
  #conn: BotConnection | null = null;
  #link: Link | null = null;
  #role: 'offerer' | 'answerer' | null = null;
  #hub: string | null = null;
  #joinAt = 0;
  #matchedAt = 0;
  #mediaAt = 0;
  /** The current attempt has succeeded (its failure can no longer be counted). */
  #succeeded = false;
  #inAttempt = false;
  #finished = false;
  #stopping = false;
  #pendingCode: string | null = null;
  #awaitingCode = false;
  #timers = { match: null as NodeJS.Timeout | null, connect: null as NodeJS.Timeout | null, next: null as NodeJS.Timeout | null, hold: null as NodeJS.Timeout | null, retry: null as NodeJS.Timeout | null };
  /** Totals of calls already closed. */
  readonly #recv: ReceiveTotals & { mediaMs: number } = { videoBytes: 0, audioBytes: 0, packets: 0, lost: 0, frames: 0, keyframes: 0, mediaMs: 0 };
  matches = 0;
  successes = 0;
  failures = 0;
  signalsSent = 0;
  signalsReceived = 0;

  constructor(readonly plan: BotPlan, readonly settings: BotSettings, readonly host: BotHost) {
    this.id = plan.id;
    this.#machine = new StateMachine<BotState>(`Bot ${plan.id}`, BOT_TRANSITIONS, 'pending', 'CHZ_ERR_BOT_STATE');
  }

  get state(): BotState { return this.#machine.state; }
  /** The hub this bot waits or talks in. */
  get hub(): string | null { return this.#hub; }
  get finished(): boolean { return this.#finished; }
  get link(): Link | null { return this.#link; }
  /** True once the bot is done for a settling run: finished, or failed/ended for good. */
  get settled(): boolean { return this.#finished || this.state === 'ended' || (this.state === 'failed' && !this.#canRejoin()); }

  /** Moves the state machine (CHZ_ERR_BOT_STATE on a move its table does not allow) and tells the host. */
  #to(next: BotState): void {
    const from = this.#machine.to(next);
    if (from !== next) this.host.state(this, from, next);
  }

  #canRejoin(): boolean {
    return this.settings.rejoin && !this.#stopping && !!this.#conn?.open;
  }

  /** Opens the signaling connection, then joins (unless joins are dispatched by hand). */
  async start(): Promise<void> {
    if (this.state !== 'pending') throw new ChatzyoError('CHZ_ERR_BOT_STATE', `Bot.start() needs state pending, not ${this.state}`);
    if (this.#stopping) return;
    this.#to('signaling');
    const t0 = this.host.now();
    let conn: BotConnection;
    try {
      conn = await BotConnection.open(this.plan.server, { timeoutMs: this.settings.connectTimeoutMs, family: this.settings.ipFamily, trustCert: this.settings.trustCert, ca: this.settings.ca });
    } catch (err) {
      const e = err as OpenFailure;
      if (this.#stopping) { this.#to('ended'); return; }
      if (e.serverCode) this.host.serverError(e.serverCode);
      this.failures++;
      this.host.attempt(this, { ok: false, phase: 'signal', code: e.code === 'CHZ_ERR_BOT_REJECTED' ? 'CHZ_ERR_BOT_REJECTED' : 'CHZ_ERR_BOT_SIGNAL_FAILED', message: e.message });
      this.#to('failed');
      return;
    }
    if (this.#stopping) {
      this.#to('ended');
      await conn.close();
      return;
    }
    this.#conn = conn;
    this.host.sample('signal', this.host.now() - t0);
    conn.on('message', (m) => {
      try {
        this.#onMessage(m);
      } catch (err) {
        this.host.warning(`bot ${this.id}: internal error on "${m.type}": ${(err as Error).stack ?? String(err)}`);
      }
    });
    conn.on('lost', (info) => this.#onLost(info));
    // A close between the welcome and this line was emitted to no one: treat it as lost now.
    if (!conn.open) { this.#onLost({ code: 1006, reason: 'closed right after the welcome', serverCode: null, announced: false }); return; }
    if (this.settings.relayOnly && !conn.welcome.turn) {
      this.host.warning('--relay-only but the server announces no TURN server: no call can connect.');
    }
    if (this.settings.manualJoin) {
      this.#to('ready');
      this.host.idle(this);
      return;
    }
    this.join();
  }

  /** Starts an attempt: joins the hub (or the private call). `hub` overrides the plan's (demo bots). */
  join(hub?: string): void {
    const conn = this.#conn;
    if (!conn?.open || this.#stopping) return;
    const t = this.plan.target;
    this.#joinAt = this.host.now();
    this.#joinRetries = 0;
    this.#inAttempt = true;
    this.#succeeded = false;
    this.#armMatchTimer();
    if (t.kind === 'hub') {
      this.#hub = hub ?? t.hub;
      conn.send(this.#joinMessage(this.#hub));
    } else if (t.kind === 'private-create') {
      conn.send({ type: 'private-create' });
    } else if (this.#pendingCode) {
      conn.send({ type: 'private-join', code: this.#pendingCode });
      this.#pendingCode = null;
    } else {
      this.#awaitingCode = true;
    }
    this.#to('queued');
  }

  /** The partner bot's private call code (private-join bots). */
  receiveCode(code: string): void {
    if (this.#awaitingCode && this.#conn?.open && this.state === 'queued') {
      this.#awaitingCode = false;
      this.#conn.send({ type: 'private-join', code });
    } else {
      this.#pendingCode = code;
    }
  }

  /** Joins tried again in this attempt after CHZ_ERR_UNAVAILABLE (the wait doubles each time). */
  #joinRetries = 0;

  #retryJoinSoon(): void {
    this.#clear('retry');
    // 0.5, 1, 2, 4 s: a server whose Redis stays away counts every refused message as an error.
    const wait = Math.min(4000, 500 * 2 ** this.#joinRetries++);
    this.#timers.retry = setTimeout(() => {
      this.#timers.retry = null;
      const conn = this.#conn;
      const hub = this.#hub;
      if (!conn?.open || this.#stopping || this.state !== 'queued' || this.plan.target.kind !== 'hub' || !hub) return;
      conn.send({ type: 'leave' });
      conn.send(this.#joinMessage(hub));
    }, wait);
  }

  /** The `join` for `hub`, with the plan's interests. */
  #joinMessage(hub: string): ClientMessageOf<'join'> {
    const t = this.plan.target;
    const interests = t.kind === 'hub' ? t.interests : undefined;
    return { type: 'join', hub, ...(interests?.length ? { interests } : {}) };
  }

  #armMatchTimer(): void {
    this.#clear('match');
    const ms = this.settings.matchTimeoutMs;
    if (ms > 0) {
      this.#timers.match = setTimeout(() => this.#fail('match', 'CHZ_ERR_BOT_MATCH_TIMEOUT', `no partner within ${ms} ms`, false), ms);
    }
  }

  #clear(name: 'match' | 'connect' | 'next' | 'hold' | 'retry'): void {
    const t = this.#timers[name];
    if (t) clearTimeout(t);
    this.#timers[name] = null;
  }

  #onMessage(m: ServerMessage): void {
    if (this.#stopping) {
      // What the server sent while we were leaving still counts (the server counted it too).
      if (m.type === 'matched') { this.matches++; this.host.matched(this, m.role); }
      if (m.type === 'signal') this.signalsReceived++;
      return;
    }
    switch (m.type) {
      case 'private-created': {
        const t = this.plan.target;
        if (t.kind === 'private-create') this.host.privateCode(this, t.partner, m.code);
        return;
      }
      case 'matched':
        this.#onMatched(m);
        return;
      case 'signal':
        this.signalsReceived++;
        if (this.#link && this.#link.matchId === m.matchId) this.#link.handleSignal(m.data);
        return;
      case 'partner-left':
        if (this.#link && this.#link.matchId === m.matchId) this.#onPartnerLeft();
        return;
      case 'error':
        this.host.serverError(m.code);
        if (isCrossedSkip(m) && this.state === 'queued') {
          this.join(); // our Next crossed the partner's leave: the server left us in no queue
          return;
        }
        if (m.code === 'CHZ_ERR_UNAVAILABLE' && this.state === 'queued' && this.#inAttempt && (m.ref === 'join' || m.ref === 'next')) {
          // The server could not reach its store (Redis restarting or paused): it queued us
          // nowhere. Leave whatever the server still holds and join again soon; the match timer
          // still bounds the attempt.
          this.#retryJoinSoon();
          return;
        }
        if (isFatalServerError(m.code) && this.#inAttempt && !this.#succeeded) {
          this.#fail(this.state === 'queued' ? 'match' : (this.#link?.pendingPhase() ?? 'match'), 'CHZ_ERR_BOT_SERVER_ERROR', `${m.code}: ${m.message}`, false, m.code === 'CHZ_ERR_UNKNOWN_HUB');
        }
        return;
      default:
        return;
    }
  }

  #onMatched(m: ServerMessageOf<'matched'>): void {
    if (this.state === 'failed' || this.state === 'ended') return; // a match that crossed our leave
    this.#clear('match');
    if (this.#link) this.#closeLink();
    const now = this.host.now();
    if (this.#inAttempt) this.host.sample('match', now - this.#joinAt);
    this.#inAttempt = true;
    this.#succeeded = false;
    this.#awaitingCode = false;
    this.matches++;
    this.#role = m.role;
    this.#matchedAt = now;
    this.#mediaAt = 0;
    this.host.matched(this, m.role);
    this.#to('matched');
    const send = (data: Parameters<Link['handleSignal']>[0]) => {
      if (this.#link === link) { this.signalsSent++; this.#conn?.send({ type: 'signal', matchId: m.matchId, data }); }
    };
    const link: Link = this.settings.mode === 'signal'
      ? new ExchangeLink(m.matchId, m.role, send)
      : new MediaLink({
        matchId: m.matchId, role: m.role, iceServers: this.#iceServers(m.iceServers ?? this.#conn!.welcome.iceServers), relayOnly: this.settings.relayOnly || !!this.host.lab?.shaped,
        ipFamily: this.settings.ipFamily, certificate: this.host.certificate, sendSignal: send, matchedAt: now, feed: this.host.feed(this), peerConfig: this.host.peerConfig,
      });
    this.#link = link;
    if (link instanceof MediaLink) this.host.lab?.watch(this.id, link.call, () => link.adaptation());
    const since = () => this.host.now() - this.#matchedAt;
    link.on('ice', () => { if (this.#link === link) this.host.sample('ice', since()); });
    link.on('dtls', () => { if (this.#link === link) this.host.sample('dtls', since()); });
    link.on('connected', () => {
      if (this.#link !== link) return;
      this.host.sample('connect', since());
      this.#to('connected');
      if (this.settings.mode === 'signal') this.#succeed();
    });
    link.on('media', () => {
      if (this.#link !== link) return;
      this.#mediaAt = this.host.now();
      this.host.sample('media', since());
      this.#to('streaming');
      this.#succeed();
    });
    link.on('failed', (reason) => { if (this.#link === link) this.#fail(link.pendingPhase(), 'CHZ_ERR_BOT_ICE_FAILED', reason, false); });
    const chat = this.settings.chat;
    if (chat?.greeting) link.on('chat-open', () => { if (this.#link === link) link.sendChat(chat.greeting!); });
    if (chat?.echo) link.on('chat', (text) => { if (this.#link === link) link.sendChat(`echo: ${text}`); });
    const ms = this.settings.connectTimeoutMs;
    this.#timers.connect = setTimeout(() => {
      if (this.#link !== link || this.#succeeded) return;
      const phase = link.pendingPhase();
      this.#fail(phase, phase === 'media' ? 'CHZ_ERR_BOT_NO_MEDIA' : 'CHZ_ERR_BOT_CONNECT_TIMEOUT', `${phase} not done within ${ms} ms of the match`, false);
    }, ms);
    link.start();
  }

  #succeed(): void {
    if (this.#succeeded) return;
    this.#succeeded = true;
    this.#inAttempt = false;
    this.#clear('connect');
    this.successes++;
    this.host.attempt(this, { ok: true });
    const every = this.settings.nextEveryMs;
    if (every && this.#role === 'offerer') {
      const link = this.#link;
      // ±10% jitter, so pairs that connected together do not all press Next in the same instant.
      this.#timers.next = setTimeout(() => { if (this.#link === link) this.#pressNext(); }, every * (0.9 + Math.random() * 0.2));
    }
    if (!this.#finished) {
      if (this.settings.mode === 'signal' || this.settings.holdMs <= 0) this.#finish();
      else this.#timers.hold = setTimeout(() => this.#finish(), this.settings.holdMs);
    }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.host.finished(this);
  }

  #pressNext(): void {
    const conn = this.#conn;
    if (!conn?.open) return;
    this.#closeLink();
    if (this.plan.target.kind === 'hub') {
      // Next ends the match and puts us back in the hub's queue on the server.
      conn.send({ type: 'next' });
      this.#joinAt = this.host.now();
      this.#inAttempt = true;
      this.#succeeded = false;
      this.#armMatchTimer();
      this.#to('queued');
    } else {
      // In a private call Next is the same as leave: make a new call.
      conn.send({ type: 'leave' });
      this.#to('ready');
      this.join();
    }
  }

  #onPartnerLeft(): void {
    this.#clear('next');
    if (!this.#succeeded) {
      this.#fail(this.#link?.pendingPhase() ?? 'match', 'CHZ_ERR_BOT_PARTNER_LEFT', 'the partner left before the call was connected', true);
      return;
    }
    // The server put us back in the ready state.
    this.#closeLink();
    this.#inAttempt = false;
    this.#afterCall(true);
  }

  /** After a call (or a failed attempt): join again, wait to be dispatched, or end. */
  #afterCall(serverReady: boolean): void {
    const conn = this.#conn;
    if (this.#canRejoin()) {
      if (!serverReady) conn!.send({ type: 'leave' });
      if (this.settings.manualJoin) {
        this.#to('ready');
        this.host.idle(this);
      } else {
        this.#to('ready');
        this.join(this.#hub ?? undefined);
      }
      return;
    }
    if (this.state !== 'failed') {
      this.#finish();
      this.#to('ended');
    }
    void this.#closeConnection(!serverReady);
  }

  /**
   * The current attempt failed in `phase`. `serverReady`: the server already made us ready
   * (the partner left), so there is nothing to leave. `final`: never join again.
   */
  #fail(phase: Phase, code: BotErrorCode, message: string, serverReady: boolean, final = false): void {
    if (this.#stopping || !this.#inAttempt) return;
    for (const k of ['match', 'connect', 'next', 'hold', 'retry'] as const) this.#clear(k);
    this.#inAttempt = false;
    this.failures++;
    this.host.attempt(this, { ok: false, phase, code, message });
    this.#closeLink();
    this.#to('failed');
    if (final) {
      void this.#closeConnection(!serverReady);
      return;
    }
    this.#afterCall(serverReady);
  }

  #onLost(info: { code: number; reason: string; serverCode: string | null; announced: boolean }): void {
    if (this.#stopping) return;
    this.host.lost(this, { code: info.code, serverCode: info.serverCode });
    if (info.serverCode && !info.announced) this.host.serverError(info.serverCode);
    for (const k of ['match', 'connect', 'next', 'hold', 'retry'] as const) this.#clear(k);
    const failing = this.#inAttempt && !this.#succeeded && ['queued', 'matched', 'connected'].includes(this.state);
    if (failing) {
      const phase: Phase = this.state === 'queued' ? 'match' : (this.#link?.pendingPhase() ?? 'match');
      this.#inAttempt = false;
      this.failures++;
      this.host.attempt(this, { ok: false, phase, code: 'CHZ_ERR_BOT_SERVER_LOST', message: `the signaling connection closed (${info.code}${info.serverCode ? ` ${info.serverCode}` : ''}) during ${phase}` });
    }
    this.#closeLink();
    if (this.state !== 'failed') this.#to(failing ? 'failed' : 'ended');
    this.#conn = null;
  }

  /** The match's ICE servers; behind a --network profile, TURN through the lab's relay. */
  #iceServers(servers: IceServer[]): IceServer[] {
    return this.host.lab ? this.host.lab.iceServers(servers) : servers;
  }

  #closeLink(): void {
    const link = this.#link;
    if (!link) return;
    this.#link = null;
    this.#clear('connect');
    this.#clear('next');
    this.#addReceived(link, this.host.now());
    void link.close().catch(() => { /* closing anyway */ });
  }

  #addReceived(link: Link, now: number): void {
    addReceived(this.#recv, link.received(), this.#mediaAt ? now - this.#mediaAt : 0);
    this.#mediaAt = 0;
  }

  /** What this bot received so far, the current call included. */
  received(now = this.host.now()): ReceiveTotals & { mediaMs: number } {
    const out = { ...this.#recv };
    if (this.#link) addReceived(out, this.#link.received(), this.#mediaAt ? now - this.#mediaAt : 0);
    return out;
  }

  async #closeConnection(leave: boolean): Promise<void> {
    const conn = this.#conn;
    this.#conn = null;
    if (!conn) return;
    if (leave && conn.open) conn.send({ type: 'leave' });
    await conn.close();
  }

  /**
   * Ends the bot: leave, close the call and the socket. A bot that never started stays `pending`.
   * `serverLost`: the run ends because this bot's server went away, so an attempt still running
   * failed in its phase even if the socket's close has not reached the bot yet. Idempotent.
   */
  async stop(opts: { serverLost?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    if (opts.serverLost) this.#failOnStop();
    this.#stopping = true;
    for (const k of ['match', 'connect', 'next', 'hold', 'retry'] as const) this.#clear(k);
    const link = this.#link;
    if (link) {
      this.#link = null;
      this.#addReceived(link, this.host.now());
    }
    const inCallOrQueue = ['queued', 'matched', 'connected', 'streaming'].includes(this.state);
    if (this.state !== 'pending' && this.state !== 'failed' && this.state !== 'ended' && this.state !== 'signaling') this.#to('ended');
    await Promise.all([link?.close().catch(() => {}), this.#closeConnection(inCallOrQueue)]);
  }

  #failOnStop(): void {
    const message = 'the server went away during this phase';
    if (this.state === 'signaling') {
      this.failures++;
      this.host.attempt(this, { ok: false, phase: 'signal', code: 'CHZ_ERR_BOT_SERVER_LOST', message });
      return;
    }
    if (!this.#inAttempt || this.#succeeded || !['queued', 'matched', 'connected'].includes(this.state)) return;
    const phase: Phase = this.state === 'queued' ? 'match' : (this.#link?.pendingPhase() ?? 'match');
    this.#inAttempt = false;
    this.failures++;
    this.host.attempt(this, { ok: false, phase, code: 'CHZ_ERR_BOT_SERVER_LOST', message: `${message} (${phase})` });
    this.#to('failed');
  }
}
