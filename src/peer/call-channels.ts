/**
 * The data channels of one call: chat on the negotiated channel and on `chat` channels the
 * partner opens in-band (docs/protocol.md, "Between peers"), the safety-number exchange on
 * its own negotiated channel (docs/safety-number.md), and the call-state channel, where only the
 * partner's `media` messages are read, its `hidden` included (docs/protocol.md, "The state
 * channel"; the headless peer sends no state of its own). The call says when to start and close.
 */
import type { RTCDataChannel, RTCPeerConnection } from 'werift';
import {
  CHAT_CHANNEL, ChatCopies, chatFromMessage, chatSendChannel, clampChat, SAFETY_CHANNEL, SAFETY_TIMEOUT_MS, startSafetyExchange,
  STATE_CHANNEL, StateInbox, type MediaState, type SafetyExchange, type SafetyOutcome,
} from '../protocol/index.js';
import { subscribe, type Disposer } from './werift-seam.js';

/** In-band `chat` channels of one partner that are read; more are left alone (a flood of opens). */
const MAX_PARTNER_CHAT_CHANNELS = 4;

/** How {@link CallChannels} talks to its call. */
export interface CallChannelsOptions {
  pc: RTCPeerConnection;
  /** Call the safety number unavailable when the partner's side has not come this long after the channel opened (default 10 s). */
  safetyTimeoutMs?: number;
  /** Our description as sent and the partner's as applied (null until there is one): their DTLS identities enter the number. */
  descriptions: () => { local: string | null; remote: string | null };
  /** The call has closed: nothing more is reported. */
  closed: () => boolean;
  /** Chat can be sent (once per call). */
  onChatOpen: () => void;
  onChat: (text: string) => void;
  /** How the safety exchange ended. */
  onSafety: (outcome: SafetyOutcome) => void;
  /** The partner said what it sends (camera, microphone), and whether its page is hidden, on the state channel. */
  onPartnerMedia: (state: MediaState) => void;
}

/** The chat and safety channels of one call. */
export class CallChannels {
  readonly #dc: RTCDataChannel;
  /** `chat` channels the partner opened in-band (DCEP), read as well as the negotiated one. */
  readonly #partnerChat: RTCDataChannel[] = [];
  readonly #chatCopies = new ChatCopies();
  #chatChannels = 0;
  #chatOpenSent = false;
  readonly #safetyDc: RTCDataChannel;
  #safetyExchange: SafetyExchange | null = null;
  #safetyTimer: NodeJS.Timeout | null = null;
  /** The state channel: the partner's messages are size-checked, rate-limited and validated; only `media` is used. */
  readonly #stateDc: RTCDataChannel;
  readonly #stateIn = new StateInbox();
  readonly #disposers: Disposer[] = [];
  readonly #opts: CallChannelsOptions;

  /** Creates the negotiated channels (call after the transceivers, as the m-sections go in that order). */
  constructor(opts: CallChannelsOptions) {
    this.#opts = opts;
    this.#dc = opts.pc.createDataChannel(CHAT_CHANNEL.label, { negotiated: true, id: CHAT_CHANNEL.id, ordered: true });
    this.#safetyDc = opts.pc.createDataChannel(SAFETY_CHANNEL.label, { negotiated: true, id: SAFETY_CHANNEL.id, ordered: true });
    this.#stateDc = opts.pc.createDataChannel(STATE_CHANNEL.label, { negotiated: true, id: STATE_CHANNEL.id, ordered: true });
    this.#disposers.push(subscribe(opts.pc.onDataChannel, (dc) => this.#onPartnerChannel(dc)));
  }

