/**
 * The safety-number exchange between the two peers of a call: each side commits to a random
 * nonce, and reveals it only after it holds the partner's commitment. It runs over its own
 * pre-negotiated data channel ({@link SAFETY_CHANNEL}), inside DTLS, so the signaling server
 * never sees it. Pure logic: the caller wires {@link SafetyExchange} to a data channel.
 * Scheme and argument: docs/safety-number.md.
 */
import { z } from 'zod';
import { ChatzyoError } from './errors.js';
import { commitment, deriveSafetyNumber, fromHex, NONCE_BYTES, randomNonce, sdpIdentity, toHex } from './safety-number.js';
import { StateMachine, type TransitionTable } from './state-machine.js';

/**
 * The data channel of the exchange: negotiated out of band with stream id 15 on both sides
 * (RFC 8831 section 6.5), ordered and reliable, next to the chat channel on id 0. A partner
 * that does not open it never answers, and the safety number is "unavailable".
 *
 * Not id 1: a partner's first in-band channel (DCEP, RFC 8832 section 6) gets stream 0 or 1
 * (even for the DTLS client, odd for the server; werift and aiortc go by the ICE role), so a
 * partner that opens its `chat` channel in-band would land on this channel. A browser refuses
 * an open for a stream a negotiated channel holds, and never acknowledges it. 15 is reached only
 * by a partner's eighth in-band channel, and is far inside the stream count stacks negotiate
 * (RFC 8831 section 6.2: 65535).
 */
export const SAFETY_CHANNEL = { label: 'chatzyo-sas', id: 15 } as const;
/** Version of the exchange; it is also in the hash domain tags. */
const SAFETY_VERSION = 2;
/** Longest message accepted on the channel, in UTF-16 code units (real ones are under 110). */
export const MAX_SAFETY_MESSAGE_LENGTH = 256;
/** How long a side waits for the partner's side of the exchange before calling it unavailable. */
export const SAFETY_TIMEOUT_MS = 10_000;

const Hex32 = z.string().regex(new RegExp(`^[0-9a-f]{${NONCE_BYTES * 2}}$`), `${NONCE_BYTES} bytes of lower-case hex`);

/** First message of each side: `commitment` = SHA-256(tag, nonce, own identity), hex. */
const SafetyCommitMsg = z.strictObject({ type: z.literal('commit'), v: z.literal(SAFETY_VERSION), commitment: Hex32 });
/** Second message, sent only once the partner's commitment has arrived: the nonce, hex. */
const SafetyRevealMsg = z.strictObject({ type: z.literal('reveal'), v: z.literal(SAFETY_VERSION), nonce: Hex32 });
/** Every message of the exchange. */
export const SafetyMessage = z.discriminatedUnion('type', [SafetyCommitMsg, SafetyRevealMsg]);
export type SafetyMessage = z.infer<typeof SafetyMessage>;

/** One message as sent on the channel (JSON text). */
export function encodeSafetyMessage(msg: SafetyMessage): string {
  return JSON.stringify(msg);
}

/**
 * Validates one data-channel message: a string, at most {@link MAX_SAFETY_MESSAGE_LENGTH}
 * long (checked before parsing), JSON, one of the two schemas. Never throws.
 */
export function parseSafetyMessage(data: unknown): { ok: true; value: SafetyMessage } | { ok: false; reason: string } {
  if (typeof data !== 'string') return { ok: false, reason: 'a message that is not text' };
  if (data.length > MAX_SAFETY_MESSAGE_LENGTH) return { ok: false, reason: `a message of ${data.length} characters (limit ${MAX_SAFETY_MESSAGE_LENGTH})` };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'a message that is not JSON' };
  }
  const parsed = SafetyMessage.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: `an invalid message (${parsed.error.issues[0]?.message ?? 'schema'})` };
  return { ok: true, value: parsed.data };
}

/**
 * States of one side's exchange. `commit-sent`: ours is out, the partner's is not in;
 * `commit-received`: the partner's is in, ours is not out yet; `revealed`: both commitments
 * exchanged and our nonce sent; `checking`: the partner's nonce is being checked.
 */
export const SAFETY_STATES = ['new', 'commit-sent', 'commit-received', 'revealed', 'checking', 'verified', 'failed', 'unavailable'] as const;
/** One of {@link SAFETY_STATES}. */
export type SafetyState = (typeof SAFETY_STATES)[number];

