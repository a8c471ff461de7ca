/**
 * One call with one partner: a werift RTCPeerConnection and its negotiation, an explicit state
 * machine (offer/answer with trickle ICE, RFC 8838; one ICE restart on failure, RFC 8445
 * section 2.4 / JSEP section 3.3.2). A new partner gets a new Call; the media sources outlive
 * it. The other jobs of a call each have a file: how the peer connection is built
 * (call-config.ts), the chat and safety channels (call-channels.ts), what the partner sends
 * (received-media.ts, with the recorder), the numbers (call-stats.ts), and werift's quirks
 * (werift-seam.ts).
 */
import { MediaStream, MediaStreamTrack, RTCPeerConnection, type RTCCertificate, type RTCRtpSender, type RTCRtpTransceiver, type RTCPeerConnectionConfig } from 'werift';
import { ChatzyoError, type IceServer, type MediaState, type SafetyOutcome, type SignalData } from '../protocol/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import { peerError } from './errors.js';
import { normalizeBundle, withoutBundleGroup, type ForeignSection } from './sdp-bundle.js';
import { takeOverTwccFeedback } from './twcc-feedback.js';
import { scrubRelaySignal, TypedEmitter } from '../protocol/client/index.js';
import type { FrameCounter, ReceiveCounts, VideoCodec } from './rtp-frames.js';
import type { IpFamily } from './ip-family.js';
import { peerConnectionConfig } from './call-config.js';
import { CallChannels } from './call-channels.js';
import { NO_TRANSPORT_STATS, selectedPair, transportStats, type CallStats, type CandidateType } from './call-stats.js';
import { ReceivedMedia } from './received-media.js';
import { acceptVideoRed, negotiatedFec, type FecPayloadTypes } from './fec.js';
import { answerAsDtlsServer, answerReferenceTimeReports, holdEarlyDtls, lengthenIceChecks, nativeX25519, onMediaReady, RemoteTrackWatch, stampSenderReports, subscribe, watchPartnerPli, type CaptureClock, type Disposer, type SenderReportStamp } from './werift-seam.js';

// Kept importable from here: peer-session, the probe and test helpers import them from call.ts.
export { codecsFor, generateCertificate } from './call-config.js';
export type { CallStats, CandidateType } from './call-stats.js';
export { withoutThirdPartyStun } from './werift-seam.js';

/** States of one call. */
export const CALL_STATES = ['new', 'negotiating', 'connected', 'restarting', 'failed', 'closed'] as const;
/** One of {@link CALL_STATES}. */
export type CallState = (typeof CALL_STATES)[number];

