/**
 * The headless peer: one explicit state machine (idle -> queued -> negotiating -> connected ->
 * ended) that joins a hub or a private call through a {@link SignalClient}, makes one
 * {@link Call} per partner, feeds it from long-lived {@link MediaSource}s, and reports what
 * happens on a typed observer that the CLI (ink or JSON lines) and the bots subscribe to.
 */
import path from 'node:path';
import type { RTCPeerConnectionConfig } from 'werift';
import { ChatzyoError, type IceServer, type Landmark, type LandmarkRtts, type PartnerLeftReason, type ReportReason, type ServerMessage } from '../protocol/index.js';
import { measureLandmarks } from './landmarks.js';
import { isCrossedSkip, isFatalServerError, TypedEmitter, type BackoffOptions, type SignalLoss } from '../protocol/client/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import type { RTCCertificate } from 'werift';
import { Call, generateCertificate, type CallStats, type CandidateType } from './call.js';
import type { IpFamily } from './ip-family.js';
import { peerError } from './errors.js';
import { resolveFfmpeg, DEFAULT_VIDEO, type AudioSourceSpec, type VideoEncodeOptions, type VideoSourceSpec } from './ffmpeg.js';
import { MediaSource, type MediaSink } from './media-source.js';
import { VideoAdaptation, type AdaptationSnapshot } from './adaptation.js';
import { defaultLadder } from './ladder.js';
import { SignalClient } from './signal-client.js';
import { estimateMos } from '../quality/mos.js';

/** States of a peer session. */
export const PEER_SESSION_STATES = ['idle', 'queued', 'negotiating', 'connected', 'ended'] as const;
/** One of {@link PEER_SESSION_STATES}. */
export type PeerSessionState = (typeof PEER_SESSION_STATES)[number];

/** The allowed moves of a {@link PeerSession}. */
export const PEER_SESSION_TRANSITIONS: TransitionTable<PeerSessionState> = {
  idle: ['queued', 'negotiating', 'ended'],
  queued: ['negotiating', 'idle', 'ended'],
  negotiating: ['connected', 'queued', 'idle', 'ended'],
  connected: ['negotiating', 'queued', 'idle', 'ended'],
  ended: [],
};

/** Where the session looks for a partner. */
export type PeerTarget =
  | { kind: 'hub'; hub: string; interests?: string[] }
  | { kind: 'private-join'; code: string }
  | { kind: 'private-create' };

/** Options of a {@link PeerSession}. */
export interface PeerSessionOptions {
  /** Server URL, e.g. http://localhost:8080. */
  server: string;
  target: PeerTarget;
  /** null: send no video. */
  video: VideoSourceSpec | null;
  /** null: send no audio. */
  audio: AudioSourceSpec | null;
  encode?: Partial<VideoEncodeOptions>;
  audioBitrateKbps?: number;
  /**
   * Adapt the video to the path (default true): encode a ladder of renditions and follow the
   * bandwidth estimate (src/peer/adaptation.ts). false: one rendition at `encode`'s bitrate.
   */
  adapt?: boolean;
  /**
   * Answer the partner's NACKs from the send history (default true). false leaves lost video
   * packets to the next keyframe: what retransmission buys is measured against it (bench:quality's
   * `cli-nonack-chromium` pair). Only with `adapt` (the ladder's sender does the resending).
   */
  retransmit?: boolean;
  /**
   * FEC for the video when the partner negotiated RED and ULPFEC (src/peer/fec.ts): `auto`
   * (default) on a path with a round trip of 150 ms or more that lost a packet lately, `on`
   * always, `off` never. Only with `adapt`.
   */
  fec?: 'auto' | 'on' | 'off';
  /**
   * Time the server's landmarks and send the round trips with `join`, so the server can pair
   * this peer with a stranger near it (default true; `connect --no-nearby` turns it off).
   */
  nearby?: boolean;
  /** Rewrites the landmarks before they are timed (the lab puts each behind a delay of its own). */
  mapLandmarks?: (landmarks: Landmark[]) => Landmark[];
  relayOnly?: boolean;
  /** Record each partner to this webm file (the second partner to NAME-2.webm, and so on). */
  recordPath?: string;
  /** Explicit ffmpeg path (otherwise CHATZYO_FFMPEG, ffmpeg-static, PATH). */
  ffmpegPath?: string;
  env?: NodeJS.ProcessEnv;
  /** End after this many partners. */
  maxPartners?: number;
  /** End with CHZ_ERR_CONNECT_TIMEOUT when no call connects within this many ms of start. */
  connectTimeoutMs?: number;
  /** Give up on a partner that does not connect within this many ms of the match (default 20 s). */
  negotiationTimeoutMs?: number;
  gatherTimeoutMs?: number;
  restartTimeoutMs?: number;
  /** Call the safety number unavailable when a partner's side of the exchange has not come this long after its channel opened (default 10 s). */
  safetyTimeoutMs?: number;
  statsIntervalMs?: number;
  clientName?: string;
  backoff?: BackoffOptions;
  reconnectTimeoutMs?: number;
  /** Use this IP family only, for the server connection and the calls' candidates (default: both). */
  ipFamily?: IpFamily;
  /** CA certificates for wss:// (`connect --ca`: see `trustedCas`); default: Node's own store. */
  ca?: string[];
  /** Extra werift settings for every call (port range; tests filter candidate pairs). */
  peerConfig?: Partial<RTCPeerConnectionConfig>;
  /** Rewrites each match's ICE servers before the call uses them (the network lab points TURN at its relay: src/lab/ice.ts). */
  mapIceServers?: (servers: IceServer[]) => IceServer[];
  /** The anonymous token an earlier run was given by this server (`connect` keeps it in its cache dir). */
  token?: string;
  /** A signed over-18 assertion, for a server with `--age-verifier`. */
  ageAssertion?: string;
}

