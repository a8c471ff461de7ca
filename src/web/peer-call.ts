/**
 * One call with one partner: the browser's RTCPeerConnection, a negotiated data channel for
 * text chat (and a `chat` channel the partner opens in-band, read as well: docs/protocol.md,
 * "Between peers"), trickle ICE over the signaling server, an ICE gathering timeout, one ICE
 * restart when the connection fails, the safety-number exchange on its own data channel
 * (docs/safety-number.md), and the call-state channel: what we send (camera, microphone),
 * whether our page is hidden, and "typing" go to the partner, the partner's come back as events
 * (docs/protocol.md, "The state channel"). While the partner says its page is hidden, our video
 * encoding is off (issue 14: no upload nobody watches), as in audio only; audio goes on.
 *
 * Only the offerer ever makes offers (the first one and the ICE restart), so the two sides
 * never collide ("glare", RFC 8829 section 4.1.8.1) and no rollback is needed.
 */
import {
  ChatzyoError, SAFETY_CHANNEL, SAFETY_TIMEOUT_MS, startSafetyExchange, type IceServer, type SafetyExchange, type SafetyOutcome, type SignalData,
} from '../protocol/index.js';
// "Hide my IP": the one scrubber every client shares (src/protocol/relay-scrub.ts).
import { CHAT_CHANNEL, ChatCopies, chatFromMessage, chatSendChannel, clampChat } from '../protocol/index.js';
import { STATE_CHANNEL, StateInbox, StateOutbox, type MediaState } from '../protocol/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import { scrubRelayCandidate, scrubRelaySdp, TypedEmitter } from '../protocol/client/index.js';
import type { MessageKey } from './i18n/index.js';
import * as log from './log.js';
import { classifyQuality, qualityInputs, QualityTracker, sampleFromStats, type QualityLevel, type StatsSample } from './quality-level.js';
import { applyVideoSenderSettings } from './sender-settings.js';

/** Call states, in the order a good call goes through them. */
export const CALL_STATES = ['new', 'negotiating', 'connected', 'restarting', 'failed', 'closed'] as const;
export type CallState = (typeof CALL_STATES)[number];

