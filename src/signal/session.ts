/**
 * One connected client on the server: an explicit state machine that decides which messages
 * are allowed now, enforces per-connection limits, and talks to the {@link Matchmaker}.
 */
import type { WebSocket } from 'ws';
import {
  ChatzyoError, closeCodeFor, isWireErrorCode, parseClientFrame, PROTOCOL_VERSION, SUPPORTED_VERSIONS,
  type ClientMessage, type ClientMessageOf, type IceServer, type ParseResult, type ErrorCode, type PartnerLeftReason, type ServerMessage, type SignalData,
} from '../protocol/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import type { Landmark, LandmarkRtts } from '../protocol/index.js';
import type { Matchmaker, MatchNotice } from './matchmaker.js';
import { normaliseInterests } from './matchmaker.js';
import { SlidingWindow, TokenBucket } from './rate-limit.js';
import type { ServerContext } from './context.js';
import { verifyAge } from './age-verifier.js';
import type { Identity } from './safety-store.js';

/** Server-side session states. */
export const SESSION_STATES = ['connected', 'ready', 'queued', 'private-waiting', 'matched', 'closed'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** Allowed transitions; anything else is a bug and throws `CHZ_ERR_SESSION_STATE`. */
export const SESSION_TRANSITIONS: TransitionTable<SessionState> = {
  connected: ['ready', 'closed'],
  ready: ['queued', 'matched', 'private-waiting', 'ready', 'closed'],
  queued: ['ready', 'queued', 'matched', 'closed'],
  'private-waiting': ['ready', 'matched', 'closed'],
  matched: ['ready', 'queued', 'matched', 'closed'],
  closed: [],
};

/** The state machine of one {@link ClientSession}; tests start it in any state. */
export function sessionStateMachine(owner: string, initial: SessionState = 'connected'): StateMachine<SessionState> {
  return new StateMachine(owner, SESSION_TRANSITIONS, initial, 'CHZ_ERR_SESSION_STATE');
}

/** How long, and how many, signals ahead of their "matched" notice are held. */
const EARLY_SIGNAL_MS = 5_000;
/** How long after a match ended its stranger can still be reported (someone who flashes and leaves at once). */
const REPORT_GRACE_MS = 60_000;
const EARLY_SIGNAL_MAX = 32;
/** A client past a limit is closed at most this long after, even while a handler before it is slow, ms. */
const CLOSE_IN_TURN_MS = 1000;

/** Which client messages each state accepts. */
const ALLOWED: Record<SessionState, readonly ClientMessage['type'][]> = {
  connected: ['hello'],
  // A report may name the match that just ended (REPORT_GRACE_MS), so also between calls.
  ready: ['join', 'private-create', 'private-join', 'leave', 'report', 'ping'],
  queued: ['leave', 'report', 'ping'],
  'private-waiting': ['leave', 'report', 'ping'],
  matched: ['signal', 'next', 'leave', 'report', 'ping'],
  closed: [],
};

/** A client connection and its state machine. */
export class ClientSession {
  readonly id: string;
  readonly addressHash: string;
  /** The anonymous id of this client's token (from its hello, or minted for it); null before hello. */
  #anonId: string | null = null;
  /** When the current match reached this client (a report counts only after reportMinCallMs). */
  #matchedAt = 0;
  /** The match before the current one (or the last, between calls), reportable for REPORT_GRACE_MS after it ended. */
  #lastMatch: { matchId: string; partnerId: string; matchedAt: number; endedAt: number; reported: boolean } | null = null;
  /** Reporters on every node can name this client (false while the safety store was unreachable). */
  #registered = false;
  readonly #machine: StateMachine<SessionState>;
  #matchId: string | null = null;
  #partnerId: string | null = null;
  #hub: string | null = null;
  #interests: string[] = [];
  /** Round trips to the landmarks from the last join (pairing.ts); dropped with the session. */
  #rtts: LandmarkRtts | undefined;
  /** The round trips, for choosing the TURN servers nearest this client (never sent to anyone). */
  get rtts(): LandmarkRtts | undefined { return this.#rtts; }
  /** The landmarks this session's welcome listed. */
  #landmarks: Landmark[] = [];
  #chain: Promise<void> = Promise.resolve();
  #alive = true;
  readonly #bucket: TokenBucket;
  readonly #bytes: TokenBucket;
  /** Matches this connection ended (next, leave while matched, report, disconnect), inherited across reconnects. */
  readonly #ended: SlidingWindow;
  readonly #errors: SlidingWindow;
  #version = 0;
  #relayOnly = false;
  #renewTimer: NodeJS.Timeout | null = null;
  #dropTimer: NodeJS.Timeout | null = null;
  #rateStrikes = 0;
  /** Past a limit (rate-limit strikes, too many errors): the close waits its turn, later frames are dropped. */
  #closing = false;
  #closeTimer: NodeJS.Timeout | null = null;
  /**
   * Signals that arrived for a match this client has not been told about yet. With several
   * nodes, a match made by a third node's tick and the partner's first signal travel through
   * different publishers, so the signal can overtake the "matched" notice.
   */
  #early: { matchId: string; data: SignalData; at: number }[] = [];
  readonly #helloTimer: NodeJS.Timeout;
  readonly #mm: Matchmaker;

  /** Set by the heartbeat when this client stopped answering pings (its partner hears "timeout"). */
  timedOut = false;

  /**
   * `reporterNetHash`: the keyed hash of the client's network as reporters are told apart (IPv4
   * address, IPv6 /48; anon-identity.ts `hashReporterNet`); without it the address hash stands in.
   */
  constructor(readonly ws: WebSocket, id: string, addressHash: string, readonly hostHeader: string | undefined, private readonly ctx: ServerContext, readonly reporterNetHash?: string) {
    this.id = id;
    this.addressHash = addressHash;
    this.#machine = sessionStateMachine(`session ${id}`);
    this.#mm = ctx.matchmaker;
    const o = ctx.options;
    this.#bucket = new TokenBucket(o.messagesPerSecond, o.messagesPerSecond * 2);
    // Four frames of burst, so one large offer always passes; sustained, bytesPerSecond.
    this.#bytes = new TokenBucket(o.bytesPerSecond, Math.max(o.bytesPerSecond, 4 * o.maxFrameBytes));
    this.#ended = ctx.adoptEndedMatches(addressHash);
    this.#errors = new SlidingWindow(o.maxErrors, 10_000);
    this.#helloTimer = setTimeout(() => this.fail('CHZ_ERR_HELLO_TIMEOUT'), o.helloTimeoutMs);
    this.#helloTimer.unref();
  }

  get state(): SessionState { return this.#machine.state; }
  get #state(): SessionState { return this.#machine.state; }
  get matchId(): string | null { return this.#matchId; }
  get partnerId(): string | null { return this.#partnerId; }
  get hub(): string | null { return this.#hub; }

  /** Heartbeat bookkeeping: false when the last ping went unanswered. */
  checkAlive(): boolean {
    const alive = this.#alive;
    this.#alive = false;
    return alive;
  }
  markAlive(): void { this.#alive = true; }

  #to(next: SessionState): void {
    this.#machine.to(next);
    if (next !== 'matched') this.#endedMatch();
  }

  /** The current match (if any) is over: it stays reportable for REPORT_GRACE_MS. */
  #endedMatch(): void {
    if (this.#matchId !== null && this.#partnerId !== null) {
      this.#lastMatch = { matchId: this.#matchId, partnerId: this.#partnerId, matchedAt: this.#matchedAt, endedAt: Date.now(), reported: false };
    }
    this.#matchId = null;
    this.#partnerId = null;
  }

  /** Sends a server message if the socket is open (see {@link sendText}). */
  send(msg: ServerMessage): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.sendText(JSON.stringify(msg));
  }

  /**
   * Sends one encoded frame, unless that would queue more than `maxBufferedBytes` toward a
   * client that is not reading: then the client is dropped (4006), so a stalled reader cannot
   * grow the server's memory.
   */
  sendText(text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount + Buffer.byteLength(text) > this.ctx.options.maxBufferedBytes) {
      this.#dropSlowReader();
      return;
    }
    this.ws.send(text);
  }

  #dropSlowReader(): void {
    this.ctx.metrics.errors.inc({ code: 'CHZ_ERR_SLOW_CONSUMER' });
    this.ctx.log.info({ session: this.id, buffered: this.ws.bufferedAmount }, 'slow reader dropped');
    // The close frame queues behind what the client did not read; if it never reads on, the
    // socket (and everything queued on it) is destroyed shortly after.
    this.ws.close(4006, 'CHZ_ERR_SLOW_CONSUMER');
    this.#dropTimer = setTimeout(() => this.ws.terminate(), 2000);
    this.#dropTimer.unref();
  }

  /** Sends an error reply and counts it; persistent violators are closed with 4000. */
  error(code: ErrorCode, message?: string, ref?: string, retryAfterMs?: number): void {
    this.ctx.metrics.errors.inc({ code });
    const wire = new ChatzyoError(code, message).toWire(ref);
    this.send(retryAfterMs === undefined ? wire : { ...wire, retryAfterMs });
    if (!this.#errors.hit()) this.fail('CHZ_ERR_TOO_MANY_ERRORS');
  }

  /** Sends a final error (the table's message unless given) and closes with the matching 4xxx close code. */
  fail(code: ErrorCode, message?: string, ref?: string): void {
    if (this.#state === 'closed' || this.ws.readyState !== this.ws.OPEN) return;
    this.ctx.metrics.errors.inc({ code });
    this.send(new ChatzyoError(code, message).toWire(ref));
    this.ws.close(closeCodeFor(code) ?? 4000, code);
  }

  /** Runs `f` when the messages received before it have been handled. */
  #inTurn(f: () => void): void {
    this.#chain = this.#chain.then(f).catch((err: unknown) => this.ctx.log.error({ err, session: this.id }, 'answer failed'));
  }

  /**
   * Reads nothing more and closes with `code` once the messages before have been answered; at
   * most {@link CLOSE_IN_TURN_MS} later if a handler is slow (a store that does not answer).
   */
  #closeInTurn(code: ErrorCode): void {
    this.#closing = true;
    this.#inTurn(() => {
      if (this.#closeTimer) clearTimeout(this.#closeTimer);
      this.fail(code);
    });
    this.#closeTimer = setTimeout(() => this.fail(code), CLOSE_IN_TURN_MS);
    this.#closeTimer.unref();
  }

  /** Entry point for every received frame. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.#state === 'closed' || this.#closing) return;
    this.#alive = true;
    // Every answer, a refusal too, waits its turn behind the messages before it: a client hears
    // its answers in the order it sent, and one closed for flooding first hears what it sent in
    // time. What counts toward a limit is counted as the frame arrives.
    if (!this.#bucket.take() || !this.#bytes.take(data.length)) {
      this.#rateStrikes++;
      this.ctx.metrics.errors.inc({ code: 'CHZ_ERR_RATE_LIMITED' });
      if (this.#rateStrikes > this.ctx.options.rateLimitStrikes) { this.#closeInTurn('CHZ_ERR_RATE_LIMITED'); return; }
      this.#inTurn(() => this.send(new ChatzyoError('CHZ_ERR_RATE_LIMITED').toWire()));
      return;
    }
    const parsed: ParseResult<ClientMessage> = isBinary
      ? { ok: false, code: 'CHZ_ERR_BAD_JSON', message: 'Binary frames are not part of the protocol; send JSON text.' }
      : parseClientFrame(data.toString('utf8'), data.length, this.ctx.options.maxFrameBytes);
    if (!parsed.ok) {
      this.ctx.metrics.errors.inc({ code: parsed.code });
      const wire = new ChatzyoError(parsed.code, parsed.message).toWire(parsed.ref);
      this.#inTurn(() => this.send(wire));
      if (!this.#errors.hit()) this.#closeInTurn('CHZ_ERR_TOO_MANY_ERRORS');
      return;
    }
    const msg = parsed.value;
    // Messages run one at a time, in arrival order, and are checked against the state they
    // find when their turn comes (an earlier leave may have changed it).
    this.#chain = this.#chain.then(() => this.#handle(msg)).catch((err: unknown) => {
      // Only wire codes go on the wire; anything else (a bug, a storage failure) is UNAVAILABLE.
      const code = err instanceof ChatzyoError && isWireErrorCode(err.code) ? err.code : 'CHZ_ERR_UNAVAILABLE';
      this.ctx.log.error({ err, session: this.id }, 'message handling failed');
      this.error(code, undefined, msg.type);
    });
  }

  async #handle(msg: ClientMessage): Promise<void> {
    if (this.#state === 'closed') return;
    if (!ALLOWED[this.#state].includes(msg.type)) {
      if ((msg.type === 'signal' || msg.type === 'report' || msg.type === 'next') && this.#state !== 'connected') {
        this.error('CHZ_ERR_NOT_MATCHED', `You have no partner right now (state ${this.#state}).`, msg.type);
      } else {
        this.error('CHZ_ERR_BAD_STATE', `"${msg.type}" is not allowed in state ${this.#state}.`, msg.type);
      }
      return;
    }
    switch (msg.type) {
      case 'hello': return this.#hello(msg);
      case 'join': return this.#join(msg.hub, normaliseInterests(msg.interests), msg.rtts);
      case 'next': return this.#next();
      case 'leave': return this.#leave();
      case 'signal': return this.#signal(msg);
      case 'private-create': return this.#privateCreate();
      case 'private-join': return this.#privateJoin(msg.code);
      case 'report': return this.#report(msg);
      case 'ping': this.send({ type: 'pong', id: msg.id }); return;
    }
  }

  async #hello(msg: ClientMessageOf<'hello'>): Promise<void> {
    clearTimeout(this.#helloTimer);
    this.#version = msg.version;
    this.#relayOnly = msg.relayOnly === true;
    if (!SUPPORTED_VERSIONS.includes(msg.version)) {
      this.ctx.metrics.errors.inc({ code: 'CHZ_ERR_VERSION' });
      this.send(new ChatzyoError('CHZ_ERR_VERSION', `Protocol version ${msg.version} is not supported; this server speaks ${SUPPORTED_VERSIONS.join(', ')}.`).toWire('hello'));
      this.ws.close(4001, 'CHZ_ERR_VERSION');
      return;
    }
    const o = this.ctx.options;
    if (o.ageVerifier !== undefined && !(await this.#ageVerified(o.ageVerifier, msg.ageAssertion))) return;
    if (this.#state === 'closed') return;
    // The token identifies nobody: it lets reports and bans follow one client across connections.
    const { anonId, token } = this.ctx.safety.identify(msg.token);
    this.#anonId = anonId;
    // Storage down (Redis): welcome anyway, as the matchmaker does; the next join registers.
    await this.#register().catch((err: unknown) => this.ctx.log.warn({ err, session: this.id }, 'safety store unreachable at hello'));
    // The socket may have closed while the store answered (closed() waits for this message).
    if ((this.#state as SessionState) === 'closed') return;
    this.#to('ready');
    // TURN credentials only for a client that will need them before a match: relay-only. They
    // are not renewed while it waits (a relay test needs them for seconds); a match brings more.
    const ice = this.ctx.iceServersFor(this, this.#relayOnly).iceServers;
    this.#landmarks = this.ctx.landmarksFor(this);
    this.send({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      sessionId: this.id,
      iceServers: ice,
      // Version 1 clients read TURN only from welcome, which no longer has it: tell them there is
      // none, so a relay-only v1 client says so at once instead of failing every call.
      turn: this.ctx.hasTurn && this.#version >= 2,
      hubs: o.hubs,
      limits: {
        maxFrameBytes: o.maxFrameBytes,
        messagesPerSecond: o.messagesPerSecond,
        nextsPerMinute: o.nextsPerMinute,
        interestFallbackMs: o.interestFallbackMs,
        rematchCooldownMs: o.rematchCooldownMs,
        privateCodeTtlMs: o.privateCodeTtlMs,
        heartbeatMs: o.heartbeatMs,
      },
      ...(this.#landmarks.length ? { landmarks: this.#landmarks } : {}),
      token,
      screening: o.screening,
      ...(o.ageVerifier !== undefined ? { ageVerifier: o.ageVerifier } : {}),
    });
    const counts = this.ctx.lastCounts();
    if (counts) this.send({ type: 'hubs', hubs: counts });
  }

  /**
   * Asks the age verifier about the hello's assertion; false (after the error and the close) when
   * there is none or the verifier refuses it (CHZ_ERR_AGE_REQUIRED, close 4007), or when the
   * verifier could not be asked (CHZ_ERR_UNAVAILABLE, close 1013: retryable).
   */
  async #ageVerified(url: string, assertion: string | undefined): Promise<boolean> {
    const verdict = assertion === undefined ? 'missing' : await verifyAge(url, assertion);
    if (verdict === 'over18') return true;
    if (verdict === 'unavailable') {
      // An outage is no refusal: the retryable CHZ_ERR_UNAVAILABLE, then close 1013 (Try Again
      // Later, RFC 6455 registry), which clients treat as a dropped connection: they reconnect
      // with backoff and send the same assertion again.
      this.ctx.log.warn({ session: this.id }, 'age verifier unavailable');
      this.error('CHZ_ERR_UNAVAILABLE', 'The age verifier could not be reached to check your assertion; try again shortly.', 'hello');
      this.ws.close(1013, 'CHZ_ERR_UNAVAILABLE');
      return false;
    }
    const why = verdict === 'missing' ? `This server needs an over-18 assertion from its age verifier (${url}) in hello.`
      : 'The age verifier did not accept that assertion; get a fresh one.';
    this.ctx.log.info({ session: this.id, verdict }, 'age assertion refused');
    this.fail('CHZ_ERR_AGE_REQUIRED', why, 'hello');
    return false;
  }

  /** This client's anonymous identity (after hello). */
  #who(): Identity {
    return { anonId: this.#anonId!, addressHash: this.addressHash, reporterNetHash: this.reporterNetHash };
  }

  /** Makes this client's identity known to reporters on every node (once). */
  async #register(): Promise<void> {
    if (this.#registered) return;
    await this.ctx.safety.register(this.id, this.#who());
    this.#registered = true;
  }

  /** Refuses a banned client (join, private-create, private-join) with CHZ_ERR_BANNED and when to try again. */
  async #banned(ref: string): Promise<boolean> {
    await this.#register();
    const wait = await this.ctx.safety.bannedFor(this.#who());
    if (wait === null || this.#state === 'closed') return false;
    this.error('CHZ_ERR_BANNED', `Several people reported you, so you cannot meet strangers for ${formatWait(wait)}.`, ref, wait);
    return true;
  }

  async #join(hub: string, interests: string[], rtts: LandmarkRtts | undefined): Promise<void> {
    if (!this.ctx.options.hubs.includes(hub)) {
      this.error('CHZ_ERR_UNKNOWN_HUB', `There is no hub "${hub}"; hubs are ${this.ctx.options.hubs.join(', ')}.`, 'join');
      return;
    }
    if (this.#skipLimited('join')) return;
    if (await this.#banned('join')) return;
    this.#hub = hub;
    this.#interests = interests;
    // Only the announced landmarks count; the numbers live in this session (and, while it
    // waits, in the queue entry), are never logged and never reach the partner.
    const known = new Set(this.#landmarks.map((l) => l.name));
    const kept = rtts ? Object.fromEntries(Object.entries(rtts).filter(([name]) => known.has(name))) : {};
    this.#rtts = Object.keys(kept).length ? kept : undefined;
    await this.#enqueue();
  }

  async #enqueue(): Promise<void> {
    const placement = await this.#mm.enqueue({ clientId: this.id, hub: this.#hub!, interests: this.#interests, rtts: this.#rtts });
    if (placement.kind === 'queued' && this.#state !== 'closed' && this.#state !== 'matched') {
      this.#to('queued');
      this.send({ type: 'queued', hub: placement.hub, position: placement.position });
    }
  }

  /** Refuses (and says when to try again) once this address ended too many matches in a minute. */
  #skipLimited(ref: string): boolean {
    if (!this.#ended.wouldExceed()) return false;
    const wait = this.#ended.retryAfterMs();
    this.error('CHZ_ERR_NEXT_RATE_LIMITED', `More than ${this.ctx.options.nextsPerMinute} partners skipped in a minute; try again in ${Math.ceil(wait / 1000)} s.`, ref, wait);
    return true;
  }

  async #next(): Promise<void> {
    if (this.#skipLimited('next')) return;
    await this.#endAndRequeue(true);
  }

  /** Ends the current match (counted), then joins the same hub again when `requeue`. */
  async #endAndRequeue(requeue: boolean, opts: { blockMs?: number } = {}): Promise<void> {
    this.#ended.hit();
    const wasPrivate = this.#hub === null;
    await this.#mm.endMatch(this.id, 'next', opts);
    if (this.#state === 'closed') return;
    this.#to('ready');
    // A private call has no hub to return to: Next there is the same as leave. A client banned
    // while in a call (an admin, or reports made meanwhile) meets nobody new either.
    if (!wasPrivate && requeue && !(await this.#banned('next'))) await this.#enqueue();
  }

  async #leave(): Promise<void> {
    // Leaving a match ends it like Next does: leave-then-join must not skip past the limit.
    if (this.#state === 'matched') this.#ended.hit();
    const before = this.#matchId;
    await this.#mm.remove(this.id, 'leave');
    // With several nodes, a match made elsewhere can reach this client while its leave is on the
    // way to Redis; the remove ended that match, and the client, told "matched", must hear so.
    const raced = this.#state === 'matched' && this.#matchId !== before ? this.#matchId : null;
    if (this.#state !== 'closed') this.#to('ready');
    if (raced) this.send({ type: 'partner-left', matchId: raced, reason: 'leave' });
  }

  async #signal(msg: ClientMessageOf<'signal'>): Promise<void> {
    const result = await this.#mm.relay(this.id, msg.matchId, msg.data);
    if (result === 'not-matched') this.error('CHZ_ERR_NOT_MATCHED', undefined, 'signal');
    else if (result === 'stale-match') this.error('CHZ_ERR_STALE_MATCH', `Match ${msg.matchId} is not your current match.`, 'signal');
  }

  async #privateCreate(): Promise<void> {
    if (await this.#banned('private-create')) return;
    const { code, expiresAt } = await this.#mm.createPrivate(this.id);
    if (this.#state === 'closed') return;
    this.#hub = null;
    this.#to('private-waiting');
    this.send({ type: 'private-created', code, expiresAt });
  }

  async #privateJoin(code: string): Promise<void> {
    if (await this.#banned('private-join')) return;
    this.#hub = null;
    const result = await this.#mm.joinPrivate(this.id, code);
    if (result === 'not-found') this.error('CHZ_ERR_PRIVATE_NOT_FOUND', undefined, 'private-join');
    else if (result === 'full') this.error('CHZ_ERR_PRIVATE_FULL', undefined, 'private-join');
    else if (result === 'own-code') this.error('CHZ_ERR_BAD_STATE', 'That is your own private call code; share it with someone else.', 'private-join');
  }

  async #report(msg: ClientMessageOf<'report'>): Promise<void> {
    if (this.#state === 'matched' && msg.matchId === this.#matchId) { await this.#reportCurrent(msg); return; }
    // The match that just ended: the stranger who showed something and left at once, or the
    // one this client pressed Next on, can still be reported (once) for REPORT_GRACE_MS.
    const last = this.#lastMatch;
    if (!last || last.matchId !== msg.matchId || Date.now() - last.endedAt > REPORT_GRACE_MS) {
      this.error('CHZ_ERR_STALE_MATCH', `Match ${msg.matchId} is not your current match, or it ended more than ${REPORT_GRACE_MS / 1000} s ago.`, 'report');
      return;
    }
    if (last.reported) { this.error('CHZ_ERR_STALE_MATCH', 'You already reported that stranger.', 'report'); return; }
    last.reported = true;
    const judged = await this.#judgeReport(last.partnerId, msg.reason, last.endedAt - last.matchedAt);
    this.ctx.log.info({ session: this.id, reported: last.partnerId, match: msg.matchId, reason: msg.reason, outcome: judged.outcome, late: true }, 'partner reported');
    await this.#block(last.partnerId);
    if (this.#state === 'closed') return;
    this.#reportOutcome(judged);
    // Sent for the call it thought current, which the partner ended meanwhile: the client expects
    // to be queued again, as the server does after a report; it joins on this answer.
    if (msg.ended !== true && this.#state === 'ready') this.error('CHZ_ERR_NOT_MATCHED', 'Your partner left as you reported them; the report counts.', 'report');
  }

  /** Never pairs this client with `partnerId` again within the ban window (a storage failure costs the block, not the report). */
  async #block(partnerId: string): Promise<void> {
    try {
      await this.#mm.block(this.id, partnerId, this.ctx.options.banWindowMs);
    } catch (err) {
      this.ctx.log.warn({ err, session: this.id }, 'could not keep the reported stranger away');
    }
  }

  /** A report of the stranger in the call: ends the call and keeps the two apart. */
  async #reportCurrent(msg: ClientMessageOf<'report'>): Promise<void> {
    const partnerId = this.#partnerId!;
    const judged = await this.#judgeReport(partnerId, msg.reason, Date.now() - this.#matchedAt);
    this.ctx.log.info({ session: this.id, reported: partnerId, match: msg.matchId, reason: msg.reason, outcome: judged.outcome }, 'partner reported');
    // Blocked first: the partner may end the match while the report was judged, and then the
    // end below blocks nothing (and the re-queue must not meet them).
    await this.#block(partnerId);
    // A report always ends the match, even past the skip limit; only the re-queue may wait.
    // The two are never paired again (within the ban window): not by the re-queue, not later.
    const mayRequeue = !this.#ended.wouldExceed();
    await this.#endAndRequeue(mayRequeue, { blockMs: this.ctx.options.banWindowMs });
    if (this.#lastMatch?.matchId === msg.matchId) this.#lastMatch.reported = true;
    if (this.#state === 'closed') return;
    this.#reportOutcome(judged);
    if (!mayRequeue) this.#skipLimited('report');
  }

  #reportOutcome(judged: { outcome: string; retryAfterMs?: number }): void {
    if (judged.outcome !== 'rate-limited') return;
    const wait = judged.retryAfterMs ?? 0;
    this.error('CHZ_ERR_REPORT_RATE_LIMITED', `You reported more than ${this.ctx.options.maxReports} people recently; this report was not counted. Reports count again in ${formatWait(wait)}.`, 'report', wait);
  }

  /** Hands the report to the safety policy; a storage failure costs the report, never the skip. */
  async #judgeReport(partnerId: string, reason: ClientMessageOf<'report'>['reason'], inCallMs: number): Promise<{ outcome: string; retryAfterMs?: number }> {
    try {
      return await this.ctx.safety.report({
        reporter: this.#who(), reporterSession: this.id, reportedClientId: partnerId, reason,
        inCallMs,
      });
    } catch (err) {
      this.ctx.log.warn({ err, session: this.id }, 'report could not be recorded');
      return { outcome: 'failed' };
    }
  }

  /** Joins the same hub again if this client was waiting (after the store lost its queues). */
  async requeue(): Promise<void> {
    if (this.#state !== 'queued' || !this.#hub) return;
    this.#chain = this.#chain.then(async () => {
      if (this.#state !== 'queued') return;
      const placement = await this.#mm.enqueue({ clientId: this.id, hub: this.#hub!, interests: this.#interests, rtts: this.#rtts });
      if (placement.kind === 'queued' && this.#state === 'queued') this.send({ type: 'queued', hub: placement.hub, position: placement.position });
    }).catch((err: unknown) => this.ctx.log.warn({ err, session: this.id }, 'requeue failed'));
    await this.#chain;
  }

  // ------------------------------------------------------------ matchmaker callbacks

  /** Called by the matchmaker listener when this client has a partner. */
  onMatched(notice: MatchNotice): void {
    if (this.#state === 'closed') return;
    // A new match while in one (a cluster's late or raced notice): Redis keeps a client in one
    // match at most, so the one before is over. The client, told of that one, hears so first.
    if (this.#state === 'matched' && this.#matchId !== null && this.#matchId !== notice.matchId) {
      this.send({ type: 'partner-left', matchId: this.#matchId, reason: 'leave' });
    }
    this.#to('matched');
    if (this.#matchId !== notice.matchId) this.#endedMatch();
    this.#matchId = notice.matchId;
    this.#partnerId = notice.partnerId;
    this.#matchedAt = Date.now();
    // The call may need TURN now: mint credentials for it (short-lived, renewed while matched).
    const iceServers = this.#mintIceServers(true);
    this.send({
      type: 'matched', matchId: notice.matchId, role: notice.role, hub: notice.hub, private: notice.private, commonInterests: notice.commonInterests,
      iceServers,
    });
    const early = this.#early.filter((e) => e.matchId === notice.matchId && Date.now() - e.at < EARLY_SIGNAL_MS);
    this.#early = [];
    for (const e of early) this.send({ type: 'signal', matchId: e.matchId, data: e.data });
  }

  /** Called when the partner of `matchId` left. */
  onPartnerLeft(matchId: string, reason: PartnerLeftReason): void {
    if (this.#state !== 'matched' || this.#matchId !== matchId) return;
    this.#to('ready');
    this.send({ type: 'partner-left', matchId, reason });
  }

  /** Called with signaling data from the partner. */
  onSignal(matchId: string, data: SignalData): boolean {
    if (this.#state === 'queued' || this.#state === 'ready' || this.#state === 'private-waiting') {
      // Possibly ahead of its "matched" notice: hold it briefly (bounded), see #early.
      if (this.#early.length >= EARLY_SIGNAL_MAX) this.#early.shift();
      this.#early.push({ matchId, data, at: Date.now() });
      return false;
    }
    if (this.#state !== 'matched' || this.#matchId !== matchId) return false;
    this.send({ type: 'signal', matchId, data });
    return true;
  }

  /** Called when this client's private code expired unused. */
  onPrivateExpired(code: string): void {
    if (this.#state !== 'private-waiting') return;
    this.#to('ready');
    this.send(new ChatzyoError('CHZ_ERR_PRIVATE_EXPIRED', `Private call ${code.slice(0, 6)}... expired before anyone joined.`).toWire());
  }

  // ------------------------------------------------------------ TURN credentials

  /** ICE servers for this session, with TURN when asked and allowed; schedules the renewal. */
  #mintIceServers(withTurn: boolean): IceServer[] {
    const { iceServers, turnExpiresAt } = this.ctx.iceServersFor(this, withTurn);
    if (turnExpiresAt !== null) this.#scheduleRenewal(turnExpiresAt);
    return iceServers;
  }

  /** Renews TURN credentials before they expire, for as long as this client needs them. */
  #scheduleRenewal(expiresAt: number): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    // Renew at three quarters of the lifetime (at least 1 s from now).
    const inMs = Math.max(1000, (expiresAt - Date.now()) * 0.75);
    this.#renewTimer = setTimeout(() => {
      this.#renewTimer = null;
      // Renewed only while a call may need them: a client waiting alone gets none.
      if (this.#state !== 'matched' || this.#version < 2) return;
      const { iceServers, turnExpiresAt } = this.ctx.iceServersFor(this, true);
      if (turnExpiresAt === null) return;
      this.send({ type: 'ice-servers', iceServers, expiresAt: turnExpiresAt });
      this.#scheduleRenewal(turnExpiresAt);
    }, inMs);
    this.#renewTimer.unref();
  }

  /** The socket is gone: leave the matchmaker. Idempotent. */
  async closed(reason: PartnerLeftReason): Promise<void> {
    if (this.#state === 'closed') return;
    clearTimeout(this.#helloTimer);
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    if (this.#dropTimer) clearTimeout(this.#dropTimer);
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    // Disconnecting from a match ends it: counted with Next, and handed to whoever connects
    // next from this address (disconnect-and-return does not reset the limit).
    if (this.#state === 'matched') this.#ended.hit();
    this.ctx.releaseEndedMatches(this.addressHash, this.#ended);
    this.#to('closed');
    this.#matchId = null;
    this.#partnerId = null;
    // Let a message already in flight finish, then take the client out of every queue and match.
    await this.#chain;
    try {
      await this.#mm.remove(this.id, reason);
    } finally {
      if (this.#registered) {
        await this.ctx.safety.forget(this.id).catch((err: unknown) => this.ctx.log.warn({ err, session: this.id }, 'safety store unreachable at disconnect'));
      }
    }
  }
}

/** `42 s`, `17 min`, `3 h`, `2 days`: how long a person waits, in words. */
function formatWait(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.ceil(s / 60)} min`;
  if (s < 2 * 86_400) return `${Math.ceil(s / 3600)} h`;
  return `${Math.ceil(s / 86_400)} days`;
}