/** One line of numbers per second while in a call. */
export interface PeerStats {
  matchId: string;
  partner: number;
  candidateType: CandidateType | null;
  localCandidateType: CandidateType | null;
  /** IP family of the selected candidate pair. */
  ipFamily: IpFamily | null;
  rttMs: number | null;
  framesReceived: number;
  keyframesReceived: number;
  bytesReceived: number;
  packetsReceived: number;
  packetsLost: number;
  /** Inbound loss over the last interval, percent. */
  lossPercent: number;
  framesSent: number;
  bytesSent: number;
  audioPacketsReceived: number;
  /** Frames per second received over the last interval. */
  fps: number;
  sendKbps: number;
  recvKbps: number;
  pliReceived: number;
  /** Keyframe requests (PLI) we sent while the partner's video did not decode. */
  pliSent: number;
  /** What the partner's video is, read from its bitstream (VP8 key frame header, H.264 SPS): null until a keyframe said. */
  frameWidth: number | null;
  frameHeight: number | null;
  /** Codec of the partner's video as negotiated for what arrives (`VP8`, `H264`), and of its audio (`opus`); null until it arrives. */
  codec: string | null;
  audioCodec: string | null;
  /** Interarrival jitter of the partner's audio, ms (null until audio came). */
  jitterMs?: number | null;
  /** Estimated audio MOS from RTT, jitter and this interval's loss (src/quality/mos.ts: the simplified E-model); null without an RTT. */
  mos?: number | null;
  /** The video rung sent now (0 = best; null without adaptation), its size and target bitrate. */
  rung?: number | null;
  rungSize?: string | null;
  targetKbps?: number | null;
  /** The bandwidth estimate toward the partner, kbit/s (null without adaptation). */
  estimateKbps?: number | null;
  /** The video goes out with FEC (src/peer/fec.ts; null without adaptation). */
  fec?: boolean | null;
}

/** Why a session ended. */
export type EndReason = 'closed' | 'duration' | 'max-partners' | 'partner-left' | 'error';

