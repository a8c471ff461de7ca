/**
 * One call with one partner: a werift RTCPeerConnection, its negotiation (offer/answer with
 * trickle ICE, RFC 8838), the chat data channel, receive-side counters, the optional webm
 * recorder, one ICE restart on failure (RFC 8445 section 2.4 / JSEP section 3.3.2), and stats.
 * A new partner gets a new Call; the media sources outlive it.
 */
import {
  CipherContext, HashAlgorithm, MediaStream, MediaStreamTrack, NamedCurveAlgorithm, RTCCertificate, RTCPeerConnection,
  RTCRtpCodecParameters, SignatureAlgorithm,
  type RTCDataChannel, type RTCRtpTransceiver, type RtpPacket, type RTCPeerConnectionConfig,
} from 'werift';
import { MediaRecorder } from 'werift/nonstandard';
import { safetyNumber, type IceServer, type SignalData } from '../protocol/index.js';
import { TypedEmitter } from './emitter.js';
import { FrameCounter, type ReceiveCounts, type VideoCodec } from './rtp-frames.js';

/** States of one call. */
export const CALL_STATES = ['new', 'negotiating', 'connected', 'restarting', 'failed', 'closed'] as const;
/** One of {@link CALL_STATES}. */
export type CallState = (typeof CALL_STATES)[number];

const TRANSITIONS: Record<CallState, readonly CallState[]> = {
  new: ['negotiating', 'closed'],
  negotiating: ['connected', 'restarting', 'failed', 'closed'],
  connected: ['restarting', 'failed', 'closed'],
  restarting: ['connected', 'failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/**
 * The chat data channel, as the browser client (src/web/peer-call.ts) makes it: label `chat`,
 * negotiated out of band with stream id 0 on both sides (RFC 8831 section 6.5), ordered. No
 * DCEP open handshake, so it does not matter who creates it first.
 */
export const CHAT_CHANNEL = { label: 'chat', id: 0 } as const;
/** Longest chat message sent or accepted, in characters (the browser client's limit). */
export const MAX_CHAT_LENGTH = 1000;

/** The ICE candidate types of RFC 8445 section 5.1.1.1. */
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** Codec parameters offered to the partner. */
export function codecsFor(video: VideoCodec): NonNullable<RTCPeerConnectionConfig['codecs']> {
  const fb = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }];
  return {
    video: [video === 'vp8'
      ? new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: fb })
      : new RTCRtpCodecParameters({
        mimeType: 'video/H264', clockRate: 90000, payloadType: 102, rtcpFeedback: fb,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      })],
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111, parameters: 'minptime=10;useinbandfec=1' })],
  };
}

/**
 * A fresh self-signed ECDSA P-256 DTLS certificate (RFC 8827 section 6.5). Each partner gets
 * its own, so two partners comparing fingerprints cannot tell they met the same peer (werift
 * would otherwise use one certificate for the whole process).
 */
