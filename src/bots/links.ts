/**
 * What a bot does with a partner once matched. {@link ExchangeLink} (signal mode) trades an
 * offer, an answer and trickled candidates through the server without any WebRTC: the server
 * sees the same frames a real call makes. {@link MediaLink} (media mode) is a real werift call
 * (ICE, DTLS, SRTP) from the headless peer's {@link Call}, fed by a {@link MediaFeed}.
 */
import { randomBytes } from 'node:crypto';
import type { RTCCertificate, RTCPeerConnectionConfig } from 'werift';
import type { IceServer, SignalData } from '../protocol/index.js';
import { TypedEmitter } from '../protocol/client/index.js';
import { Call, type IpFamily } from '../peer/index.js';
import type { FeedAdaptation, MediaAttachment, MediaFeed } from './media-feed.js';

/** The phases of a bot's attempt, in order. `exchange` is signal mode's stand-in for ice/dtls. */
export const PHASES = ['signal', 'match', 'exchange', 'ice', 'dtls', 'media'] as const;
/** One of {@link PHASES}. */
export type Phase = (typeof PHASES)[number];

/** Events of a link. */
export type LinkEvents = {
  /** ICE reached "connected" (media mode). */
  ice: [];
  /** DTLS is up (media mode). */
  dtls: [];
  /** The link is usable: signal mode, the exchange is complete; media mode, DTLS is up. */
  connected: [];
  /** The first packet of the partner's video (media mode). */
  media: [];
  /** The link cannot work (ICE failed after a restart). */
  failed: [string];
  'chat-open': [];
  chat: [string];
};

/** Bytes and packets received from the partner. */
export interface ReceiveTotals {
  videoBytes: number;
  audioBytes: number;
  packets: number;
  lost: number;
  frames: number;
  keyframes: number;
}

/** A bot's connection to one partner. */
export interface Link extends TypedEmitter<LinkEvents> {
  readonly matchId: string;
  /** Starts negotiating (the offerer offers). */
  start(): void;
  handleSignal(data: SignalData): void;
  /** The first phase that has not completed yet (where a timeout or a loss counts). */
  pendingPhase(): Phase;
  received(): ReceiveTotals;
  /** Signals sent to the partner so far. */
  readonly signalsSent: number;
  sendChat(text: string): boolean;
  close(): Promise<void>;
}

const NO_MEDIA: ReceiveTotals = { videoBytes: 0, audioBytes: 0, packets: 0, lost: 0, frames: 0, keyframes: 0 };

/**
 * A session description shaped like a browser's (about 2.5 KB, two m-lines, fresh ICE
 * credentials and fingerprint), so the server relays frames of a real call's size.
 */
