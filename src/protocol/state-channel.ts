/**
 * The call-state channel between two peers (docs/protocol.md, "Between peers", "The state
 * channel"): small JSON messages that say what the chat and the media cannot, such as "my camera
 * is off" (so the partner shows a placeholder instead of a frozen or black frame) and "I am
 * typing". It is its own pre-negotiated data channel ({@link STATE_CHANNEL}): the `chat`
 * channel keeps carrying one plain chat string per message, as outside implementations expect.
 * Pure rules shared by the browser client and the headless peer: the schema, a size bound, a
 * sender that limits what it sends ({@link StateOutbox}) and a receiver that limits what it takes
 * ({@link StateInbox}). A partner that does not open the channel simply gets no placeholder and
 * no typing indicator.
 */
import { z } from 'zod';

/**
 * The state channel: label `chatzyo-state`, stream id 14 on both sides, created with
 * `negotiated: true` (RFC 8831 section 6.5, no DCEP open), ordered and reliable.
 *
 * Not 0 (chat) or 15 (the safety exchange), and not a low id a partner's own in-band channels
 * take first (RFC 8832 section 6: 0, 2, 4, ... for the DTLS client, 1, 3, 5, ... for the server):
 * 14 is reached only by a partner's eighth in-band channel, the way 15 is, and stays below 16,
 * inside the streams every stack opens before it has to add more.
 */
export const STATE_CHANNEL = { label: 'chatzyo-state', id: 14 } as const;

/** Longest message sent or accepted, in UTF-16 code units (real ones are under 50). Checked before parsing. */
export const MAX_STATE_MESSAGE_LENGTH = 256;
/** A `typing` message goes out at most once per this long, ms. */
export const TYPING_SEND_INTERVAL_MS = 2000;
/** "Stranger is typing" stays up this long after the partner's last `typing` message, ms. */
export const TYPING_SHOW_MS = 3000;
/**
 * Shortest gap between two `media` messages, ms: a change inside it goes out at its end, as the
 * latest state only (so a person flicking the camera on and off sends a handful, never a flood).
 */
export const MEDIA_SEND_INTERVAL_MS = 250;
/** Messages taken from a partner at once before {@link STATE_RECEIVE_PER_SECOND} applies; the rest are dropped. */
export const STATE_RECEIVE_BURST = 10;
/** Messages taken from a partner per second once the burst is spent. */
export const STATE_RECEIVE_PER_SECOND = 5;

/**
 * `media`: what the sender sends right now. `camera: false` when its video is off (camera
 * turned off, audio only, or no camera); `mic: false` when it is muted or has no microphone.
 * `hidden: true` (optional, issue 14) while the sender's page is hidden (another tab, a
 * minimized window, a locked phone): nobody there sees the receiver's video, so the receiver
 * may stop sending it (audio goes on) until a `media` message without it, or with `hidden:
 * false`, says the page shows again. Absent means visible, so a partner that never sends it is
 * always sent video, and one that does not know it drops the field (unknown fields are).
 * Sent on every change, and when the channel opens unless both are on and the page is visible
 * (what a receiver assumes until told otherwise).
 */
const MediaStateMsg = z.object({ t: z.literal('media'), camera: z.boolean(), mic: z.boolean(), hidden: z.boolean().optional() });
/** `typing`: the sender is typing a chat message (at most one per {@link TYPING_SEND_INTERVAL_MS}). */
const TypingMsg = z.object({ t: z.literal('typing') });

/**
 * Every message of the state channel, discriminated on `t`. Unknown fields are dropped (a newer
 * partner may add some); an unknown `t` does not validate, and the receiver ignores it.
 */
const StateMessage = z.discriminatedUnion('t', [MediaStateMsg, TypingMsg]);
/** One message of the state channel. */
export type StateMessage = z.infer<typeof StateMessage>;
/** What a `media` message says. */
export type MediaState = Omit<Extract<StateMessage, { t: 'media' }>, 't'>;

/** One message as sent on the channel (JSON text). */
export function encodeStateMessage(msg: StateMessage): string {
  return JSON.stringify(msg);
}