export async function generateCertificate(): Promise<RTCCertificate> {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey(
    { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
    NamedCurveAlgorithm.secp256r1_23,
  );
  return new RTCCertificate(keyPem, certPem, signatureHash);
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
  /** Record what the partner sends to this webm file. */
  recordPath?: string;
  recordSize?: { width: number; height: number };
  /** The DTLS certificate of this call (see {@link generateCertificate}). */
  certificate?: RTCCertificate;
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
  connected: [{ candidateType: CandidateType | null; localCandidateType: CandidateType | null; msFromMatch: number; restarted: boolean; reconnected: boolean }];
  /** The chat channel opened (negotiated, so both sides open it when SCTP is up). */
  'chat-open': [];
  chat: [string];
  safety: [string];
  /** An ICE restart began (we sent or received a restart offer). */
  'ice-restart': [];
  /** Giving up on this partner (ICE failed after a restart, or never connected). */
  failed: [string];
  /** DTLS is up: media can flow (werift's "connected" also waits for SCTP). */
  'media-ready': [];
  /** The partner asked for a keyframe (RTCP PLI). */
  pli: [];
  /** First packet of the partner's `kind` track. */
  'remote-media': ['video' | 'audio'];
  /** The recorder could not write. */
  'record-error': [Error];
};

/** Numbers of one call at one moment. */
export interface CallStats {
  candidateType: CandidateType | null;
  localCandidateType: CandidateType | null;
  rttMs: number | null;
  bytesSent: number;
  bytesReceived: number;
  video: ReceiveCounts;
  audio: ReceiveCounts;
  /** Fraction of our packets the partner reports lost (RTCP RR), 0..1. */
  remoteFractionLost: number | null;
  /** PLIs the partner sent us. */
  pliReceived: number;
}

/** One partner, one RTCPeerConnection. */
export class Call extends TypedEmitter<CallEvents> {
  readonly matchId: string;
  readonly role: 'offerer' | 'answerer';
  readonly pc: RTCPeerConnection;
  /** Our outgoing tracks; the session attaches them to the media sources when connected. */
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioTrack: MediaStreamTrack | null;
  readonly audio = new FrameCounter('audio');
  safety: string | null = null;
  connectedAt: number | null = null;
  #videoCounter: FrameCounter | null = null;
  #state: CallState = 'new';
  #chain: Promise<void> = Promise.resolve();
  #dc: RTCDataChannel | null = null;
  #localSdp: string | null = null;
  #remoteSdp: string | null = null;
  #restarted = false;
  #mediaReady = false;
  readonly #dtlsHeld = new WeakSet<object>();
  /** Both descriptions of the ICE restart are applied: the new generation is checking. */
  #restartApplied = false;
  #restartTimer: NodeJS.Timeout | null = null;
  #gatherTimer: NodeJS.Timeout | null = null;
  #eocSent = false;
  #pliTimer: NodeJS.Timeout | null = null;
  #pliReceived = 0;
  #recorder: MediaRecorder | null = null;
  #recorderStarting = false;
  #remoteTracks: MediaStreamTrack[] = [];
  #mediaSeen = new Set<string>();
  #closing: Promise<void> | null = null;
  readonly #opts: CallOptions;
  readonly #disposers: (() => void)[] = [];

  constructor(opts: CallOptions) {
    super();
    this.#opts = opts;
    this.matchId = opts.matchId;
    this.role = opts.role;
    this.pc = new RTCPeerConnection({
      iceServers: withoutThirdPartyStun(opts.iceServers).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })),
      iceTransportPolicy: opts.relayOnly ? 'relay' : 'all',
      codecs: codecsFor(opts.videoCodec),
      bundlePolicy: 'max-bundle',
      ...(opts.certificate ? { certificates: [opts.certificate] } : {}),
      ...opts.peerConfig,
    } as RTCPeerConnectionConfig);
    const stream = new MediaStream();
    this.videoTrack = opts.sendVideo ? new MediaStreamTrack({ kind: 'video' }) : null;
    this.audioTrack = opts.sendAudio ? new MediaStreamTrack({ kind: 'audio' }) : null;
    // Transceivers first: the answerer's are matched by kind to the offer's m-lines.
    this.#addTransceiver('video', this.videoTrack, stream);
    this.#addTransceiver('audio', this.audioTrack, stream);
    for (const t of this.pc.getTransceivers()) {
      this.#disposers.push(t.sender.onReady.subscribe(() => {
        if (this.#mediaReady || this.#state === 'closed') return;
        this.#mediaReady = true;
        this.emit('media-ready');
      }).unSubscribe);
    }
    this.#dc = this.pc.createDataChannel(CHAT_CHANNEL.label, { negotiated: true, id: CHAT_CHANNEL.id, ordered: true });

    const sub = <T extends unknown[]>(ev: { subscribe: (f: (...a: T) => void) => { unSubscribe: () => void } }, f: (...a: T) => void) => {
      this.#disposers.push(ev.subscribe(f).unSubscribe);
    };
    sub(this.pc.onIceCandidate, (c) => {
      if (this.#state === 'closed') return;
      if (!c) { this.#sendEndOfCandidates(); return; }
      const j = c.toJSON();
      this.#opts.sendSignal({
        kind: 'candidate',
        candidate: { candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null, usernameFragment: j.usernameFragment ?? null },
      });
    });
    sub(this.pc.iceGatheringStateChange, (s) => { if (s === 'complete') this.#sendEndOfCandidates(); });
    sub(this.pc.connectionStateChange, (s) => this.#onConnectionState(s));
    sub(this.pc.onTrack, (track) => this.#onRemoteTrack(track));
  }

  get state(): CallState { return this.#state; }
  /** True once the chat channel is open. */
  get chatOpen(): boolean { return this.#dc?.readyState === 'open'; }
  /** The video transceiver (for its sender's PLI events and its receiver's PLI requests). */
  get videoTransceiver(): RTCRtpTransceiver | undefined { return this.pc.getTransceivers().find((t) => t.kind === 'video'); }

  #to(next: CallState): void {
    if (this.#state === next) return;
    if (!TRANSITIONS[this.#state].includes(next)) throw new Error(`Call ${this.matchId}: cannot go from state ${this.#state} to ${next}`);
    this.#state = next;
    this.emit('state', next);
  }

  #addTransceiver(kind: 'video' | 'audio', track: MediaStreamTrack | null, stream: MediaStream): void {
    if (track) {
      stream.addTrack(track);
      const t = this.pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
      this.#disposers.push(t.sender.onPictureLossIndication.subscribe(() => {
        this.#pliReceived++;
        this.emit('pli');
      }).unSubscribe);
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
    if (this.#state !== 'new') throw new Error(`Call.start() is not allowed in state ${this.#state}`);
    this.#to('negotiating');
    this.#armGatherTimer();
    this.#useChannel(this.#dc!);
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
        this.#remoteSdp = data.sdp;
        await this.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        this.#holdEarlyDtls();
        this.#scanRemoteTracks();
        const created = await this.pc.createAnswer();
        // Answer as the DTLS server (RFC 5763 section 5: the answerer picks active or passive).
        // werift's DTLS client waits a fixed 100 ms before its ClientHello; as the server it
        // answers the partner's ClientHello at once, which makes calls with browsers faster.
        const answer = { type: 'answer' as const, sdp: created.sdp.replace(/^a=setup:active(\r?)$/gm, 'a=setup:passive$1') };
        this.#localSdp = answer.sdp;
        this.#opts.sendSignal({ kind: 'answer', sdp: answer.sdp });
        this.#eocSent = false;
        this.#armGatherTimer();
        await this.pc.setLocalDescription(answer);
        if (this.#restarted) this.#markRestartApplied();
        await this.#computeSafety();
      });
    } else {
      void this.#enqueue(async () => {
        if (this.role !== 'offerer' || this.pc.signalingState !== 'have-local-offer') return; // a stale answer
        this.#remoteSdp = data.sdp;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
        this.#holdEarlyDtls();
        this.#scanRemoteTracks();
        if (this.#restarted) this.#markRestartApplied();
        await this.#computeSafety();
      });
    }
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

  async #computeSafety(): Promise<void> {
    if (!this.#localSdp || !this.#remoteSdp) return;
    try {
      const n = await safetyNumber(this.#localSdp, this.#remoteSdp);
      if (n !== this.safety) {
        this.safety = n;
        this.emit('safety', n);
      }
    } catch {
      // An SDP without a fingerprint cannot set up DTLS anyway; the call fails on its own.
    }
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
    const pair = await this.#selectedPair().catch(() => null);
    if (this.#state === 'closed') return;
    this.emit('connected', {
      candidateType: pair?.remote ?? null,
      localCandidateType: pair?.local ?? null,
      msFromMatch,
      restarted,
      reconnected,
    });
    this.#requestKeyframeUntilSeen();
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
    this.emit('ice-restart');
    this.#restartTimer = setTimeout(() => this.#fail('ICE restart did not connect in time'), this.#opts.restartTimeoutMs ?? 10_000);
  }

  #fail(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#to('failed');
    this.emit('failed', reason);
  }

  #useChannel(dc: RTCDataChannel): void {
    this.#dc = dc;
    const onState = (s: string) => { if (s === 'open') this.emit('chat-open'); };
    this.#disposers.push(dc.stateChanged.subscribe(onState).unSubscribe);
    this.#disposers.push(dc.onMessage.subscribe((m) => {
      const text = (typeof m === 'string' ? m : m.toString('utf8')).slice(0, MAX_CHAT_LENGTH);
      this.emit('chat', text);
    }).unSubscribe);
    if (dc.readyState === 'open') this.emit('chat-open');
  }

  /** Sends one chat message; false when the channel is not open. */
  sendChat(text: string): boolean {
    const dc = this.#dc;
    if (!dc || dc.readyState !== 'open') return false;
    dc.send(text.slice(0, MAX_CHAT_LENGTH));
    return true;
  }

  /**
   * werift creates its DTLS server only once its own ICE agent has finished; a ClientHello
   * the partner sends as soon as *its* agent is done arrives first and is dropped, which costs
   * a browser's 50 ms DTLS retransmission timer (often twice). Hold DTLS records (RFC 7983:
   * first byte 20-63) that arrive before the handshake starts and hand them over once it has.
   */
  #holdEarlyDtls(): void {
    for (const dtls of this.pc.dtlsTransports) {
      if (this.#dtlsHeld.has(dtls) || dtls.state !== 'new') continue;
      this.#dtlsHeld.add(dtls);
      const ice = dtls.iceTransport.connection;
      const early: Buffer[] = [];
      let holding = true;
      this.#disposers.push(ice.onData.subscribe((buf: Buffer) => {
        if (holding && dtls.state === 'new' && buf.length > 0 && buf[0]! >= 20 && buf[0]! <= 63 && early.length < 32) early.push(buf);
      }).unSubscribe);
      this.#disposers.push(dtls.onStateChange.subscribe((state: string) => {
        if (!holding || state !== 'connecting') return;
        holding = false;
        // The DTLS endpoint is built right after this state change, in the same task.
        setImmediate(() => {
          if (this.#state === 'closed') return;
          for (const buf of early.splice(0)) ice.onData.execute(buf);
        });
      }).unSubscribe);
    }
  }

  /**
   * werift does not announce every remote track through onTrack (a Firefox offer's bundle-only
   * video m-line gets a receiver track but no event), so look at the receivers too.
   */
  #scanRemoteTracks(): void {
    for (const t of this.pc.getTransceivers()) for (const track of t.receiver.tracks) this.#onRemoteTrack(track);
  }

  #onRemoteTrack(track: MediaStreamTrack): void {
    // werift announces the same track again when a restart offer is applied.
    if (this.#remoteTracks.includes(track)) return;
    this.#remoteTracks.push(track);
    const kind = track.kind as 'video' | 'audio';
    this.#disposers.push(track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      if (kind === 'video') {
        this.#videoCounter ??= new FrameCounter(track.codec?.name.toLowerCase() === 'h264' ? 'h264' : 'vp8');
        this.#videoCounter.pushParsed(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length);
      } else {
        this.audio.pushParsed(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length);
      }
      if (!this.#mediaSeen.has(kind)) {
        this.#mediaSeen.add(kind);
        this.emit('remote-media', kind);
        void this.#maybeStartRecorder();
      }
    }).unSubscribe);
  }

  /** Counts of the partner's video (the H.264 counter when that codec was negotiated). */
  get videoCounts(): ReceiveCounts { return this.#videoCounter?.snapshot() ?? { packets: 0, bytes: 0, frames: 0, keyframes: 0, lost: 0 }; }

  /**
   * Asks the partner for a keyframe (RTCP PLI) every 500 ms until one arrives, so a recorder
   * and the counters start on a picture at once (browsers do the same for a new stream).
   */
  #requestKeyframeUntilSeen(): void {
    if (this.#pliTimer) return;
    let tries = 0;
    const tick = () => {
      if (this.#state === 'closed' || (this.#videoCounter?.keyframes ?? 0) > 0 || tries++ >= 20) { this.#pliTimer = null; return; }
      this.requestKeyframe();
      this.#pliTimer = setTimeout(tick, 500);
    };
    this.#pliTimer = setTimeout(tick, 300);
  }

  /** Sends one RTCP PLI for the partner's video. */
  requestKeyframe(): void {
    const t = this.videoTransceiver;
    const ssrc = t?.receiver.tracks[0]?.ssrc;
    if (!t || ssrc === undefined || this.#state !== 'connected') return;
    t.receiver.sendRtcpPLI(ssrc).catch(() => { /* transport closing */ });
  }

  async #maybeStartRecorder(): Promise<void> {
    const path = this.#opts.recordPath;
    if (!path || this.#recorder || this.#recorderStarting) return;
    const expected = this.#remoteTracks.filter((t) => t.kind === 'video' || t.kind === 'audio');
    // Wait for media on every remote track, but not forever: a partner without a microphone
    // still gets its video recorded.
    if (expected.some((t) => !this.#mediaSeen.has(t.kind))) {
      if (!this.#mediaSeen.has('video')) return;
      this.#recorderStarting = true;
      await new Promise((r) => setTimeout(r, 1000));
      this.#recorderStarting = false;
      if (this.#recorder || this.#state === 'closed') return;
    }
    const tracks = expected.filter((t) => this.#mediaSeen.has(t.kind)).sort((a) => (a.kind === 'video' ? -1 : 1));
    this.#recorder = new MediaRecorder({
      path,
      tracks,
      width: this.#opts.recordSize?.width ?? 640,
      height: this.#opts.recordSize?.height ?? 480,
      disableLipSync: true,
    });
    this.#recorder.onError.subscribe((e) => this.emit('record-error', e));
    // The recorder needs a keyframe to begin its first cluster.
    this.requestKeyframe();
  }

  async #selectedPair(): Promise<{ local: CandidateType | null; remote: CandidateType | null; rtt: number | null; id: string } | null> {
    const report = await this.pc.getStats();
    const all = [...report.values()] as unknown as Record<string, unknown>[];
    const byId = new Map(all.map((s) => [s.id as string, s]));
    let pair: Record<string, unknown> | undefined;
    for (const s of all) {
      if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair = byId.get(s.selectedCandidatePairId);
    }
    if (!pair) {
      const pairs = all.filter((s) => s.type === 'candidate-pair' && s.nominated);
      pairs.sort((a, b) => Number(b.bytesSent ?? 0) + Number(b.bytesReceived ?? 0) - Number(a.bytesSent ?? 0) - Number(a.bytesReceived ?? 0));
      pair = pairs[0];
    }
    if (!pair) return null;
    const local = byId.get(pair.localCandidateId as string);
    const remote = byId.get(pair.remoteCandidateId as string);
    const rtt = typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
    return {
      id: pair.id as string,
      local: (local?.candidateType as CandidateType | undefined) ?? null,
      remote: (remote?.candidateType as CandidateType | undefined) ?? null,
      rtt,
    };
  }

  /** A snapshot of this call's numbers. */
  async stats(): Promise<CallStats> {
    let bytesSent = 0;
    let bytesReceived = 0;
    let rttMs: number | null = null;
    let remoteFractionLost: number | null = null;
    let candidateType: CandidateType | null = null;
    let localCandidateType: CandidateType | null = null;
    if (this.#state !== 'closed') {
      const report = await this.pc.getStats();
      for (const s of report.values() as Iterable<Record<string, unknown>>) {
        if (s.type === 'transport') {
          bytesSent += Number(s.bytesSent ?? 0);
          bytesReceived += Number(s.bytesReceived ?? 0);
        }
        if (s.type === 'remote-inbound-rtp' && s.kind === 'video') {
          if (typeof s.fractionLost === 'number') remoteFractionLost = s.fractionLost;
          if (rttMs === null && typeof s.roundTripTime === 'number') rttMs = s.roundTripTime * 1000;
        }
      }
      const pair = await this.#selectedPair().catch(() => null);
      if (pair) {
        candidateType = pair.remote;
        localCandidateType = pair.local;
        if (pair.rtt !== null) rttMs = pair.rtt;
      }
      if (bytesSent === 0 && bytesReceived === 0) {
        for (const s of report.values() as Iterable<Record<string, unknown>>) {
          if (s.type === 'candidate-pair' && s.id === pair?.id) {
            bytesSent = Number(s.bytesSent ?? 0);
            bytesReceived = Number(s.bytesReceived ?? 0);
          }
        }
      }
    }
    return {
      candidateType, localCandidateType, rttMs, bytesSent, bytesReceived,
      video: this.videoCounts, audio: this.audio.snapshot(), remoteFractionLost, pliReceived: this.#pliReceived,
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
    for (const t of [this.#restartTimer, this.#gatherTimer, this.#pliTimer]) if (t) clearTimeout(t);
    for (const d of this.#disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
    this.videoTrack?.stop();
    this.audioTrack?.stop();
    if (this.#recorder) {
      await this.#recorder.stop().catch((e: unknown) => this.emit('record-error', e as Error));
    }
    try { this.#dc?.close(); } catch { /* transport already gone */ }
    await this.pc.close().catch(() => { /* closing anyway */ });
  }
}

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 when it is given no STUN server.
 * A chatzyo peer must talk only to the servers it was told about, so when the list has no STUN
 * URL we give it an unroutable loopback placeholder (the discard port): no server-reflexive
 * candidate, and no packet to a third party.
 */
export function withoutThirdPartyStun(servers: readonly IceServer[]): IceServer[] {
  const hasStun = servers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^stuns?:/i.test(u)));
  return hasStun ? [...servers] : [{ urls: 'stun:127.0.0.1:9' }, ...servers];
}