function fakeSdp(kind: 'offer' | 'answer'): string {
  const ufrag = randomBytes(3).toString('hex');
  const pwd = randomBytes(12).toString('base64').replace(/[+/=]/g, 'x');
  const fp = [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  const setup = kind === 'offer' ? 'actpass' : 'passive';
  const media = (m: 'video' | 'audio', mid: number) => {
    const lines = m === 'video'
      ? ['m=video 9 UDP/TLS/RTP/SAVPF 96 97', 'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 transport-cc',
        'a=rtcp-fb:96 ccm fir', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96']
      : ['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=rtcp-fb:111 transport-cc'];
    return [
      lines[0]!, 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0', `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'a=ice-options:trickle',
      `a=fingerprint:sha-256 ${fp}`, `a=setup:${setup}`, `a=mid:${mid}`,
      'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
      'a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      'a=sendrecv', `a=msid:chatzyo-bot ${m}-${ufrag}`, 'a=rtcp-mux', 'a=rtcp-rsize', ...lines.slice(1),
      `a=ssrc:${randomBytes(4).readUInt32BE()} cname:${ufrag}`,
    ];
  };
  return [
    'v=0', `o=- ${randomBytes(6).readUIntBE(0, 6)} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=extmap-allow-mixed',
    'a=msid-semantic: WMS chatzyo-bot', ...media('video', 0), ...media('audio', 1), '',
  ].join('\r\n');
}

function fakeCandidate(i: number): SignalData {
  const port = 40000 + Math.floor(Math.random() * 20000);
  const ip = i === 0 ? '192.0.2.10' : '198.51.100.20'; // documentation addresses (RFC 5737): nothing to reach
  const typ = i === 0 ? 'host' : `srflx raddr 192.0.2.10 rport ${port - 1}`;
  return {
    kind: 'candidate',
    candidate: { candidate: `candidate:${i + 1} 1 udp ${2122260223 - i * 1000} ${ip} ${port} typ ${typ} generation 0`, sdpMid: '0', sdpMLineIndex: 0 },
  };
}

/** Signal mode: offer, answer and trickled candidates through the server, no WebRTC. */
export class ExchangeLink extends TypedEmitter<LinkEvents> implements Link {
  signalsSent = 0;
  #remoteSdp = false;
  #remoteDone = false;
  #localSdp = false;
  #connected = false;
  #closed = false;

  constructor(readonly matchId: string, readonly role: 'offerer' | 'answerer', readonly send: (d: SignalData) => void, readonly candidates = 2) {
    super();
  }

  start(): void {
    if (this.role === 'offerer') this.#describe('offer');
  }

  #describe(kind: 'offer' | 'answer'): void {
    this.#out({ kind, sdp: fakeSdp(kind) });
    this.#localSdp = true;
    for (let i = 0; i < this.candidates; i++) this.#out(fakeCandidate(i));
    this.#out({ kind: 'end-of-candidates' });
    this.#check();
  }

  #out(d: SignalData): void {
    this.signalsSent++;
    this.send(d);
  }

  handleSignal(data: SignalData): void {
    if (this.#closed) return;
    if (data.kind === 'offer' && this.role === 'answerer' && !this.#remoteSdp) {
      this.#remoteSdp = true;
      this.#describe('answer');
    } else if (data.kind === 'answer' && this.role === 'offerer') {
      this.#remoteSdp = true;
    } else if (data.kind === 'end-of-candidates') {
      this.#remoteDone = true;
    }
    this.#check();
  }

  #check(): void {
    if (this.#connected || !this.#localSdp || !this.#remoteSdp || !this.#remoteDone) return;
    this.#connected = true;
    this.emit('connected');
  }

  pendingPhase(): Phase { return 'exchange'; }
  received(): ReceiveTotals { return NO_MEDIA; }
  sendChat(): boolean { return false; }
  async close(): Promise<void> { this.#closed = true; }
}

/** Options of a {@link MediaLink}. */
export interface MediaLinkOptions {
  matchId: string;
  role: 'offerer' | 'answerer';
  iceServers: IceServer[];
  relayOnly: boolean;
  certificate?: RTCCertificate;
  sendSignal: (d: SignalData) => void;
  matchedAt: number;
  feed: MediaFeed;
  /** Gather candidates of this IP family only (default: both). */
  ipFamily?: IpFamily;
  peerConfig?: Partial<RTCPeerConnectionConfig>;
}

/** Media mode: a werift call sending the feed and counting what the partner sends. */
export class MediaLink extends TypedEmitter<LinkEvents> implements Link {
  readonly matchId: string;
  readonly call: Call;
  signalsSent = 0;
  #ice = false;
  #dtls = false;
  #media = false;
  #attachment: MediaAttachment | null = null;
  #lastAdaptation: FeedAdaptation | null = null;
  #closing: Promise<void> | null = null;
  readonly #unsub: (() => void)[] = [];

  constructor(readonly opts: MediaLinkOptions) {
    super();
    this.matchId = opts.matchId;
    this.call = new Call({
      matchId: opts.matchId,
      role: opts.role,
      iceServers: opts.iceServers,
      relayOnly: opts.relayOnly,
      videoCodec: 'vp8',
      sendVideo: true,
      sendAudio: true,
      sendSignal: (d) => { this.signalsSent++; opts.sendSignal(d); },
      matchedAt: opts.matchedAt,
      certificate: opts.certificate,
      ipFamily: opts.ipFamily,
      peerConfig: opts.peerConfig,
    });
    const call = this.call;
    this.#unsub.push(call.pc.iceConnectionStateChange.subscribe((s) => {
      if ((s === 'connected' || s === 'completed') && !this.#ice) { this.#ice = true; this.emit('ice'); }
    }).unSubscribe);
    call.on('media-ready', () => {
      if (this.#dtls || this.#closing) return;
      if (!this.#ice) { this.#ice = true; this.emit('ice'); } // DTLS runs over ICE: it is up too
      this.#dtls = true;
      // Every sender: the partner may return its transport-wide feedback on either.
      this.#attachment = opts.feed.attach(call.videoTrack, call.audioTrack, call.pc.getTransceivers().map((t) => t.sender));
      this.emit('dtls');
      this.emit('connected');
    });
    call.on('pli', () => this.#attachment?.keyframe());
    call.on('remote-media', (kind) => {
      if (kind === 'video' && !this.#media) { this.#media = true; this.emit('media'); }
    });
    call.on('failed', (reason) => this.emit('failed', reason));
    call.on('chat-open', () => this.emit('chat-open'));
    call.on('chat', (t) => this.emit('chat', t));
  }

  start(): void { this.call.start(); }
  handleSignal(data: SignalData): void { this.call.handleSignal(data); }

  pendingPhase(): Phase {
    return !this.#ice ? 'ice' : !this.#dtls ? 'dtls' : 'media';
  }

  received(): ReceiveTotals {
    const v = this.call.videoCounts;
    const a = this.call.audio.snapshot();
    return { videoBytes: v.bytes, audioBytes: a.bytes, packets: v.packets + a.packets, lost: v.lost + a.lost, frames: v.frames, keyframes: v.keyframes };
  }

  sendChat(text: string): boolean { return this.call.sendChat(text); }

  /** The rung and estimate of the video this bot sends (the last ones once closed); null when it does not adapt. */
  adaptation(): FeedAdaptation | null {
    return this.#attachment?.adaptation?.() ?? this.#lastAdaptation;
  }

  /** Stops the feed and closes the call. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#attachment?.detach();
      this.#lastAdaptation = this.#attachment?.adaptation?.() ?? null;
      this.#attachment = null;
      for (const u of this.#unsub.splice(0)) { try { u(); } catch { /* gone */ } }
      await this.call.close();
    })();
    return this.#closing;
  }
}