/** Events of a {@link PeerSession}. */
export type PeerSessionEvents = {
  state: [PeerSessionState];
  welcome: [{ sessionId: string; turn: boolean; hubs: string[]; reconnected: boolean }];
  queued: [{ hub: string; position: number }];
  'private-created': [{ code: string; expiresAt: number }];
  matched: [{ matchId: string; role: 'offerer' | 'answerer'; hub: string | null; private: boolean; commonInterests: string[]; partner: number }];
  connected: [{ matchId: string; candidateType: CandidateType | null; localCandidateType: CandidateType | null; ipFamily: IpFamily | null; msFromMatch: number; restarted: boolean; reconnected: boolean }];
  /** The safety number, verified with the partner (docs/safety-number.md). */
  safety: [{ matchId: string; safetyNumber: string }];
  /**
   * No safety number for this call: `failed` (the partner's nonce did not open its commitment,
   * or it broke the exchange: someone may be in the middle) or `unavailable` (it did not take part).
   */
  'safety-problem': [{ matchId: string; state: 'failed' | 'unavailable'; reason: string }];
  'chat-open': [{ matchId: string }];
  chat: [{ matchId: string; text: string }];
  'chat-sent': [{ matchId: string; text: string }];
  /** The partner said what it sends (its camera and microphone on or off), on the call-state channel. */
  'partner-media': [{ matchId: string; camera: boolean; mic: boolean }];
  /** The server says the partner is gone. */
  'partner-left': [{ matchId: string; reason: PartnerLeftReason }];
  /** We pressed Next. */
  next: [{ matchId: string }];
  /** This side reported the partner (the server counts it; the call ends and we look for another). */
  reported: [{ matchId: string; reason: ReportReason }];
  /**
   * We gave up on a partner (ICE failed after one restart, no connection in time, or a
   * description we cannot answer). `code` when the reason has one (`CHZ_ERR_NOT_BUNDLED`).
   */
  'gave-up': [{ matchId: string; reason: string; code?: string }];
  'ice-restart': [{ matchId: string }];
  'remote-media': [{ matchId: string; kind: 'video' | 'audio' }];
  stats: [PeerStats];
  /** The signaling connection dropped; it reconnects after `delayMs`. */
  disconnected: [{ code: number; willReconnect: boolean; delayMs: number; attempt: number }];
  /** An `error` frame from the server that did not end the session. */
  'server-error': [{ code: string; message: string }];
  /** Something went wrong that does not end the session (recorder, a PLI that could not be sent). */
  warning: [{ message: string }];
  ended: [{ reason: EndReason; error?: ChatzyoError }];
};

/** The headless peer. */
export class PeerSession extends TypedEmitter<PeerSessionEvents> {
  readonly options: PeerSessionOptions;
  readonly encode: VideoEncodeOptions;
  readonly #machine = new StateMachine<PeerSessionState>('PeerSession', PEER_SESSION_TRANSITIONS, 'idle', 'CHZ_ERR_PEER_STATE');
  #signal: SignalClient | null = null;
  #video: MediaSource | null = null;
  #audio: MediaSource | null = null;
  #call: Call | null = null;
  #callPrivate = false;
  #sinks: MediaSink[] = [];
  #videoSink: MediaSink | null = null;
  #adaptation: VideoAdaptation | null = null;
  /** The current partner says its page is hidden: our video to it is paused (issue 14). */
  #partnerHidden = false;
  #partners = 0;
  #everConnected = false;
  #started = false;
  #connectTimer: NodeJS.Timeout | null = null;
  /** Joins again once the server's skip limit allows (after CHZ_ERR_NEXT_RATE_LIMITED). */
  #retryJoinTimer: NodeJS.Timeout | null = null;
  /** Round trips to the landmarks, sent with every join (null: none measured, or nearby off). */
  #rtts: LandmarkRtts | null = null;
  #negotiationTimer: NodeJS.Timeout | null = null;
  #statsTimer: NodeJS.Timeout | null = null;
  #last = { at: 0, framesReceived: 0, bytesReceived: 0, bytesSent: 0, packetsReceived: 0, packetsLost: 0 };
  /** The next partner's DTLS certificate, made ahead so a match does not wait for it. */
  #nextCertificate: RTCCertificate | null = null;
  #ending: Promise<void> | null = null;
  #endResult: { reason: EndReason; error?: ChatzyoError } | null = null;
  readonly done: Promise<{ reason: EndReason; error?: ChatzyoError }>;
  #resolveDone!: (r: { reason: EndReason; error?: ChatzyoError }) => void;