/** Allowed moves between {@link CALL_STATES}; any other throws `CHZ_ERR_CALL_STATE`. */
export const CALL_TRANSITIONS: TransitionTable<CallState> = {
  new: ['negotiating', 'closed'],
  negotiating: ['connected', 'restarting', 'failed', 'closed'],
  connected: ['restarting', 'failed', 'closed'],
  restarting: ['connected', 'failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/** The state machine of one {@link Call}, named for messages ("Call m1"); tests start it in any state. */
export function callStateMachine(owner: string, initial: CallState = 'new'): StateMachine<CallState> {
  return new StateMachine(owner, CALL_TRANSITIONS, initial, 'CHZ_ERR_CALL_STATE');
}

/** Options of a {@link Call}. */
export interface CallOptions {
  matchId: string;
  role: 'offerer' | 'answerer';
  iceServers: IceServer[];
  /** Use only TURN relay candidates (the partner never learns our addresses). */
  relayOnly: boolean;
  videoCodec: VideoCodec;
  sendVideo: boolean;
  sendAudio: boolean;
  /** Sends signaling data to the partner through the server. */
  sendSignal: (data: SignalData) => void;
  /** When `matched` arrived (for msFromMatch). */
  matchedAt: number;
  /** Send end-of-candidates after this long even if gathering goes on (default 5 s). */
  gatherTimeoutMs?: number;
  /** Give up on an ICE restart after this long (default 10 s). */
  restartTimeoutMs?: number;
  /** Record what the partner sends to this webm file (at the size the partner's keyframes announce). */
  recordPath?: string;
  /** The DTLS certificate of this call (see {@link generateCertificate}). */
  certificate?: RTCCertificate;
  /** Call the safety number unavailable when the partner's side of the exchange has not come this long after the channel opened (default 10 s). */
  safetyTimeoutMs?: number;
  /** Gather candidates of this IP family only (default: both). */
  ipFamily?: IpFamily;
  /** Extra werift settings (port range; tests also filter candidate pairs). */
  peerConfig?: Partial<RTCPeerConnectionConfig>;
}

/** Events of a {@link Call}. */
export type CallEvents = {
  state: [CallState];
  /**
   * ICE and DTLS are up. `restarted`: this call went through an ICE restart; `reconnected`:
   * it had been connected before (media is already attached).
   */
  connected: [{ candidateType: CandidateType | null; localCandidateType: CandidateType | null; ipFamily: IpFamily | null; msFromMatch: number; restarted: boolean; reconnected: boolean }];
  /** Chat can be sent: the negotiated channel (or the partner's in-band one) opened. Once per call. */
  'chat-open': [];
  chat: [string];
  /** The safety number, once the exchange with the partner has verified it. */
  safety: [string];
  /** The exchange ended without a number: `failed` (someone may be in the middle) or `unavailable`. */
  'safety-problem': [Exclude<SafetyOutcome, { state: 'verified' }>];
  /** The partner said what it sends (state channel): camera and microphone on or off, and `hidden` while its page is. */
  'partner-media': [MediaState];
  /** An ICE restart began (we sent or received a restart offer). */
  'ice-restart': [];
  /**
   * Giving up on this partner (ICE failed after a restart, or never connected). `error` says
   * why when it has a code: `CHZ_ERR_NOT_BUNDLED` for a description that needs one transport
   * per m-section.
   */
  failed: [reason: string, error?: ChatzyoError];
  /** DTLS is up: media can flow (werift's "connected" also waits for SCTP). */
  'media-ready': [];
  /** The partner asked for a keyframe (RTCP PLI). */
  pli: [];
  /** First packet of the partner's `kind` track. */
  'remote-media': ['video' | 'audio'];
  /** The recorder could not write. */
  'record-error': [Error];
};

/** One partner, one RTCPeerConnection. */
export class Call extends TypedEmitter<CallEvents> {
  readonly matchId: string;
  readonly role: 'offerer' | 'answerer';
  readonly pc: RTCPeerConnection;
  /** Our outgoing tracks; the session attaches them to the media sources when connected. */
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioTrack: MediaStreamTrack | null;
  safety: string | null = null;
  connectedAt: number | null = null;
  readonly #machine: StateMachine<CallState>;
  #chain: Promise<void> = Promise.resolve();
  readonly #channels: CallChannels;
  readonly #received: ReceivedMedia;
  readonly #tracks: RemoteTrackWatch;
  #localSdp: string | null = null;
  #remoteSdp: string | null = null;
  /** Sections of the partner's description whose transport is not the bundle's (see sdp-bundle.ts). */
  #foreign: ForeignSection[] = [];
  #restarted = false;
  #mediaReady = false;
  readonly #dtlsHeld = new WeakSet<object>();
  readonly #xrAnswered = new WeakSet<object>();
  readonly #redAccepted = new WeakSet<object>();
  /** Both descriptions of the ICE restart are applied: the new generation is checking. */
  #restartApplied = false;
  #restartTimer: NodeJS.Timeout | null = null;
  #gatherTimer: NodeJS.Timeout | null = null;
  #eocSent = false;
  #pliReceived = 0;
  #pliSent = 0;
  #closing: Promise<void> | null = null;
  readonly #opts: CallOptions;
  readonly #disposers: Disposer[] = [];
  /** Our sending streams' Sender Report stamping, by kind (werift-seam.ts). */
  readonly #reportStamps = new Map<'video' | 'audio', SenderReportStamp>();

  constructor(opts: CallOptions) {
    super();
    // "Hide my IP": everything this call sends its partner (the offer or answer as sent, with
    // any candidates werift put in it, and each trickled candidate) passes the one scrubber all
    // clients share, so the partner sees relay addresses only, never the address the TURN
    // server saw as a candidate's raddr.
    const send = opts.sendSignal;
    this.#opts = opts.relayOnly ? { ...opts, sendSignal: (d) => { const out = scrubRelaySignal(d); if (out) send(out); } } : opts;
    this.matchId = opts.matchId;
    this.role = opts.role;
    this.#machine = callStateMachine(`Call ${opts.matchId}`);
    lengthenIceChecks();
    nativeX25519();
    this.pc = new RTCPeerConnection(peerConnectionConfig(opts));
    const stream = new MediaStream();
    this.videoTrack = opts.sendVideo ? new MediaStreamTrack({ kind: 'video' }) : null;
    this.audioTrack = opts.sendAudio ? new MediaStreamTrack({ kind: 'audio' }) : null;
    // Transceivers first: the answerer's are matched by kind to the offer's m-lines.
    this.#addTransceiver('video', this.videoTrack, stream);
    this.#addTransceiver('audio', this.audioTrack, stream);
    // The partner's congestion feedback comes from our receiver: werift's cannot be used (see twcc-feedback.ts).
    for (const t of this.pc.getTransceivers()) if (t.kind === 'video') this.#disposers.push(takeOverTwccFeedback(t.receiver));
    this.#disposers.push(...onMediaReady(this.pc, () => {
      if (this.#mediaReady || this.#state === 'closed') return;
      this.#mediaReady = true;
      this.safeEmit('media-ready');
    }));
    this.#disposers.push(...watchPartnerPli(this.pc, () => {
      if (this.#state === 'closed') return;
      this.#pliReceived++;
      this.safeEmit('pli');
    }));
    this.#received = new ReceivedMedia({
      pc: this.pc,
      ...(opts.recordPath ? { recordPath: opts.recordPath } : {}),
      onRecordError: (e) => this.safeEmit('record-error', e),
      onFirstPacket: (kind) => this.safeEmit('remote-media', kind),
      requestKeyframe: () => this.requestKeyframe(),
      closed: () => this.#state === 'closed',
    });
    this.#channels = new CallChannels({
      pc: this.pc,
      ...(opts.safetyTimeoutMs !== undefined ? { safetyTimeoutMs: opts.safetyTimeoutMs } : {}),
      descriptions: () => ({ local: this.#localSdp, remote: this.#remoteSdp }),
      closed: () => this.#state === 'closed',
      onChatOpen: () => this.safeEmit('chat-open'),
      onChat: (text) => this.safeEmit('chat', text),
      onSafety: (o) => this.#onSafetyOutcome(o),
      onPartnerMedia: (s) => this.safeEmit('partner-media', s),
    });

    this.#disposers.push(subscribe(this.pc.onIceCandidate, (c) => {
      if (this.#state === 'closed') return;
      if (!c) { this.#sendEndOfCandidates(); return; }
      const j = c.toJSON();
      this.#opts.sendSignal({
        kind: 'candidate',
        candidate: { candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null, usernameFragment: j.usernameFragment ?? null },
      });
    }));
    this.#disposers.push(subscribe(this.pc.iceGatheringStateChange, (s) => { if (s === 'complete') this.#sendEndOfCandidates(); }));
    this.#disposers.push(subscribe(this.pc.connectionStateChange, (s) => this.#onConnectionState(s)));
    this.#tracks = new RemoteTrackWatch(this.pc, (track) => this.#received.addTrack(track));
    this.#disposers.push(this.#tracks.dispose);
  }

  get state(): CallState { return this.#machine.state; }
  get #state(): CallState { return this.#machine.state; }
  /** True while a chat channel is open (the negotiated one, or the partner's in-band one). */
  get chatOpen(): boolean { return this.#channels.chatOpen; }
  /** Counts of the partner's audio. */
  get audio(): FrameCounter { return this.#received.audio; }
  /** RED and ULPFEC as negotiated for our video (null: the partner took them not, or nothing is negotiated yet). */
  fecPayloadTypes(): FecPayloadTypes | null {
    const t = this.videoTransceiver;
    const media = t?.sender.codec?.payloadType;
    return t && media !== undefined ? negotiatedFec(t.codecs, media) : null;
  }
  /** Our senders (video, audio) that carry a track: the partner's congestion feedback arrives on them. */
  get senders(): RTCRtpSender[] {
    return this.pc.getTransceivers().filter((t) => t.sender.track).map((t) => t.sender);
  }
  /**
   * Says when each timestamp we send of `kind` was captured, for the partner's lip sync (our
   * Sender Reports carry it); null: when it was sent.
   */
  setCaptureClock(kind: 'video' | 'audio', clock: CaptureClock | null): void {
    this.#reportStamps.get(kind)?.setCaptureClock(clock);
  }
  /** The video transceiver (for its sender's PLI events and its receiver's PLI requests). */
  get videoTransceiver(): RTCRtpTransceiver | undefined { return this.pc.getTransceivers().find((t) => t.kind === 'video'); }

  #to(next: CallState): void {
    if (this.#machine.to(next) !== next) this.safeEmit('state', next);
  }

  #addTransceiver(kind: 'video' | 'audio', track: MediaStreamTrack | null, stream: MediaStream): void {
    if (track) {
      stream.addTrack(track);
      const t = this.pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
      const stamp = stampSenderReports(t.sender);
      this.#reportStamps.set(kind, stamp);
      this.#disposers.push(stamp.dispose);
    } else {
      this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
  }

  /** Runs pc operations one at a time, in arrival order (an answer never overtakes our offer). */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(async () => {
      if (this.#state === 'closed') return;
      await task();
    });
    this.#chain = run.catch((err: unknown) => this.#fail(`negotiation error: ${(err as Error).message}`));
    return this.#chain;
  }

  /** Starts the call: both sides open the negotiated chat channel; the offerer sends the offer. */
  start(): void {
    if (this.#state !== 'new') throw new ChatzyoError('CHZ_ERR_CALL_STATE', `Call.start() is not allowed in state ${this.#state}`);
    this.#to('negotiating');
    this.#armGatherTimer();
    this.#channels.start();
    if (this.role !== 'offerer') return;
    void this.#enqueue(() => this.#offer(false));
  }

  async #offer(iceRestart: boolean): Promise<void> {
    const offer = await this.pc.createOffer({ iceRestart });
    this.#localSdp = offer.sdp;
    // Sent before setLocalDescription so the partner can start while we gather (trickle ICE).
    this.#opts.sendSignal({ kind: 'offer', sdp: offer.sdp });
    this.#eocSent = false;
    await this.pc.setLocalDescription(offer);
  }

  /**
   * Handles signaling data from the partner. Everything runs in arrival order on one chain:
   * a candidate of a restarted ICE generation must not reach werift before the description
   * that carries its ufrag (werift would drop it, then take the old end-of-candidates as final).
   */
  handleSignal(data: SignalData): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (data.kind === 'candidate') {
      if (!data.candidate.candidate) return;
      const c = data.candidate;
      void this.#enqueue(async () => {
        if (this.#isForeign(c)) return;
        await this.pc.addIceCandidate({
          candidate: c.candidate,
          sdpMid: c.sdpMid ?? undefined,
          sdpMLineIndex: c.sdpMLineIndex ?? undefined,
          usernameFragment: c.usernameFragment ?? undefined,
        }).catch(() => { /* one we cannot use (an unresolvable mDNS name, an old generation) */ });
      });
      return;
    }
    if (data.kind === 'end-of-candidates') {
      // werift keeps checking while more remote candidates may come (trickle ICE);
      // end-of-candidates lets a check list whose pairs all failed end in "failed".
      void this.#enqueue(() => this.pc.addIceCandidate(null).catch(() => { /* nothing to end yet */ }));
      return;
    }
    if (data.kind === 'offer') {
      if (this.role !== 'answerer') return; // only the offerer offers (no glare, as in the browser client)
      if (this.#remoteSdp !== null) this.#beginRestart();
      void this.#enqueue(async () => {
        const remote = this.#bundled(data.sdp, 'offer');
        if (!remote) return;
        this.#remoteSdp = remote.sdp;
        await this.pc.setRemoteDescription({ type: 'offer', sdp: remote.sdp });
        this.#afterRemoteDescription();
        const created = await this.pc.createAnswer();
        const passive = answerAsDtlsServer(created.sdp);
        const answer = { type: 'answer' as const, sdp: remote.bundled ? passive : withoutBundleGroup(passive) };
        this.#localSdp = answer.sdp;
        this.#opts.sendSignal({ kind: 'answer', sdp: answer.sdp });
        this.#eocSent = false;
        this.#armGatherTimer();
        await this.pc.setLocalDescription(answer);
        if (this.#restarted) this.#markRestartApplied();
      });
    } else {
      void this.#enqueue(async () => {
        if (this.role !== 'offerer' || this.pc.signalingState !== 'have-local-offer') return; // a stale answer
        const remote = this.#bundled(data.sdp, 'answer');
        if (!remote) return;
        this.#remoteSdp = remote.sdp;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: remote.sdp });
        this.#afterRemoteDescription();
        if (this.#restarted) this.#markRestartApplied();
      });
    }
  }

  /**
   * What follows every remote description, offer or answer: werift may have made a new DTLS
   * transport for it, so hold its early handshake records and answer the partner's RTCP XR
   * reference time reports on it (each hook once per transport), take the partner's video in
   * RED (fec.ts), then look for new tracks.
   */
  #afterRemoteDescription(): void {
    this.#disposers.push(...holdEarlyDtls(this.pc, this.#dtlsHeld, () => this.#state === 'closed'));
    this.#disposers.push(...answerReferenceTimeReports(this.pc, this.#xrAnswered, () => this.videoTransceiver?.sender.ssrc ?? this.pc.getTransceivers()[0]?.sender.ssrc));
    this.#disposers.push(...acceptVideoRed(this.pc, this.#redAccepted));
    this.#tracks.scan();
  }

  /**
   * The partner's description in the one-transport shape werift applies (RFC 8843: the bundle
   * tag's transport for every bundled section), or null after failing the call with
   * `CHZ_ERR_NOT_BUNDLED` when it needs a transport per section.
   */
  #bundled(sdp: string, type: 'offer' | 'answer'): { sdp: string; bundled: boolean } | null {
    const r = normalizeBundle(sdp);
    if (!r.ok) {
      const err = peerError('CHZ_ERR_NOT_BUNDLED', `The partner's ${type} ${type === 'offer' ? 'cannot be answered' : 'cannot be used'}: ${r.reason}.`);
      this.#fail(err.message, err);
      return null;
    }
    this.#foreign = r.foreign;
    return r;
  }

  /** A trickled candidate of a transport the bundle does not use (RFC 8843 section 7.2.1). */
  #isForeign(c: { sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null }): boolean {
    return this.#foreign.some((f) => (typeof c.usernameFragment === 'string'
      ? c.usernameFragment === f.ufrag
      : typeof c.sdpMid === 'string' ? c.sdpMid === f.mid : c.sdpMLineIndex === f.index));
  }

  #armGatherTimer(): void {
    if (this.#gatherTimer) clearTimeout(this.#gatherTimer);
    this.#gatherTimer = setTimeout(() => this.#sendEndOfCandidates(), this.#opts.gatherTimeoutMs ?? 5000);
  }

  #sendEndOfCandidates(): void {
    if (this.#eocSent || this.#state === 'closed') return;
    if (this.#gatherTimer) { clearTimeout(this.#gatherTimer); this.#gatherTimer = null; }
    if (this.#localSdp === null) return;
    this.#eocSent = true;
    this.#opts.sendSignal({ kind: 'end-of-candidates' });
  }

  #onConnectionState(s: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (s === 'connected') {
      if (this.#restartTimer) { clearTimeout(this.#restartTimer); this.#restartTimer = null; }
      if (this.#state === 'negotiating' || this.#state === 'restarting') {
        const wasConnected = this.connectedAt !== null;
        this.#to('connected');
        this.connectedAt ??= Date.now();
        void this.#reportConnected(this.#restarted, wasConnected);
      }
    } else if (s === 'failed') {
      // While a restart is being negotiated, "failed" still describes the old ICE generation;
      // once the restart's descriptions are both applied, a failure is final.
      if (this.#state === 'restarting' && !this.#restartApplied) return;
      this.#restartIce();
    }
  }

  async #reportConnected(restarted: boolean, reconnected: boolean): Promise<void> {
    const msFromMatch = Date.now() - this.#opts.matchedAt;
    const pair = await selectedPair(this.pc).catch(() => null);
    if (this.#state === 'closed') return;
    this.safeEmit('connected', {
      candidateType: pair?.remote ?? null,
      localCandidateType: pair?.local ?? null,
      ipFamily: pair?.family ?? null,
      msFromMatch,
      restarted,
      reconnected,
    });
    this.#received.keepAskingForKeyframe();
  }

  /** ICE failed: the offerer restarts ICE once; the answerer waits for that restart. */
  #restartIce(): void {
    if (this.#restarted) {
      this.#fail('ICE failed again after a restart');
      return;
    }
    if (this.role === 'offerer' && this.pc.signalingState !== 'stable') {
      // An offer that was never answered: the partner is not there to restart with.
      this.#fail('ICE failed before the partner answered');
      return;
    }
    this.#beginRestart();
    if (this.role === 'offerer') void this.#enqueue(() => this.#offer(true));
  }

  #markRestartApplied(): void {
    this.#restartApplied = true;
    if (this.#state === 'restarting' && this.pc.connectionState === 'failed') this.#fail('ICE failed again after a restart');
  }

  #beginRestart(): void {
    if (this.#restarted || this.#state === 'closed' || this.#state === 'failed') return;
    this.#restarted = true;
    if (this.#state !== 'new') this.#to('restarting');
    this.safeEmit('ice-restart');
    this.#restartTimer = setTimeout(() => this.#fail('ICE restart did not connect in time'), this.#opts.restartTimeoutMs ?? 10_000);
  }

  #fail(reason: string, error?: ChatzyoError): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#to('failed');
    if (error) this.safeEmit('failed', reason, error);
    else this.safeEmit('failed', reason);
  }

  #onSafetyOutcome(o: SafetyOutcome): void {
    if (o.state === 'verified') {
      this.safety = o.number;
      this.safeEmit('safety', o.number);
    } else {
      this.safeEmit('safety-problem', o);
    }
  }

  /**
   * Sends one chat message (cut to 1,000 characters) on one channel: the partner's in-band
   * `chat` channel when it opened one, else the negotiated one. False when none is open.
   */
  sendChat(text: string): boolean {
    return this.#channels.sendChat(text);
  }

  /** Counts of the partner's video (the H.264 counter when that codec was negotiated). */
  get videoCounts(): ReceiveCounts {
    return this.#received.videoCounts;
  }

  /** Sends one RTCP PLI for the partner's video; false when there is no video to ask about or the call is not connected. */
  requestKeyframe(): boolean {
    const t = this.videoTransceiver;
    const ssrc = t?.receiver.tracks[0]?.ssrc;
    if (!t || ssrc === undefined || this.#state !== 'connected') return false;
    this.#pliSent++;
    t.receiver.sendRtcpPLI(ssrc).catch(() => { /* transport closing */ });
    return true;
  }

  /** A snapshot of this call's numbers. */
  async stats(): Promise<CallStats> {
    const transport = this.#state !== 'closed' ? await transportStats(this.pc) : NO_TRANSPORT_STATS;
    return {
      ...transport,
      video: this.videoCounts, audio: this.audio.snapshot(), pliReceived: this.#pliReceived,
      pliSent: this.#pliSent, videoCodec: this.#received.codec.video, audioCodec: this.#received.codec.audio,
    };
  }

  /** Ends the call: recorder flushed, data channel, peer connection and timers closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const prev = this.#state;
    if (prev !== 'closed') this.#to('closed');
    for (const t of [this.#restartTimer, this.#gatherTimer]) if (t) clearTimeout(t);
    this.#received.stopListening();
    this.#channels.stopListening();
    for (const d of this.#disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
    this.videoTrack?.stop();
    this.audioTrack?.stop();
    await this.#received.close();
    this.#channels.close();
    await this.pc.close().catch(() => { /* closing anyway */ });
  }
}