/** Allowed moves between {@link SAFETY_STATES}; any other throws `CHZ_ERR_SAFETY_STATE`. */
export const SAFETY_TRANSITIONS: TransitionTable<SafetyState> = {
  new: ['commit-sent', 'commit-received', 'failed', 'unavailable'],
  'commit-sent': ['revealed', 'failed', 'unavailable'],
  'commit-received': ['revealed', 'failed', 'unavailable'],
  revealed: ['checking', 'failed', 'unavailable'],
  checking: ['verified', 'failed', 'unavailable'],
  verified: [],
  failed: [],
  unavailable: [],
};

/** The state machine of one {@link SafetyExchange}; tests start it in any state. */
export function safetyStateMachine(initial: SafetyState = 'new'): StateMachine<SafetyState> {
  return new StateMachine('SafetyExchange', SAFETY_TRANSITIONS, initial, 'CHZ_ERR_SAFETY_STATE');
}

/**
 * How an exchange ended. `failed`: the partner broke the protocol or its nonce did not open
 * its commitment, which an honest partner never does: someone is in the middle. Never carries
 * a number. `unavailable`: the partner did not take part (an implementation without the
 * exchange, or the call ended first): the call cannot be checked.
 */
export type SafetyOutcome =
  | { state: 'verified'; number: string }
  | { state: 'failed'; reason: string }
  | { state: 'unavailable'; reason: string };

/** How to set up a {@link SafetyExchange}. */
export interface SafetyExchangeOptions {
  /** `sdpIdentity` of our local SDP. */
  localIdentity: string;
  /** `sdpIdentity` of the partner's SDP, as we received it. */
  remoteIdentity: string;
  /** Sends one message on the safety channel. A throw means the channel is gone. */
  send(text: string): void;
}

/**
 * One side of the exchange, an explicit state machine: {@link start} when the channel opens,
 * {@link receive} for each message, {@link expire} when the partner took too long. The outcome
 * settles {@link result} once. Our nonce is drawn here and leaves only in the reveal, which is
 * sent only after the partner's commitment has arrived.
 */
export class SafetyExchange {
  /** Settles once, with the outcome. */
  readonly result: Promise<SafetyOutcome>;
  readonly #opts: SafetyExchangeOptions;
  readonly #nonce = randomNonce();
  readonly #machine = safetyStateMachine();
  #started = false;
  #theirCommitment: string | null = null;
  #outcome: SafetyOutcome | null = null;
  #settle!: (o: SafetyOutcome) => void;