  constructor(options: PeerSessionOptions) {
    super();
    this.options = options;
    this.encode = { ...DEFAULT_VIDEO, ...options.encode };
    this.done = new Promise((resolve) => { this.#resolveDone = resolve; });
  }

  get state(): PeerSessionState { return this.#machine.state; }
  /** Partners matched so far. */
  get partners(): number { return this.#partners; }
  /** The anonymous token the server gave in its latest welcome (to keep for the next run). */
  get token(): string | undefined { return this.#signal?.token; }
  /** The current call, if any. */
  get call(): Call | null { return this.#call; }
  /** The video encoder (null with no video). */
  get videoSource(): MediaSource | null { return this.#video; }
  get audioSource(): MediaSource | null { return this.#audio; }
  get signal(): SignalClient | null { return this.#signal; }

  /** Moves the state machine (CHZ_ERR_PEER_STATE on a move its table does not allow). */
  #to(next: PeerSessionState): void {
    if (this.#machine.to(next) !== next) this.safeEmit('state', next);
  }

  #assertState(method: string, allowed: readonly PeerSessionState[]): void {
    if (!allowed.includes(this.state)) {
      throw peerError('CHZ_ERR_PEER_STATE', `PeerSession.${method}() is not allowed in state ${this.state} (allowed: ${allowed.join(', ')}).`);
    }
  }

  /**
   * Starts the encoders and the signaling connection, then joins. Rejects (and cleans up) with
   * CHZ_ERR_FFMPEG_MISSING, CHZ_ERR_DEVICE_MISSING, CHZ_ERR_FFMPEG_FAILED or
   * CHZ_ERR_SERVER_UNREACHABLE; after it resolves, the end arrives through `done`.
   */
  async start(): Promise<void> {
    this.#assertState('start', ['idle']);
    if (this.#started) throw peerError('CHZ_ERR_PEER_STATE', 'PeerSession.start() was already called.');
    this.#started = true;
    const o = this.options;
    try {
      const needFfmpeg = o.video !== null || o.audio !== null;
      const ffmpeg = needFfmpeg ? resolveFfmpeg({ explicit: o.ffmpegPath, env: o.env }).path : '';
      const signal = new SignalClient({
        url: o.server, clientName: o.clientName ?? 'chatzyo-peer', backoff: o.backoff, reconnectTimeoutMs: o.reconnectTimeoutMs, family: o.ipFamily, ca: o.ca,
        token: o.token, ageAssertion: o.ageAssertion,
      });
      this.#signal = signal;
      signal.on('welcome', (w, { reconnected }) => {
        if (!reconnected) return; // the first welcome is reported once the encoders run too
        this.safeEmit('welcome', { sessionId: w.sessionId, turn: w.turn, hubs: w.hubs, reconnected });
        this.#join();
      });
      signal.on('message', (m) => {
        try {
          this.#onMessage(m);
        } catch (err) {
          // A bug, not a condition to recover from; say so instead of losing the message quietly.
          this.safeEmit('warning', { message: `internal error while handling "${m.type}": ${(err as Error)?.stack ?? String(err)}` });
        }
      });
      signal.on('invalid', ({ reason, frame }) => this.safeEmit('warning', { message: `dropped a server frame: ${reason} (${frame})` }));
      signal.on('disconnected', (d) => this.#onSignalLost(d));
      signal.on('failed', (err) => void this.#end('error', err));
      this.#prepareCertificate();
      const results = await Promise.allSettled([
        signal.connect(),
        o.video ? MediaSource.start({ kind: 'video', source: o.video, encode: this.encode, ladder: o.adapt === false ? undefined : defaultLadder(this.encode) }, { ffmpegPath: ffmpeg }) : Promise.resolve(null),
        o.audio ? MediaSource.start({ kind: 'audio', source: o.audio, bitrateKbps: o.audioBitrateKbps }, { ffmpegPath: ffmpeg }) : Promise.resolve(null),
      ]);
      const [, v, a] = results;
      if (this.state === 'ended') {
        // close() came while we were starting: it could not see these yet.
        await Promise.all([v, a].map((r) => (r.status === 'fulfilled' ? r.value?.close() : undefined)));
        return;
      }
      if (v.status === 'fulfilled') this.#video = v.value;
      if (a.status === 'fulfilled') this.#audio = a.value;
      // Media errors first: a missing camera says more than an unreachable server.
      const failure = [results[1], results[2], results[0]].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failure) throw failure.reason;
      for (const src of [this.#video, this.#audio]) {
        src?.on('error', (err) => void this.#end('error', peerError('CHZ_ERR_FFMPEG_FAILED', err.message, err)));
      }
      const w = signal.welcome!;
      this.safeEmit('welcome', { sessionId: w.sessionId, turn: w.turn, hubs: w.hubs, reconnected: false });
      if (o.relayOnly && !w.turn) {
        this.safeEmit('warning', { message: '--relay-only but the server announces no TURN server: no call can connect.' });
      }
      if (o.connectTimeoutMs) {
        this.#connectTimer = setTimeout(() => {
          if (!this.#everConnected) {
            void this.#end('error', peerError('CHZ_ERR_CONNECT_TIMEOUT', `No peer connection within ${Math.round(o.connectTimeoutMs! / 100) / 10} s (--connect-timeout).`));
          }
        }, o.connectTimeoutMs);
      }
      this.#statsTimer = setInterval(() => void this.#emitStats(), o.statsIntervalMs ?? 1000);
      if (o.nearby !== false && w.landmarks?.length) {
        const rtts = await measureLandmarks(o.mapLandmarks ? o.mapLandmarks(w.landmarks) : w.landmarks);
        if ((this.state as string) === 'ended') return; // close() may come while the landmarks are timed
        this.#rtts = Object.keys(rtts).length ? rtts : null;
      }
      this.#join();
    } catch (err) {
      const closedMeanwhile = this.#endResult !== null && this.#endResult.reason !== 'error';
      await this.#end('error', err as ChatzyoError);
      if (closedMeanwhile) return; // close() during start is a clean end, not a failure
      throw err;
    }
  }

  #join(): void {
    const t = this.options.target;
    if (this.state === 'ended') return;
    // Whatever joins first (a reconnect, partner-left) makes a pending retry a duplicate.
    if (this.#retryJoinTimer) { clearTimeout(this.#retryJoinTimer); this.#retryJoinTimer = null; }
    if (t.kind === 'hub') this.#signal?.send({ type: 'join', hub: t.hub, ...(t.interests?.length ? { interests: t.interests } : {}), ...(this.#rtts ? { rtts: this.#rtts } : {}) });
    else if (t.kind === 'private-join') this.#signal?.send({ type: 'private-join', code: t.code });
    else this.#signal?.send({ type: 'private-create' });
  }

  #onMessage(m: ServerMessage): void {
    if (this.state === 'ended') return;
    switch (m.type) {
      case 'queued':
        if (this.#call) return; // a late 'queued' racing a match
        this.#to('queued');
        this.safeEmit('queued', { hub: m.hub, position: m.position });
        return;
      case 'private-created':
        this.#to('queued');
        this.safeEmit('private-created', { code: m.code, expiresAt: m.expiresAt });
        return;
      case 'matched':
        this.#onMatched(m);
        return;
      case 'signal':
        if (this.#call && this.#call.matchId === m.matchId) this.#call.handleSignal(m.data);
        return;
      case 'partner-left':
        if (!this.#call || this.#call.matchId !== m.matchId) return;
        this.safeEmit('partner-left', { matchId: m.matchId, reason: m.reason });
        void this.#afterCall('partner-left');
        return;
      case 'error':
        if (isCrossedSkip(m) && this.state === 'queued' && !this.#call) {
          this.#join(); // our Next (or give-up) crossed the partner's: the server left us in no queue
          return;
        }
        if (isFatalServerError(m.code)) {
          void this.#end('error', ChatzyoError.fromWire(m));
          return;
        }
        this.safeEmit('server-error', { code: m.code, message: m.message });
        if (m.code === 'CHZ_ERR_NEXT_RATE_LIMITED' && !this.#call && this.options.target.kind === 'hub') {
          // The server wants us to wait before another partner. A refused Next left us in the
          // old match on the server: leave it. Then join again when the server allows.
          if (m.ref === 'next') this.#signal?.send({ type: 'leave' });
          if (this.#retryJoinTimer) clearTimeout(this.#retryJoinTimer);
          this.#retryJoinTimer = setTimeout(() => { this.#retryJoinTimer = null; this.#join(); }, (m.retryAfterMs ?? 5000) + 100);
        }
        return;
      default:
        return;
    }
  }

  #onMatched(m: Extract<ServerMessage, { type: 'matched' }>): void {
    if (this.#call) void this.#closeCall();
    this.#partners++;
    this.#partnerHidden = false;
    const matchedAt = Date.now();
    const o = this.options;
    const welcome = this.#signal!.welcome!;
    const certificate = this.#nextCertificate ?? undefined;
    this.#nextCertificate = null;
    this.#prepareCertificate();
    const call = new Call({
      certificate,
      matchId: m.matchId,
      role: m.role,
      // TURN credentials come with the match (protocol version 2); welcome's are STUN only.
      iceServers: o.mapIceServers ? o.mapIceServers(m.iceServers ?? welcome.iceServers) : m.iceServers ?? welcome.iceServers,
      relayOnly: !!o.relayOnly,
      videoCodec: this.encode.codec,
      sendVideo: !!this.#video,
      sendAudio: !!this.#audio,
      sendSignal: (data) => { if (this.#call === call) this.#signal?.send({ type: 'signal', matchId: m.matchId, data }); },
      matchedAt,
      gatherTimeoutMs: o.gatherTimeoutMs,
      restartTimeoutMs: o.restartTimeoutMs,
      safetyTimeoutMs: o.safetyTimeoutMs,
      recordPath: this.#recordPathFor(this.#partners),
      ipFamily: o.ipFamily,
      peerConfig: o.peerConfig,
    });
    this.#call = call;
    this.#callPrivate = m.private;
    call.onListenerError = this.onListenerError;
    call.on('connected', (c) => {
      if (this.#call !== call) return;
      if (this.#negotiationTimer) { clearTimeout(this.#negotiationTimer); this.#negotiationTimer = null; }
      this.#everConnected = true;
      if (this.#connectTimer) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
      if (!c.reconnected && this.#sinks.length === 0) this.#attachMedia(call);
      this.#to('connected');
      this.#last = { at: Date.now(), framesReceived: 0, bytesReceived: 0, bytesSent: 0, packetsReceived: 0, packetsLost: 0 };
      this.safeEmit('connected', { matchId: m.matchId, ...c });
    });
    // Media flows as soon as DTLS is up, before werift also finishes SCTP for the chat.
    call.on('media-ready', () => { if (this.#call === call && this.#sinks.length === 0) this.#attachMedia(call); });
    call.on('ice-restart', () => {
      if (this.#call !== call) return;
      if (this.state === 'connected') this.#to('negotiating');
      this.safeEmit('ice-restart', { matchId: m.matchId });
    });
    call.on('failed', (reason, error) => {
      if (this.#call !== call) return;
      this.#giveUp(reason, error?.code);
    });
    call.on('pli', () => { if (this.#call === call && this.#videoSink) this.#video?.requestKeyframe(this.#videoSink); });
    call.on('chat', (text) => this.safeEmit('chat', { matchId: m.matchId, text }));
    call.on('chat-open', () => this.safeEmit('chat-open', { matchId: m.matchId }));
    call.on('partner-media', (s) => {
      if (this.#call === call) this.#setPartnerHidden(s.hidden === true);
      this.safeEmit('partner-media', { matchId: m.matchId, camera: s.camera, mic: s.mic });
    });
    call.on('safety', (n) => this.safeEmit('safety', { matchId: m.matchId, safetyNumber: n }));
    call.on('safety-problem', (p) => this.safeEmit('safety-problem', { matchId: m.matchId, state: p.state, reason: p.reason }));
    call.on('remote-media', (kind) => this.safeEmit('remote-media', { matchId: m.matchId, kind }));
    call.on('record-error', (e) => this.safeEmit('warning', { message: `recorder: ${e.message}` }));
    this.#to('negotiating');
    this.safeEmit('matched', { matchId: m.matchId, role: m.role, hub: m.hub, private: m.private, commonInterests: m.commonInterests, partner: this.#partners });
    if (this.#call !== call) return; // a listener pressed Next or closed the session
    const negotiationMs = o.negotiationTimeoutMs ?? 20_000;
    this.#negotiationTimer = setTimeout(() => {
      if (this.#call === call && call.connectedAt === null) this.#giveUp(`no connection within ${negotiationMs / 1000} s of the match`);
    }, negotiationMs);
    call.start();
  }

  #prepareCertificate(): void {
    generateCertificate().then((c) => {
      if (this.state !== 'ended') this.#nextCertificate ??= c;
    }).catch((err: unknown) => this.safeEmit('warning', { message: `could not make a DTLS certificate ahead: ${(err as Error).message}` }));
  }

  #recordPathFor(partner: number): string | undefined {
    const p = this.options.recordPath;
    if (!p || partner === 1) return p;
    const ext = path.extname(p);
    return `${p.slice(0, p.length - ext.length)}-${partner}${ext || '.webm'}`;
  }

  /** Connected: the encoders' fan-out now feeds this call's tracks. */
  #attachMedia(call: Call): void {
    this.#detachMedia();
    if (this.#video && call.videoTrack) {
      const ladder = this.#video.rungs.length > 1;
      // Calls start on the rung the start estimate (300 kbit/s) fits, as a browser starts there,
      // and the first padding probe goes for the best rung at once (src/peer/ladder.ts): the full
      // rendition sent blind into a narrow uplink filled its queue for the two seconds before
      // feedback and a keyframe could take it down, and a Chromium viewer then lagged 1.5-2 s behind.
      const opts = { audioKbps: this.#audio ? audioWireKbps(this.options.audioBitrateKbps ?? 32) : 0, retransmit: this.options.retransmit !== false, ...(this.options.fec ? { fec: this.options.fec } : {}), fecTypes: () => call.fecPayloadTypes() };
      this.#videoSink = this.#video.attach(call.videoTrack, ladder ? VideoAdaptation.startRung(this.#video, opts) : 0);
      this.#sinks.push(this.#videoSink);
      call.setCaptureClock('video', this.#video.captureClock(this.#videoSink));
      if (ladder) this.#adaptation = new VideoAdaptation(this.#video, this.#videoSink, call.senders, opts);
      // A partner that said it is hidden before its media was attached (a reconnect) gets none yet.
      if (this.#partnerHidden) this.#applyPartnerHidden();
    }
    if (this.#audio && call.audioTrack) this.#sinks.push(this.#audio.attach(call.audioTrack));
  }

  /**
   * The partner's page is hidden (no video goes to it, audio goes on, the rung is held) or shown
   * again (video resumes from a keyframe at once, as for a new partner).
   */
  #setPartnerHidden(hidden: boolean): void {
    if (hidden === this.#partnerHidden) return;
    this.#partnerHidden = hidden;
    this.#applyPartnerHidden();
  }

  #applyPartnerHidden(): void {
    const sink = this.#videoSink;
    if (!sink || !this.#video) return;
    if (this.#partnerHidden) this.#video.pause(sink);
    else this.#video.resume(sink);
    this.#adaptation?.setPaused(this.#partnerHidden);
  }

  /** What the video adaptation of the current call is doing (null without one). */
  get adaptation(): AdaptationSnapshot | null { return this.#adaptation?.snapshot() ?? null; }

  #detachMedia(): void {
    this.#adaptation?.stop();
    this.#adaptation = null;
    for (const s of this.#sinks) {
      this.#video?.detach(s);
      this.#audio?.detach(s);
    }
    this.#sinks = [];
    this.#videoSink = null;
  }

  /** ICE failed after a restart (or never connected): skip this partner and look for another. */
  #giveUp(reason: string, code?: string): void {
    const call = this.#call;
    if (!call) return;
    this.safeEmit('gave-up', code === undefined ? { matchId: call.matchId, reason } : { matchId: call.matchId, reason, code });
    this.#signal?.send({ type: 'next' });
    void this.#afterCall('gave-up');
  }

  /** Presses Next: ends this partner and looks for another (in a private call, ends the session). */
  next(): void {
    this.#assertState('next', ['negotiating', 'connected']);
    const call = this.#call!;
    this.safeEmit('next', { matchId: call.matchId });
    this.#signal?.send({ type: 'next' });
    void this.#afterCall('next');
  }

  /**
   * Reports the partner for `reason` (the server counts it toward a ban, and the two are never
   * matched again), ends the call and looks for another, like Next.
   */
  report(reason: ReportReason): void {
    this.#assertState('report', ['negotiating', 'connected']);
    const call = this.#call!;
    this.#signal?.send({ type: 'report', matchId: call.matchId, reason });
    this.safeEmit('reported', { matchId: call.matchId, reason });
    void this.#afterCall('next');
  }

  /** Sends a chat message to the partner; false when the chat channel is not open yet. */
  sendChat(text: string): boolean {
    this.#assertState('sendChat', ['negotiating', 'connected']);
    const call = this.#call!;
    const trimmed = text.trim();
    if (!trimmed || !call.sendChat(trimmed)) return false;
    this.safeEmit('chat-sent', { matchId: call.matchId, text: trimmed });
    return true;
  }

  /** After a call ends (next, partner-left, gave-up): stop, or look for the next partner. */
  async #afterCall(why: 'next' | 'partner-left' | 'gave-up'): Promise<void> {
    const wasPrivate = this.#callPrivate;
    // Decide and re-queue now, not after the close: a new match may arrive while it runs.
    const closing = this.#closeCall();
    if (this.state === 'ended') { await closing; return; }
    const max = this.options.maxPartners;
    if (max !== undefined && this.#partners >= max) { await closing; await this.#end('max-partners'); return; }
    if (wasPrivate) { await closing; await this.#end('partner-left'); return; }
    // Next and give-up re-queue on the server; a partner leaving puts us back to ready.
    this.#to('queued');
    if (why === 'partner-left') this.#join();
    await closing;
  }

  async #closeCall(): Promise<void> {
    const call = this.#call;
    this.#call = null;
    if (this.#negotiationTimer) { clearTimeout(this.#negotiationTimer); this.#negotiationTimer = null; }
    this.#detachMedia();
    if (call) await call.close();
  }

  #onSignalLost({ code, willReconnect, delayMs, attempt }: SignalLoss): void {
    if (this.state === 'ended') return;
    this.safeEmit('disconnected', { code, willReconnect, delayMs, attempt });
    // The server ended our match when the socket closed; the partner was told.
    void this.#closeCall();
    if (this.state !== 'idle') this.#to('idle');
  }

  async #emitStats(): Promise<void> {
    const call = this.#call;
    if (!call || this.state !== 'connected') return;
    let s: CallStats;
    try {
      s = await call.stats();
    } catch {
      return;
    }
    if (this.#call !== call) return;
    const now = Date.now();
    const dt = Math.max(0.001, (now - this.#last.at) / 1000);
    const framesSent = this.#videoSink?.framesSent ?? 0;
    const sentBytes = this.#sinks.reduce((n, k) => n + k.bytesSent, 0);
    const bytesSent = Math.max(s.bytesSent, sentBytes);
    const packetsReceived = s.video.packets + s.audio.packets;
    const packetsLost = s.video.lost + s.audio.lost;
    const dRecv = packetsReceived - this.#last.packetsReceived;
    const dLost = packetsLost - this.#last.packetsLost;
    const stats: PeerStats = {
      matchId: call.matchId,
      partner: this.#partners,
      candidateType: s.candidateType,
      localCandidateType: s.localCandidateType,
      ipFamily: s.ipFamily,
      rttMs: s.rttMs === null ? null : Math.round(s.rttMs * 10) / 10,
      framesReceived: s.video.frames,
      keyframesReceived: s.video.keyframes,
      bytesReceived: s.bytesReceived || s.video.bytes + s.audio.bytes,
      packetsReceived,
      packetsLost,
      lossPercent: dRecv + dLost > 0 ? Math.round((1000 * Math.max(0, dLost)) / (dRecv + Math.max(0, dLost))) / 10 : 0,
      framesSent,
      bytesSent,
      audioPacketsReceived: s.audio.packets,
      fps: Math.round(((s.video.frames - this.#last.framesReceived) / dt) * 10) / 10,
      sendKbps: Math.round(((bytesSent - this.#last.bytesSent) * 8) / dt / 1000),
      recvKbps: 0,
      pliReceived: s.pliReceived,
      pliSent: s.pliSent,
      frameWidth: s.video.frameWidth,
      frameHeight: s.video.frameHeight,
      codec: s.videoCodec,
      audioCodec: s.audioCodec,
      jitterMs: s.audioJitterMs === null ? null : Math.round(s.audioJitterMs * 10) / 10,
      mos: null,
      rung: null,
      rungSize: null,
      targetKbps: null,
      estimateKbps: null,
      fec: null,
    };
    const a = this.#adaptation?.snapshot();
    if (a) Object.assign(stats, { rung: a.rung, rungSize: `${a.width}x${a.height}@${a.fps}`, targetKbps: a.targetKbps, estimateKbps: a.estimateKbps, fec: a.fec });
    if (stats.rttMs !== null) stats.mos = estimateMos({ rttMs: stats.rttMs, jitterMs: stats.jitterMs ?? 0, lossPercent: stats.lossPercent });
    stats.recvKbps = Math.round(((stats.bytesReceived - this.#last.bytesReceived) * 8) / dt / 1000);
    this.#last = { at: now, framesReceived: s.video.frames, bytesReceived: stats.bytesReceived, bytesSent, packetsReceived, packetsLost };
    this.safeEmit('stats', stats);
  }

  /** Ends the session: leave, close the call, the encoders and the socket. Idempotent. */
  close(reason: EndReason = 'closed'): Promise<void> {
    return this.#end(reason);
  }

  #end(reason: EndReason, error?: ChatzyoError): Promise<void> {
    this.#ending ??= (async () => {
      this.#endResult = { reason, error };
      for (const t of [this.#connectTimer, this.#negotiationTimer, this.#retryJoinTimer]) if (t) clearTimeout(t);
      if (this.#statsTimer) clearInterval(this.#statsTimer);
      if (this.state !== 'ended') this.#to('ended');
      // Tell the server first, so the partner reads "leave" rather than "disconnect".
      if (this.#call) this.#signal?.send({ type: 'leave' });
      await this.#closeCall();
      await Promise.all([this.#video?.close(), this.#audio?.close(), this.#signal?.close()]);
      this.safeEmit('ended', this.#endResult);
      this.#resolveDone(this.#endResult);
    })();
    return this.#ending;
  }
}

/**
 * What the audio takes on the wire at `kbps` of Opus: 50 packets a second, each with RTP, SRTP,
 * UDP, IP and TURN channel headers (about 70 bytes).
 */
function audioWireKbps(kbps: number): number {
  return kbps + (50 * 70 * 8) / 1000;
}