  /** True while a chat channel is open (the negotiated one, or the partner's in-band one). */
  get chatOpen(): boolean { return chatSendChannel(this.#dc, this.#partnerChat) !== null; }

  /** Reads the negotiated channels (the call has started). */
  start(): void {
    this.#useChannel(this.#dc);
    this.#useSafetyChannel(this.#safetyDc);
    this.#disposers.push(subscribe(this.#stateDc.onMessage, (m: string | Buffer) => this.#onStateMessage(m)));
  }

  /**
   * Sends one chat message (cut to 1,000 characters) on one channel: the partner's in-band
   * `chat` channel when it opened one, else the negotiated one. False when none is open.
   */
  sendChat(text: string): boolean {
    const dc = chatSendChannel(this.#dc, this.#partnerChat);
    if (!dc) return false;
    dc.send(clampChat(text));
    return true;
  }

  /** Stops reading and timing (the call is closing). */
  stopListening(): void {
    if (this.#safetyTimer) { clearTimeout(this.#safetyTimer); this.#safetyTimer = null; }
    for (const d of this.#disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
  }

  /** Closes every channel. */
  close(): void {
    this.stopListening();
    try { this.#dc.close(); } catch { /* transport already gone */ }
    for (const dc of this.#partnerChat) { try { dc.close(); } catch { /* transport already gone */ } }
    try { this.#safetyDc.close(); } catch { /* transport already gone */ }
    try { this.#stateDc.close(); } catch { /* transport already gone */ }
  }

  /** One message on the state channel: `media` is reported; `typing`, unknown, invalid and over-the-rate ones are ignored. */
  #onStateMessage(data: string | Buffer): void {
    if (this.#opts.closed()) return;
    const msg = this.#stateIn.receive(data);
    if (msg?.t === 'media') this.#opts.onPartnerMedia({ camera: msg.camera, mic: msg.mic, ...(msg.hidden ? { hidden: true } : {}) });
  }

  /**
   * A chat channel, negotiated or opened by the partner: its text messages are chat (cut to
   * 1,000 characters; binary and empty ones dropped), and a message the partner also sent on
   * another chat channel is shown once.
   */
  #useChannel(dc: RTCDataChannel): void {
    const key = String(this.#chatChannels++);
    const onState = (s: string) => { if (s === 'open') this.#chatOpened(); };
    this.#disposers.push(subscribe(dc.stateChanged, onState));
    this.#disposers.push(subscribe(dc.onMessage, (m: string | Buffer) => {
      const text = chatFromMessage(m);
      if (text !== null && this.#chatCopies.accept(key, text)) this.#opts.onChat(text);
    }));
    if (dc.readyState === 'open') this.#chatOpened();
  }

  #chatOpened(): void {
    if (this.#chatOpenSent || this.#opts.closed()) return;
    this.#chatOpenSent = true;
    this.#opts.onChatOpen();
  }

  /**
   * A channel the partner opened in-band (DCEP, RFC 8832). One labelled `chat` is a chat
   * channel of the partner's (the classic WebRTC way to chat); others are not ours to read.
   * A partner whose in-band `chat` lands on stream 0 shares the negotiated channel instead:
   * werift acknowledges that open and fires no event, and the stream is read already.
   */
  #onPartnerChannel(dc: RTCDataChannel): void {
    if (this.#opts.closed() || dc.label !== CHAT_CHANNEL.label || this.#partnerChat.length >= MAX_PARTNER_CHAT_CHANNELS) return;
    this.#partnerChat.push(dc);
    this.#useChannel(dc);
  }

  /**
   * The safety channel: our commitment goes out when it opens; the partner's messages go to
   * the exchange, which validates them (a bad one fails the exchange, never throws here).
   */
  #useSafetyChannel(dc: RTCDataChannel): void {
    this.#disposers.push(subscribe(dc.stateChanged, (s: string) => { if (s === 'open') this.#ensureSafetyExchange(); }));
    this.#disposers.push(subscribe(dc.onMessage, (m: string | Buffer) => { void this.#ensureSafetyExchange()?.receive(m); }));
    if (dc.readyState === 'open') this.#ensureSafetyExchange();
  }

  /**
   * The exchange of this call, made and started when first needed (the channel opened, or a
   * message came first). Needs both descriptions: the DTLS identities enter the number.
   */
  #ensureSafetyExchange(): SafetyExchange | null {
    const { local, remote } = this.#opts.descriptions();
    if (this.#safetyExchange || this.#opts.closed() || !local || !remote) return this.#safetyExchange;
    const dc = this.#safetyDc;
    const started = startSafetyExchange({
      localSdp: local, remoteSdp: remote, send: (text) => dc.send(text), timeoutMs: this.#opts.safetyTimeoutMs ?? SAFETY_TIMEOUT_MS,
      onOutcome: (o) => { if (!this.#opts.closed()) this.#opts.onSafety(o); },
    });
    if (!started) return null; // no fingerprint: DTLS cannot come up, and the call fails on its own
    this.#safetyExchange = started.exchange;
    this.#safetyTimer = started.timer;
    return started.exchange;
  }
}