  constructor(opts: SafetyExchangeOptions) {
    this.#opts = opts;
    this.result = new Promise((resolve) => { this.#settle = resolve; });
  }

  /** The current state. */
  get state(): SafetyState { return this.#machine.state; }
  get #state(): SafetyState { return this.#machine.state; }
  /** The outcome, once there is one. */
  get outcome(): SafetyOutcome | null { return this.#outcome; }

  /**
   * Sends our commitment (and, when the partner's is already in, our nonce right after it).
   * Allowed once, in `new` or `commit-received`; throws naming the state otherwise.
   */
  async start(): Promise<void> {
    if (this.#started || (this.#state !== 'new' && this.#state !== 'commit-received')) {
      throw new ChatzyoError('CHZ_ERR_SAFETY_STATE', `SafetyExchange.start() is not allowed in state ${this.#state}${this.#started ? ' (already started)' : ''}`);
    }
    this.#started = true;
    const ours = toHex(await commitment(this.#nonce, this.#opts.localIdentity));
    // The partner may have sent its commitment, or the exchange may have ended, meanwhile.
    if (this.#state === 'new') {
      if (this.#send({ type: 'commit', v: SAFETY_VERSION, commitment: ours })) this.#to('commit-sent');
    } else if (this.#state === 'commit-received') {
      if (this.#send({ type: 'commit', v: SAFETY_VERSION, commitment: ours })) this.#reveal();
    }
  }

  /**
   * Handles one message from the partner. Never throws or rejects (the input is hostile): a
   * malformed message, or one the state does not allow, ends the exchange as `failed`.
   * Ignored once the exchange has ended.
   */
  async receive(data: unknown): Promise<void> {
    if (this.#ended()) return;
    const parsed = parseSafetyMessage(data);
    if (!parsed.ok) { this.#end({ state: 'failed', reason: `the partner sent ${parsed.reason}` }); return; }
    const msg = parsed.value;
    if (msg.type === 'commit') {
      if (this.#theirCommitment !== null) {
        this.#end({ state: 'failed', reason: 'the partner sent a second commitment' });
        return;
      }
      this.#theirCommitment = msg.commitment;
      // Not started, or start() still hashing: start() sends our commitment, then our nonce.
      if (this.#state === 'new') this.#to('commit-received');
      // Ours is out: now, and only now, our nonce may follow.
      else if (this.#state === 'commit-sent') this.#reveal();
      return;
    }
    if (this.#state !== 'revealed') {
      this.#end({ state: 'failed', reason: `the partner revealed its nonce before the exchange allowed it (state ${this.#state})` });
      return;
    }
    this.#to('checking');
    const theirNonce = fromHex(msg.nonce);
    try {
      const opened = toHex(await commitment(theirNonce, this.#opts.remoteIdentity));
      if (!this.#checking()) return;
      if (opened !== this.#theirCommitment) {
        this.#end({ state: 'failed', reason: 'the partner\'s nonce does not match its commitment for the certificate we see' });
        return;
      }
      const number = await deriveSafetyNumber({
        localIdentity: this.#opts.localIdentity, remoteIdentity: this.#opts.remoteIdentity, localNonce: this.#nonce, remoteNonce: theirNonce,
      });
      if (this.#checking()) this.#end({ state: 'verified', number });
    } catch (err) {
      // WebCrypto failing is not the partner's doing: the call cannot be checked.
      if (this.#checking()) this.#end({ state: 'unavailable', reason: `could not check the partner's nonce (${(err as Error)?.message ?? String(err)})` });
    }
  }

  /** The partner took too long: `unavailable`, unless the exchange has ended or is being checked. */
  expire(reason = 'the partner did not take part in the safety check'): void {
    if (this.#ended() || this.#state === 'checking') return;
    this.#end({ state: 'unavailable', reason });
  }

  /** Still checking the partner's nonce (read after an await, where the state may have moved on). */
  #checking(): boolean {
    return this.#state === 'checking';
  }

  #ended(): boolean {
    return this.#state === 'verified' || this.#state === 'failed' || this.#state === 'unavailable';
  }

  #reveal(): void {
    if (this.#send({ type: 'reveal', v: SAFETY_VERSION, nonce: toHex(this.#nonce) })) this.#to('revealed');
  }

  /** Sends a message; a channel that is gone ends the exchange as unavailable. */
  #send(msg: SafetyMessage): boolean {
    try {
      this.#opts.send(encodeSafetyMessage(msg));
      return true;
    } catch (err) {
      this.#end({ state: 'unavailable', reason: `the safety channel closed (${(err as Error)?.message ?? String(err)})` });
      return false;
    }
  }

  #to(next: SafetyState): void {
    this.#machine.to(next);
  }

  #end(outcome: SafetyOutcome): void {
    this.#to(outcome.state);
    this.#outcome = outcome;
    this.#settle(outcome);
  }
}

/** How to start one call's exchange (see {@link startSafetyExchange}). */
export interface SafetyStart {
  /** Our description as sent, and the partner's as applied. */
  localSdp: string;
  remoteSdp: string;
  /** Sends one message on the safety channel. */
  send(text: string): void;
  /** The partner counts as not taking part after this long, ms. */
  timeoutMs: number;
  /** How the exchange ended (the caller decides whether it still cares). */
  onOutcome(outcome: SafetyOutcome): void;
}

/**
 * Starts one call's exchange, the same way in every client: the DTLS identities come from both
 * descriptions, the exchange expires after `timeoutMs` unless it has ended, and a start that
 * fails (no WebCrypto, a channel gone) makes it unavailable rather than throwing. Null when a
 * description has no fingerprint: DTLS cannot come up, and the call fails on its own. `timer`
 * is the deadline, for a caller that clears it when the call ends.
 */
export function startSafetyExchange(o: SafetyStart): { exchange: SafetyExchange; timer: ReturnType<typeof setTimeout> } | null {
  let ids: [string, string];
  try {
    ids = [sdpIdentity(o.localSdp), sdpIdentity(o.remoteSdp)];
  } catch {
    return null;
  }
  const exchange = new SafetyExchange({ localIdentity: ids[0], remoteIdentity: ids[1], send: (text) => o.send(text) });
  const timer = setTimeout(() => exchange.expire(), o.timeoutMs);
  void exchange.result.then((outcome) => {
    clearTimeout(timer);
    o.onOutcome(outcome);
  });
  exchange.start().catch((err: unknown) => exchange.expire(`the safety check could not start (${(err as Error)?.message ?? String(err)})`));
  return { exchange, timer };
}
