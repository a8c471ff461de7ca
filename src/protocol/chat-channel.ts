/**
 * The chat between two peers, as every chatzyo client carries it (docs/protocol.md, "Between
 * peers"): one UTF-8 text message per data-channel message, at most {@link MAX_CHAT_CHARS}
 * characters, on a data channel labelled `chat`. Both sides create it pre-negotiated with stream
 * id 0 ({@link CHAT_CHANNEL}); a partner may also open one in-band (DCEP, RFC 8832), the classic
 * WebRTC way, and the clients accept that as well. Pure rules shared by the headless peer and the
 * browser client: what counts as a chat message, which channel to send on, and how a message
 * that arrives on two channels is shown once.
 */

/**
 * The pre-negotiated chat channel: label `chat`, stream id 0 on both sides, created with
 * `negotiated: true` (RFC 8831 section 6.5, no DCEP open), ordered and reliable.
 */
export const CHAT_CHANNEL = { label: 'chat', id: 0 } as const;

/** Longest chat message, in characters (Unicode code points). Longer ones are cut, not refused. */
export const MAX_CHAT_CHARS = 1000;

/**
 * `text` cut to its first {@link MAX_CHAT_CHARS} code points (a surrogate pair is never split,
 * so the cut text is still well-formed UTF-16 and encodes to valid UTF-8).
 */
export function clampChat(text: string): string {
  // At most MAX_CHAT_CHARS UTF-16 code units are at most that many code points.
  if (text.length <= MAX_CHAT_CHARS) return text;
  let end = 0;
  for (let n = 0; n < MAX_CHAT_CHARS && end < text.length; n++) end += text.codePointAt(end)! > 0xffff ? 2 : 1;
  return text.slice(0, end);
}

/**
 * One received data-channel message as chat: the text cut to {@link MAX_CHAT_CHARS}, or null
 * for a message that is not chat (binary, or empty) and is dropped.
 */
export function chatFromMessage(data: unknown): string | null {
  if (typeof data !== 'string' || data.length === 0) return null;
  return clampChat(data);
}

/** What {@link chatSendChannel} needs of a data channel (a browser's or werift's). */
export interface ChatChannelLike {
  readonly readyState: string;
}

/**
 * The one channel a message goes out on. A partner that opened a `chat` channel in-band reads
 * that one (it made it), so it is used while open (the newest, if it opened several); otherwise
 * the pre-negotiated channel, which every chatzyo client and every partner written from
 * docs/protocol.md reads. Never both: a partner that reads both would show the message twice.
 * Null when no chat channel is open.
 */
export function chatSendChannel<T extends ChatChannelLike>(negotiated: T | null, partnerInBand: readonly T[]): T | null {
  for (let i = partnerInBand.length - 1; i >= 0; i--) if (partnerInBand[i]!.readyState === 'open') return partnerInBand[i]!;
  return negotiated?.readyState === 'open' ? negotiated : null;
}

/** How long a copy of a message on another channel is recognised as one, ms. */
export const CHAT_COPY_WINDOW_MS = 3000;
/** Distinct recent texts remembered (a flood cannot grow the memory past this). */
const MAX_REMEMBERED = 256;

/**
 * Shows each of the partner's messages once when it carries them on more than one chat channel
 * (the negotiated one and an in-band one, say): the channels are taken as copies of one
 * stream. A text is shown when the channel it came on has now delivered it more often, within
 * {@link CHAT_COPY_WINDOW_MS}, than it has been shown; so "hi" twice on one channel is shown
 * twice, and "hi" once on each of two channels once.
 */
export class ChatCopies {
  readonly #recent = new Map<string, { shown: number; perChannel: Map<string, number>; at: number }>();

  /** True when `text`, just received on `channel`, is to be shown; false for a copy. */
  accept(channel: string, text: string, now = Date.now()): boolean {
    for (const [t, e] of this.#recent) {
      if (now - e.at <= CHAT_COPY_WINDOW_MS) break; // oldest first: the rest are newer
      this.#recent.delete(t);
    }
    const e = this.#recent.get(text) ?? { shown: 0, perChannel: new Map<string, number>(), at: now };
    // Re-inserted so the map stays ordered by last use.
    this.#recent.delete(text);
    e.at = now;
    this.#recent.set(text, e);
    if (this.#recent.size > MAX_REMEMBERED) this.#recent.delete(this.#recent.keys().next().value!);
    const n = (e.perChannel.get(channel) ?? 0) + 1;
    e.perChannel.set(channel, n);
    if (n <= e.shown) return false;
    e.shown = n;
    return true;
  }
}