/**
 * Validates one data-channel message: a string, at most {@link MAX_STATE_MESSAGE_LENGTH} long
 * (checked before parsing), JSON, one of the schemas. Never throws: the input is a stranger's.
 */
export function parseStateMessage(data: unknown): { ok: true; value: StateMessage } | { ok: false; reason: string } {
  if (typeof data !== 'string') return { ok: false, reason: 'a message that is not text' };
  if (data.length > MAX_STATE_MESSAGE_LENGTH) return { ok: false, reason: `a message of ${data.length} characters (limit ${MAX_STATE_MESSAGE_LENGTH})` };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'a message that is not JSON' };
  }
  const parsed = StateMessage.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: `an unknown or invalid message (${parsed.error.issues[0]?.message ?? 'schema'})` };
  return { ok: true, value: parsed.data };
}

/**
 * The receiving side: takes at most {@link STATE_RECEIVE_BURST} messages at once and
 * {@link STATE_RECEIVE_PER_SECOND} a second after that (a token bucket; every message counts,
 * valid or not), and validates what it takes. A flooding or confused partner costs a few
 * comparisons per message and is never answered.
 */
export class StateInbox {
  #tokens = STATE_RECEIVE_BURST;
  #refilledAt: number | null = null;
  /** Messages dropped so far: over the rate, or not valid (diagnostics). */
  dropped = 0;

  /** The message, or null for one that is dropped (over the rate, not text, too long, unknown, invalid). Never throws. */
  receive(data: unknown, now = Date.now()): StateMessage | null {
    const since = this.#refilledAt === null ? 0 : Math.max(0, now - this.#refilledAt);
    this.#tokens = Math.min(STATE_RECEIVE_BURST, this.#tokens + (since / 1000) * STATE_RECEIVE_PER_SECOND);
    this.#refilledAt = now;
    if (this.#tokens < 1) { this.dropped++; return null; }
    this.#tokens -= 1;
    const parsed = parseStateMessage(data);
    if (!parsed.ok) { this.dropped++; return null; }
    return parsed.value;
  }
}

/**
 * The sending side: `typing` at most once per {@link TYPING_SEND_INTERVAL_MS}; `media` at most
 * once per {@link MEDIA_SEND_INTERVAL_MS}, a change in between going out at its end (the latest
 * state only). `send` delivers one encoded message (it may drop it while the channel is not open:
 * the caller sends the state again when it opens).
 */
export class StateOutbox {
  readonly #send: (text: string) => void;
  readonly #now: () => number;
  #typingAt = -Infinity;
  #mediaAt = -Infinity;
  #pending: MediaState | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(send: (text: string) => void, now: () => number = Date.now) {
    this.#send = send;
    this.#now = now;
  }

  /** Says "typing", unless it was said less than {@link TYPING_SEND_INTERVAL_MS} ago. True when sent. */
  typing(): boolean {
    const now = this.#now();
    if (this.#closed || now - this.#typingAt < TYPING_SEND_INTERVAL_MS) return false;
    this.#typingAt = now;
    this.#send(encodeStateMessage({ t: 'typing' }));
    return true;
  }

  /**
   * Says what we send now (and whether our page is hidden): at once, or at the end of the current
   * interval (the latest state wins). `hidden` goes out only when true: a visible page's messages
   * stay what they always were.
   */
  media(state: MediaState): void {
    if (this.#closed) return;
    this.#pending = { camera: state.camera, mic: state.mic, ...(state.hidden ? { hidden: true } : {}) };
    if (this.#timer) return;
    const wait = this.#mediaAt + MEDIA_SEND_INTERVAL_MS - this.#now();
    if (wait <= 0) this.#flush();
    else this.#timer = setTimeout(() => { this.#timer = null; this.#flush(); }, wait);
  }

  /** Sends nothing more (the call ended). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#pending = null;
    if (this.#timer) { clearTimeout(this.#timer); this.#timer = null; }
  }

  #flush(): void {
    const state = this.#pending;
    if (!state || this.#closed) return;
    this.#pending = null;
    this.#mediaAt = this.#now();
    this.#send(encodeStateMessage({ t: 'media', ...state }));
  }
}