/** Allowed moves between {@link CALL_STATES}; any other throws `CHZ_ERR_CALL_STATE`. */
export const CALL_TRANSITIONS: TransitionTable<CallState> = {
  new: ['negotiating', 'failed', 'closed'],
  negotiating: ['connected', 'restarting', 'failed', 'closed'],
  connected: ['restarting', 'failed', 'closed'],
  restarting: ['connected', 'failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/** The state machine of one {@link PeerCall}; tests start it in any state. */
export function callStateMachine(initial: CallState = 'new'): StateMachine<CallState> {
  return new StateMachine('PeerCall', CALL_TRANSITIONS, initial, 'CHZ_ERR_CALL_STATE');
}

/** Whether media goes straight between the two browsers or through a TURN relay. */
export type NetworkPath = 'direct' | 'relayed';

/** In-band `chat` channels of one partner that are read; more are left alone (a flood of opens). */
const MAX_PARTNER_CHAT_CHANNELS = 4;

/** How often the quality indicator reads `getStats()`, ms. */
const QUALITY_EVERY_MS = 1500;
/** "Audio only" is offered once every sample has been poor for this long, ms. */
const AUDIO_ONLY_AFTER_MS = 8000;
/**
 * After video stops or starts again because a page was hidden or shown, the quality indicator
 * does not judge that video for this long, ms: the gap reads as one long freeze once the first
 * frame after it arrives, and the upload estimate needs a moment to ramp back up.
 */
const VIDEO_PAUSE_SETTLE_MS = 2 * QUALITY_EVERY_MS;

/** The connection-quality indicator's state (src/web/quality-level.ts). */
export interface CallQuality {
  level: QualityLevel;
  /** The cause in words, as a catalog key. */
  reason: MessageKey;
  /** How long every sample has been poor, ms. */
  poorForMs: number;
  /** Offer "audio only" (the call stayed poor; stays offered for the rest of the call). */
  offerAudioOnly: boolean;
  /** We send no video (the person chose audio only). */
  audioOnly: boolean;
}

/** Local media handed to a call (null tracks mean receive-only for that kind). */
interface CallMedia {
  stream: MediaStream | null;
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
}

/** How to set up a {@link PeerCall}. */
export interface PeerCallOptions {
  role: 'offerer' | 'answerer';
  iceServers: IceServer[];
  /** "Hide my IP": gather relay candidates only, so the partner never learns our addresses. */
  relayOnly: boolean;
  media: CallMedia;
  /** Sends signaling data to the partner (the caller adds the match id). */
  send(data: SignalData): void;
  /** Stop waiting for ICE candidates after this long and tell the partner we are done. */
  gatherTimeoutMs?: number;
  /** Give the first connection this long before treating it as failed. */
  connectTimeoutMs?: number;
  /** Give an ICE restart this long before giving up. */
  restartTimeoutMs?: number;
  /** A `disconnected` connection that does not recover within this long counts as failed. */
  disconnectGraceMs?: number;
  /** Call the safety number unavailable when the partner's side of the exchange has not come this long after the channel opened. */
  safetyTimeoutMs?: number;
}

/** Events of a {@link PeerCall}. */
export type CallEvents = {
  state: [CallState];
  /** The partner's media (the same stream object; tracks are added as they arrive). */
  remotestream: [MediaStream];
  chatopen: [];
  chatclose: [];
  chat: [string];
  /** The safety-number exchange ended: a verified number, or why there is none. */
  safety: [SafetyOutcome];
  /** The partner said what it sends (state channel): camera and microphone on or off, its page hidden or not. */
  partnermedia: [MediaState];
  /** The partner is typing a chat message (state channel; at most one every 2 s from a well-behaved partner). */
  partnertyping: [];
  path: [NetworkPath];
  /** A new reading of the connection quality (every ~1.5 s while connected, and on audio-only changes). */
  quality: [CallQuality];
  /** The call gave up; the reason is a sentence for the status line. */
  /** Why, as a catalog key (the session words it). */
  failure: [MessageKey];
};

/** The candidate pair in use, from `getStats()` (Chrome: transport.selectedCandidatePairId; Firefox: pair.selected). */
async function selectedCandidatePair(pc: RTCPeerConnection): Promise<{ local: string; remote: string; path: NetworkPath } | null> {
  const report = await pc.getStats();
  type Stat = Record<string, unknown> & { type: string; id: string };
  let pair: Stat | undefined;
  report.forEach((s: Stat) => {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair ??= report.get(s.selectedCandidatePairId) as Stat | undefined;
  });
  report.forEach((s: Stat) => {
    if (!pair && s.type === 'candidate-pair' && (s.selected === true || (s.nominated === true && s.state === 'succeeded'))) pair = s;
  });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId as string) as Stat | undefined;
  const remote = report.get(pair.remoteCandidateId as string) as Stat | undefined;
  if (!local || !remote) return null;
  const lt = String(local.candidateType);
  const rt = String(remote.candidateType);
  return { local: lt, remote: rt, path: lt === 'relay' || rt === 'relay' ? 'relayed' : 'direct' };
}

function iceUfrag(sdp: string | undefined): string | null {
  return sdp?.match(/^a=ice-ufrag:(\S+)/m)?.[1] ?? null;
}

/** A call with one partner. Create it on `matched`, feed it `signal` data, close it when the match ends. */
export class PeerCall extends TypedEmitter<CallEvents> {
  readonly pc: RTCPeerConnection;
  readonly role: 'offerer' | 'answerer';
  readonly remoteStream = new MediaStream();
  readonly #opts: Required<PeerCallOptions>;
  readonly #dc: RTCDataChannel;
  /** `chat` channels the partner opened in-band (DCEP), read as well as the negotiated one. */
  readonly #partnerChat: RTCDataChannel[] = [];
  readonly #chatCopies = new ChatCopies();
  #chatChannels = 0;
  readonly #safetyDc: RTCDataChannel;
  /** The call-state channel: our media state and typing out, the partner's in (validated, rate-limited). */
  readonly #stateDc: RTCDataChannel;
  readonly #stateOut: StateOutbox;
  readonly #stateIn = new StateInbox();
  #partnerMedia: MediaState | null = null;
  #safetyExchange: SafetyExchange | null = null;
  #safetyTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #machine = callStateMachine();
  #chain: Promise<void> = Promise.resolve();
  #pending: (RTCIceCandidateInit | null)[] = [];
  #tracksAttached = false;
  #restarted = false;
  #everConnected = false;
  #gatherDone = true;
  #localUfrag: string | null = null;
  #safety: SafetyOutcome | null = null;
  #gatherTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #disconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #qualityTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #tracker = new QualityTracker();
  #lastSample: StatsSample | null = null;
  #connectedAt = 0;
  #audioOnly = false;
  #offerAudioOnly = false;
  /** Our page is hidden (the partner is told, and stops sending us video). */
  #hidden = false;
  /** The partner said its page is hidden: our video encoding is off until it shows again. */
  #partnerHidden = false;
  /** When our video or the partner's last stopped or started for a hidden page (performance.now(); -Infinity: never). */
  #pauseChangedAt = -Infinity;
  /** Video sender changes, one at a time (each reads the wanted state when it runs). */
  #senderChain: Promise<void> = Promise.resolve();

  constructor(options: PeerCallOptions) {
    super();
    this.#opts = {
      gatherTimeoutMs: 5_000, connectTimeoutMs: 15_000, restartTimeoutMs: 10_000, disconnectGraceMs: 4_000, safetyTimeoutMs: SAFETY_TIMEOUT_MS,
      ...options,
      // Our own copy: switching cameras replaces the video track in it.
      media: { ...options.media },
    };
    this.role = options.role;
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers as RTCIceServer[],
      iceTransportPolicy: options.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    // Negotiated on both sides with the same id: no DataChannel-open handshake, no role asymmetry.
    this.#dc = this.pc.createDataChannel(CHAT_CHANNEL.label, { negotiated: true, id: CHAT_CHANNEL.id, ordered: true });
    this.#useChatChannel(this.#dc);
    // A partner that chats the classic way opens its own `chat` channel in-band.
    this.pc.ondatachannel = (ev) => this.#onPartnerChannel(ev.channel);
    // The safety exchange: our commitment goes out when the channel opens; the partner's
    // messages go to the exchange, which validates them (a bad one fails it, never throws here).
    this.#safetyDc = this.pc.createDataChannel(SAFETY_CHANNEL.label, { negotiated: true, id: SAFETY_CHANNEL.id, ordered: true });
    this.#safetyDc.onopen = () => { this.#ensureSafetyExchange(); };
    this.#safetyDc.onmessage = (ev: MessageEvent) => { void this.#ensureSafetyExchange()?.receive(ev.data); };
    // The state channel: our media state goes out when it opens (and on every change); what the
    // partner sends is size-checked, rate-limited and validated, and anything else is ignored.
    this.#stateDc = this.pc.createDataChannel(STATE_CHANNEL.label, { negotiated: true, id: STATE_CHANNEL.id, ordered: true });
    const stateDc = this.#stateDc;
    this.#stateOut = new StateOutbox((text) => { if (stateDc.readyState === 'open') stateDc.send(text); });
    // A partner assumes camera and microphone on until told otherwise, so the open says only a
    // state that differs. (The SCTP stall a werift partner once showed at call start was most
    // likely its DTLS keys lost to a held ClientHello, not this channel: see holdEarlyDtls in
    // src/peer/werift-seam.ts.)
    this.#stateDc.onopen = () => {
      const m = this.mediaState;
      if (!m.camera || !m.mic || m.hidden) this.sendMediaState();
    };
    this.#stateDc.onmessage = (ev: MessageEvent) => this.#onStateMessage(ev.data);
    this.pc.onicecandidate = (ev) => this.#onCandidate(ev.candidate);
    this.pc.ontrack = (ev) => {
      if (!this.remoteStream.getTracks().includes(ev.track)) this.remoteStream.addTrack(ev.track);
      this.emit('remotestream', this.remoteStream);
    };
    this.pc.onconnectionstatechange = () => this.#onConnectionState();
    this.pc.addEventListener('iceconnectionstatechange', () => { if (this.pc.iceConnectionState === 'connected') performance.mark('chatzyo:ice-connected'); });
  }

  /** The current state. */
  get state(): CallState { return this.#machine.state; }
  get #state(): CallState { return this.#machine.state; }
  /** The safety number, once the exchange with the partner has verified it. */
  get safetyNumber(): string | null { return this.#safety?.state === 'verified' ? this.#safety.number : null; }
  /** How the safety-number exchange ended, or null while it runs. */
  get safetyOutcome(): SafetyOutcome | null { return this.#safety; }
  /** True once the call has been connected at least once. */
  get everConnected(): boolean { return this.#everConnected; }
  /** True when chat messages can be sent (a chat channel is open). */
  get chatOpen(): boolean { return chatSendChannel(this.#dc, this.#partnerChat) !== null; }
  /** What the partner last said it sends, or null when it has said nothing (yet, or no state channel). */
  get partnerMedia(): MediaState | null { return this.#partnerMedia; }
  /** The partner said its page is hidden: we send it no video now. */
  get partnerHidden(): boolean { return this.#partnerHidden; }
  /**
   * What we send, as the partner is told: the camera counts when there is a video track, it is
   * enabled (not "camera off") and video is not paused for audio only; the microphone when there
   * is an enabled audio track; `hidden` while our page is hidden. (Video paused because the
   * partner is hidden is not "camera off": the partner gets it again as soon as it shows.)
   */
  get mediaState(): MediaState {
    const { audio, video } = this.#opts.media;
    return {
      camera: !!video && video.enabled && video.readyState === 'live' && !this.#audioOnly,
      mic: !!audio && audio.enabled && audio.readyState === 'live',
      ...(this.#hidden ? { hidden: true } : {}),
    };
  }

  /**
   * Our page was hidden (another tab, a minimized window, a locked phone) or shown again: the
   * partner is told over the state channel, and stops sending us video while we are hidden
   * (issue 14). Call it before {@link start} too, for a page that is hidden when the call begins.
   */
  setHidden(hidden: boolean): void {
    if (this.#state === 'closed' || hidden === this.#hidden) return;
    this.#hidden = hidden;
    this.#pauseChangedAt = performance.now();
    this.sendMediaState();
  }

  /** Starts negotiating: the offerer sends its offer, the answerer waits for it. */
  start(): void {
    this.#assert('start', ['new']);
    this.#to('negotiating');
    this.#connectTimer = setTimeout(() => this.#onFailure('fail.timeout'), this.#opts.connectTimeoutMs);
    if (this.role !== 'offerer') return;
    const m = this.#opts.media;
    for (const kind of ['audio', 'video'] as const) {
      const track = m[kind];
      if (track) this.pc.addTransceiver(track, { direction: 'sendrecv', streams: m.stream ? [m.stream] : [] });
      else this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    this.#serial(() => this.#sendOffer(false));
  }

  /** Applies one piece of signaling data from the partner (in arrival order). */
  handleSignal(data: SignalData): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#serial(() => this.#apply(data));
  }

  /**
   * Sends a chat message (cut to 1,000 characters) on one channel: the partner's in-band `chat`
   * channel when it opened one, else the negotiated one.
   */
  sendChat(text: string): void {
    const dc = chatSendChannel(this.#dc, this.#partnerChat);
    if (!dc) throw new Error(`chat is not open (data channel ${this.#dc.readyState}, call ${this.#state})`);
    dc.send(clampChat(text));
  }

  /**
   * Tells the partner what we send now ({@link mediaState}); call it after enabling or disabling
   * a local track. Coalesced and rate-limited (state-channel.ts); nothing goes out before the
   * state channel opens, which sends the state then.
   */
  sendMediaState(): void {
    if (this.#state === 'closed') return;
    this.#stateOut.media(this.mediaState);
  }

  /** Tells the partner we are typing; at most once every 2 s (false when not sent). */
  sendTyping(): boolean {
    if (this.#state === 'closed' || this.#stateDc.readyState !== 'open') return false;
    return this.#stateOut.typing();
  }

  /**
   * Sends `track` instead of the current camera (another camera of the device): `replaceTrack`
   * on the video sender, no renegotiation. Before the answerer has attached its tracks, the new
   * one is simply the one it attaches.
   */
  async replaceVideoTrack(track: MediaStreamTrack): Promise<void> {
    this.#assert('replaceVideoTrack', ['new', 'negotiating', 'connected', 'restarting']);
    this.#opts.media.video = track;
    const sender = this.#videoSender();
    if (sender) await sender.replaceTrack(track);
    this.sendMediaState();
  }

  /**
   * Audio only: stops encoding and sending our video (the encoding goes inactive; audio and the
   * preview go on) or, with false, sends it again. No renegotiation either way.
   */
  async setAudioOnly(on: boolean): Promise<void> {
    this.#assert('setAudioOnly', ['negotiating', 'connected', 'restarting']);
    this.#audioOnly = on;
    this.#emitQuality();
    // The partner shows "camera off" rather than the last frame it got.
    this.sendMediaState();
    // Audio only turned off while the partner's page is hidden leaves video off until it shows.
    await this.#applySenderSettings();
  }

  /** `getStats()` of the peer connection. */
  stats(): Promise<RTCStatsReport> {
    return this.pc.getStats();
  }

  /**
   * Takes renewed ICE servers (fresh TURN credentials from the server's `ice-servers`): used by
   * the next ICE restart. Allocations already made keep working (coturn keeps their key), so
   * the live call is not touched.
   */
  setIceServers(iceServers: IceServer[]): void {
    if (this.pc.signalingState === 'closed') return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: iceServers as RTCIceServer[] });
    } catch {
      // A browser that refuses the change keeps the old servers; the call goes on.
    }
  }

  /** Ends the call: timers, data channel and peer connection. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#clearTimers();
    if (this.#qualityTimer) { clearTimeout(this.#qualityTimer); this.#qualityTimer = null; }
    this.#to('closed');
    this.#dc.close();
    for (const dc of this.#partnerChat) dc.close();
    this.#safetyDc.close();
    this.#stateOut.close();
    this.#stateDc.close();
    this.pc.close();
    for (const t of this.remoteStream.getTracks()) t.stop();
    this.removeAllListeners();
  }

  // ------------------------------------------------------------ internals

  #assert(method: string, states: readonly CallState[]): void {
    if (!states.includes(this.#state)) throw new ChatzyoError('CHZ_ERR_CALL_STATE', `PeerCall.${method}() is not allowed in state ${this.#state}`);
  }

  #to(next: CallState): void {
    if (this.#machine.to(next) !== next) this.emit('state', next);
  }

  /**
   * A chat channel, negotiated or opened by the partner: its text messages are chat (cut to
   * 1,000 characters; binary and empty ones dropped), and a message the partner also sent on
   * another chat channel is shown once.
   */
  #useChatChannel(dc: RTCDataChannel): void {
    const key = String(this.#chatChannels++);
    dc.onopen = () => this.emit('chatopen');
    dc.onclose = () => this.emit('chatclose');
    dc.onmessage = (ev: MessageEvent) => {
      const text = chatFromMessage(ev.data);
      if (text !== null && this.#chatCopies.accept(key, text)) this.emit('chat', text);
    };
    if (dc.readyState === 'open') this.emit('chatopen');
  }

  /** One message on the state channel: dropped unless it is valid and within the rate (state-channel.ts). */
  #onStateMessage(data: unknown): void {
    if (this.#state === 'closed') return;
    const msg = this.#stateIn.receive(data);
    if (!msg) return;
    if (msg.t === 'media') {
      const hidden = msg.hidden === true;
      this.#partnerMedia = { camera: msg.camera, mic: msg.mic, ...(hidden ? { hidden } : {}) };
      if (hidden !== this.#partnerHidden) {
        // Hidden: our video encoding goes off (no upload nobody watches); shown again: on, unless
        // audio only keeps it off. Chromium starts a reactivated encoding with a keyframe.
        this.#partnerHidden = hidden;
        this.#pauseChangedAt = performance.now();
        void this.#applySenderSettings();
      }
      this.emit('partnermedia', this.#partnerMedia);
    } else {
      this.emit('partnertyping');
    }
  }

  /**
   * A channel the partner opened in-band (DCEP, RFC 8832). One labelled `chat` is a chat channel
   * of the partner's; others are not ours to read. (An in-band `chat` on stream 0 never comes
   * here: the browser refuses an open for a stream the negotiated channel holds, and the data
   * on that stream reaches the negotiated channel.)
   */
  #onPartnerChannel(dc: RTCDataChannel): void {
    if (this.#state === 'closed' || dc.label !== CHAT_CHANNEL.label || this.#partnerChat.length >= MAX_PARTNER_CHAT_CHANNELS) return;
    this.#partnerChat.push(dc);
    this.#useChatChannel(dc);
  }

  /** Runs signaling steps one at a time; a step that throws fails the call. */
  #serial(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#state === 'closed' || this.#state === 'failed') return;
      await step();
    }).catch((err: unknown) => {
      if (this.#state === 'closed' || this.#state === 'failed') return;
      log.warn('signaling step failed', err);
      this.#fail('fail.setup');
    });
  }

  async #sendOffer(iceRestart: boolean): Promise<void> {
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    this.#afterLocalDescription();
    this.#opts.send({ kind: 'offer', sdp: this.#outgoingSdp(this.pc.localDescription!.sdp) });
  }

  async #apply(data: SignalData): Promise<void> {
    switch (data.kind) {
      case 'offer': {
        if (this.role !== 'answerer') return; // Only the offerer offers; anything else is a confused partner.
        performance.mark('chatzyo:remote-offer');
        await this.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        if (!this.#tracksAttached) await this.#attachTracks();
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.#afterLocalDescription();
        this.#opts.send({ kind: 'answer', sdp: this.#outgoingSdp(this.pc.localDescription!.sdp) });
        performance.mark('chatzyo:local-answer');
        await this.#afterRemoteDescription();
        return;
      }
      case 'answer': {
        if (this.role !== 'offerer' || this.pc.signalingState !== 'have-local-offer') return;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
        await this.#afterRemoteDescription();
        return;
      }
      case 'candidate':
      case 'end-of-candidates': {
        const init: RTCIceCandidateInit | null = data.kind === 'candidate'
          ? { candidate: data.candidate.candidate, sdpMid: data.candidate.sdpMid ?? null, sdpMLineIndex: data.candidate.sdpMLineIndex ?? null, usernameFragment: data.candidate.usernameFragment ?? null }
          : null;
        if (!this.pc.remoteDescription) this.#pending.push(init);
        else await this.#addCandidate(init);
        return;
      }
    }
  }

  /** The answerer sends its tracks on the transceivers the offer created (recvonly when it has none). */
  async #attachTracks(): Promise<void> {
    this.#tracksAttached = true;
    const m = this.#opts.media;
    const used = new Set<string>();
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null) continue;
      const kind = t.receiver.track.kind as 'audio' | 'video';
      const track = m[kind];
      if (track && !used.has(kind)) {
        used.add(kind);
        await t.sender.replaceTrack(track);
        t.direction = 'sendrecv';
      } else {
        t.direction = 'recvonly';
      }
    }
  }

  async #addCandidate(init: RTCIceCandidateInit | null): Promise<void> {
    try {
      // No argument means end-of-candidates (W3C webrtc-pc, addIceCandidate step 4).
      if (init) await this.pc.addIceCandidate(init);
      else await this.pc.addIceCandidate();
    } catch (err) {
      // A candidate from before an ICE restart, or one this browser cannot use: not fatal.
      log.debug('remote candidate not added', err);
    }
  }

  async #afterRemoteDescription(): Promise<void> {
    for (const c of this.#pending.splice(0)) await this.#addCandidate(c);
  }

  /**
   * The exchange of this call, made and started when first needed (the channel opened, or a
   * message came first). Needs both descriptions: the DTLS identities enter the number.
   */
  #ensureSafetyExchange(): SafetyExchange | null {
    const local = this.pc.localDescription?.sdp;
    const remote = this.pc.remoteDescription?.sdp;
    if (this.#safetyExchange || this.#state === 'closed' || !local || !remote) return this.#safetyExchange;
    const dc = this.#safetyDc;
    const started = startSafetyExchange({
      localSdp: local, remoteSdp: remote, send: (text) => dc.send(text), timeoutMs: this.#opts.safetyTimeoutMs,
      onOutcome: (o) => {
        if (this.#state === 'closed') return;
        this.#safety = o;
        this.emit('safety', o);
      },
    });
    if (!started) return null; // no fingerprint: DTLS cannot come up, and the call fails on its own
    this.#safetyExchange = started.exchange;
    this.#safetyTimer = started.timer;
    return started.exchange;
  }

  /** A new local ICE ufrag means a new gathering round: arm the gathering timeout. */
  #afterLocalDescription(): void {
    const ufrag = iceUfrag(this.pc.localDescription?.sdp);
    if (ufrag === this.#localUfrag) return;
    this.#localUfrag = ufrag;
    // Not `iceGatheringState`: after an ICE restart it still reads 'complete' (from the last
    // round) until the browser starts gathering again, which would drop every new candidate.
    this.#gatherDone = false;
    if (this.#gatherTimer) clearTimeout(this.#gatherTimer);
    this.#gatherTimer = setTimeout(() => {
      this.#gatherTimer = null;
      // A stalled interface or TURN server must not hold the call: what we have is all we send.
      this.#endOfCandidates();
    }, this.#opts.gatherTimeoutMs);
  }

  #onCandidate(c: RTCIceCandidate | null): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    // Firefox ends each round with an empty candidate, Chrome with null.
    if (!c || !c.candidate) { this.#endOfCandidates(); return; }
    if (this.#gatherDone) return; // after the gathering timeout the partner was told we are done
    const line = this.#opts.relayOnly ? scrubRelayCandidate(c.candidate) : c.candidate;
    if (line === null) return;
    this.#opts.send({
      kind: 'candidate',
      candidate: { candidate: line, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment },
    });
  }

  /** The SDP as sent: with "Hide my IP", nothing in it but relay candidates. */
  #outgoingSdp(sdp: string): string {
    return this.#opts.relayOnly ? scrubRelaySdp(sdp) : sdp;
  }

  #endOfCandidates(): void {
    if (this.#gatherDone) return;
    this.#gatherDone = true;
    if (this.#gatherTimer) { clearTimeout(this.#gatherTimer); this.#gatherTimer = null; }
    this.#opts.send({ kind: 'end-of-candidates' });
  }

  #onConnectionState(): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    const s = this.pc.connectionState;
    if (s !== 'disconnected' && this.#disconnectTimer) { clearTimeout(this.#disconnectTimer); this.#disconnectTimer = null; }
    if (s === 'connected') this.#onConnected();
    else if (s === 'failed') this.#onFailure('fail.failed');
    else if (s === 'disconnected' && !this.#disconnectTimer) {
      // Disconnected often heals by itself (a brief loss); only a lasting one counts as failed.
      this.#disconnectTimer = setTimeout(() => {
        this.#disconnectTimer = null;
        if (this.pc.connectionState === 'disconnected') this.#onFailure('fail.lost');
      }, this.#opts.disconnectGraceMs);
    }
  }

  #onConnected(): void {
    if (this.#state !== 'negotiating' && this.#state !== 'restarting') return;
    performance.mark('chatzyo:connected');
    if (this.#connectTimer) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    if (!this.#everConnected) {
      this.#connectedAt = performance.now();
      this.#qualityTimer = setTimeout(() => void this.#sampleQuality(), QUALITY_EVERY_MS);
    }
    this.#everConnected = true;
    this.#to('connected');
    void this.#reportPath();
    void this.#applySenderSettings();
  }

  #videoSender(): RTCRtpSender | null {
    return this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video' && t.sender.track?.kind === 'video')?.sender ?? null;
  }

  /** Our video goes out: not audio only, and the partner's page is not hidden. */
  #videoWanted(): boolean {
    return !this.#audioOnly && !this.#partnerHidden;
  }

  /**
   * The video sender's cap, degradation preference and on/off (sender-settings.ts); never
   * throws. Changes run one at a time, each with the state wanted when it runs, so audio only
   * and the partner's hidden page (which both turn the encoding off) cannot undo each other.
   */
  #applySenderSettings(): Promise<void> {
    const step = async (): Promise<void> => {
      const sender = this.#videoSender();
      if (!sender || this.#state === 'closed') return;
      try {
        // What the sender reports afterwards is read by the tests through the debug hook.
        await applyVideoSenderSettings(sender, this.#videoWanted());
      } catch (err) {
        log.warn('video sender settings not applied', err);
      }
    };
    this.#senderChain = this.#senderChain.then(step, step);
    return this.#senderChain;
  }

  /** One quality reading, then the next one scheduled (never two at once). */
  async #sampleQuality(): Promise<void> {
    this.#qualityTimer = null;
    if (this.#state === 'closed' || this.#state === 'failed') return;
    try {
      const stats: Record<string, unknown>[] = [];
      (await this.pc.getStats()).forEach((s: Record<string, unknown>) => stats.push(s));
      if (this.#over()) return;
      const now = performance.now();
      const sample = sampleFromStats(stats, now);
      const prev = this.#lastSample;
      this.#lastSample = sample;
      // The first reading has no interval to judge loss and freezes by: it only primes the
      // counters. While reconnecting the stats say nothing about the new path: start afresh.
      if (this.#state !== 'connected') this.#tracker.reset();
      else if (prev) {
        // A hidden page, ours or the partner's, stops one video: while it is stopped, and shortly
        // after it starts again, that video is not judged (no freezes, no upload estimate).
        const settling = now - this.#pauseChangedAt < VIDEO_PAUSE_SETTLE_MS;
        const judgeRemote = !this.#hidden && !settling;
        const inputs = qualityInputs(judgeRemote ? prev : { ...prev, video: null }, judgeRemote ? sample : { ...sample, video: null }, {
          sendingVideo: this.#videoWanted() && !settling && this.#videoSender() !== null, callSeconds: (now - this.#connectedAt) / 1000,
        });
        this.#tracker.push(classifyQuality(inputs), now);
        this.#emitQuality();
      }
    } catch (err) {
      log.warn('quality stats failed', err);
    }
    this.#qualityTimer = setTimeout(() => void this.#sampleQuality(), QUALITY_EVERY_MS);
  }

  /** The call is over (re-read after an await, where the compiler's narrowing does not hold). */
  #over(): boolean {
    return this.#state === 'closed' || this.#state === 'failed';
  }

  /** Emits the tracker's reading with the audio-only state (nothing before the first reading). */
  #emitQuality(): void {
    const v = this.#tracker.current();
    if (!v || this.#state === 'closed') return;
    const poorForMs = this.#tracker.poorForMs(performance.now());
    if (poorForMs >= AUDIO_ONLY_AFTER_MS) this.#offerAudioOnly = true;
    this.emit('quality', { level: v.level, reason: v.reason, poorForMs, offerAudioOnly: this.#offerAudioOnly || this.#audioOnly, audioOnly: this.#audioOnly });
  }

  /** Reads the selected candidate pair; stats can lag the state change by a moment. */
  async #reportPath(): Promise<void> {
    for (let i = 0; i < 20 && this.#state === 'connected'; i++) {
      const pair = await selectedCandidatePair(this.pc).catch(() => null);
      if (pair) {
        if (this.#state === 'connected') this.emit('path', pair.path);
        return;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** First failure: one ICE restart (RFC 8445 section 9). Second failure: give up. */
  #onFailure(reason: MessageKey): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (this.#state === 'restarting' || this.#restarted) { this.#fail(reason); return; }
    this.#restarted = true;
    if (this.#connectTimer) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    this.#to('restarting');
    this.#connectTimer = setTimeout(() => this.#fail('fail.restart'), this.#opts.restartTimeoutMs);
    if (this.role === 'offerer') {
      // A restart needs a stable signaling state; an unanswered offer means the partner is not there.
      if (this.pc.signalingState !== 'stable') { this.#fail(reason); return; }
      this.#serial(() => this.#sendOffer(true));
    }
    // The answerer waits for the offerer's restart offer (or the timer).
  }

  #fail(reason: MessageKey): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#clearTimers();
    this.#to('failed');
    this.emit('failure', reason);
  }

  #clearTimers(): void {
    for (const t of [this.#gatherTimer, this.#connectTimer, this.#disconnectTimer, this.#safetyTimer]) if (t) clearTimeout(t);
    this.#gatherTimer = this.#connectTimer = this.#disconnectTimer = this.#safetyTimer = null;
  }
}
