/**
 * A partner of another make that loses video: a bare werift RTCPeerConnection (none of
 * chatzyo's Call) that joins through the raw protocol, offers, and sends ffmpeg's VP8 and Opus
 * (the same encoder command lines as the headless peer, at a size and GOP of the test's
 * choosing). Like an encoder with a fixed GOP it does not answer PLI, it only counts them. It
 * loses what the test asks for, the way a network would: the packets of its first keyframes
 * (the delta frames after them still go out, undecodable), or one packet of a delta frame.
 * It keeps ffmpeg's sequence numbers, so a lost packet is a gap the receiver can see, and it
 * cannot retransmit one (werift's NACK responder only has what was sent).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import {
  MediaStream, MediaStreamTrack, PictureLossIndication, RTCPeerConnection, RtcpPayloadSpecificFeedback, type RTCRtpTransceiver, type RtcpPacket,
} from 'werift';
import { codecsFor, withoutThirdPartyStun } from '../../src/peer/call.js';
import { audioArgs, rtpOutputUrl, videoArgs, type VideoEncodeOptions } from '../../src/peer/ffmpeg.js';
import { parseRtp, payloadKind } from '../../src/peer/rtp-frames.js';
import { PROTOCOL_VERSION, type SignalData } from '../../src/protocol/index.js';
import { withTimeout } from './deadline.js';
import { TestClient } from './ws-client.js';
import { onPartnerSignals, trickleCandidates } from './raw-signal.js';

/** What the partner sends and loses. */
export interface LossyPartnerOptions {
  /** Video it encodes (VP8 only). */
  video: Pick<VideoEncodeOptions, 'width' | 'height' | 'fps' | 'keyframeIntervalS'>;
  /** Lose every packet of this many keyframes, the first ones after the call connects. */
  loseFirstKeyframes: number;
  ffmpegPath?: string;
}

/** One UDP socket ffmpeg writes RTP to, and the ffmpeg child. */
interface Encoder { socket: dgram.Socket; proc: ChildProcess; exited: Promise<void> }

async function startEncoder(ffmpeg: string, args: (url: string) => string[], onPacket: (p: Buffer) => void): Promise<Encoder> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setRecvBufferSize(1 << 20);
  socket.on('message', (msg) => {
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) return; // ffmpeg's RTCP
    onPacket(msg);
  });
  const proc = spawn(ffmpeg, args(rtpOutputUrl(socket.address().port)), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await withTimeout(new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`ffmpeg exited with ${code}: ${stderr}`)));
  }), 10_000, 'the partner\'s ffmpeg sends RTP');
  return { socket, proc, exited };
}

/** The partner: join first (it offers), then {@link offerOnMatch}. */
export class LossyPartner {
  readonly pc: RTCPeerConnection;
  readonly video = new MediaStreamTrack({ kind: 'video' });
  readonly audio = new MediaStreamTrack({ kind: 'audio' });
  readonly videoTransceiver: RTCRtpTransceiver;
  /** When each PLI for our video arrived (ms since the epoch). */
  readonly plis: number[] = [];
  /** When each keyframe was lost on purpose, and when each one went out. */
  readonly keyframesLost: number[] = [];
  readonly keyframesSent: number[] = [];
  /** Sequence numbers lost on purpose. */
  readonly lostSequences: number[] = [];
  /** Errors applying the partner's signaling (none expected). */
  readonly errors: Error[] = [];
  matchId: string | null = null;
  readonly connected: Promise<void>;
  #live = false;
  #loseTimestamp: number | null = null;
  #loseOneAfterKeyframe = false;
  #frameTs = -1;
  #frameIsKey = false;
  #encoders: Encoder[] = [];
  readonly #watched = new WeakSet<object>();

  private constructor(readonly client: TestClient, readonly opts: LossyPartnerOptions) {
    this.pc = new RTCPeerConnection({
      codecs: codecsFor('vp8'),
      iceServers: withoutThirdPartyStun([]).map((s) => ({ urls: s.urls })),
      bundlePolicy: 'max-bundle',
    });
    const stream = new MediaStream();
    stream.addTrack(this.video);
    stream.addTrack(this.audio);
    this.videoTransceiver = this.pc.addTransceiver(this.video, { direction: 'sendrecv', streams: [stream] });
    this.pc.addTransceiver(this.audio, { direction: 'sendrecv', streams: [stream] });
    this.pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    this.#countPlis();
    this.connected = new Promise((resolve) => {
      this.pc.connectionStateChange.subscribe((s) => { if (s === 'connected') { this.#live = true; resolve(); } });
    });
    trickleCandidates(this.pc, () => this.matchId, (d) => this.#send(d));
    onPartnerSignals(client, () => this.matchId, (d) => this.#onSignal(d), this.errors);
  }

  /** Starts the encoders, connects, says hello and joins `hub`; resolves once queued. */
  static async join(wsUrl: string, opts: LossyPartnerOptions, hub = 'tamil'): Promise<LossyPartner> {
    const client = await TestClient.connect(wsUrl, {}, { version: PROTOCOL_VERSION, client: 'lossy-werift/0' });
    const p = new LossyPartner(client, opts);
    try {
      const ffmpeg = opts.ffmpegPath ?? 'ffmpeg';
      const enc: VideoEncodeOptions = { codec: 'vp8', bitrateKbps: 300, ...opts.video };
      p.#encoders.push(await startEncoder(ffmpeg, (url) => videoArgs({ type: 'testsrc' }, enc, url), (b) => p.#onVideo(b)));
      p.#encoders.push(await startEncoder(ffmpeg, (url) => audioArgs({ type: 'sine' }, url), (b) => { if (p.#live) p.audio.writeRtp(b); }));
    } catch (err) {
      await p.close();
      throw err;
    }
    client.send({ type: 'join', hub });
    await client.next('queued');
    return p;
  }

  /** Waits for the match, then sends the offer (candidates trickle after it). */
  async offerOnMatch(ms: number): Promise<void> {
    const m = await this.client.next('matched', ms);
    if (m.role !== 'offerer') throw new Error(`the partner joined first and should offer, but is ${m.role}`);
    this.matchId = m.matchId;
    const offer = await this.pc.createOffer();
    this.#countPlis();
    this.#send({ kind: 'offer', sdp: offer.sdp });
    await this.pc.setLocalDescription(offer);
    this.#countPlis();
  }

  /**
   * PLIs are counted as they arrive on the transport: werift's router hands a PLI to whichever
   * receiver knows the feedback's *sender* SSRC before it looks at the media SSRC, so PLIs from
   * a partner that announces its own SSRCs reach our receiver, not our sender. Called whenever
   * werift may have made a transport (it makes them early, and again while applying descriptions).
   */
  #countPlis(): void {
    for (const dtls of this.pc.dtlsTransports) {
      if (this.#watched.has(dtls)) continue;
      this.#watched.add(dtls);
      dtls.onRtcp.subscribe((rtcp: RtcpPacket) => {
        if (rtcp.type === RtcpPayloadSpecificFeedback.type && rtcp.feedback.count === PictureLossIndication.count
          && (rtcp.feedback as PictureLossIndication).mediaSsrc === this.videoTransceiver.sender.ssrc) this.plis.push(Date.now());
      });
    }
  }

  /** Loses one packet of the first delta frame after the next keyframe (its sequence number goes to {@link lostSequences}). */
  loseOnePacketAfterNextKeyframe(): void {
    this.#loseOneAfterKeyframe = true;
  }

  #onVideo(buf: Buffer): void {
    if (!this.#live) return;
    const h = parseRtp(buf);
    if (!h) return;
    const kind = payloadKind('vp8', buf.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength));
    if (h.timestamp !== this.#frameTs) {
      const afterKey = this.#frameIsKey;
      this.#frameTs = h.timestamp;
      this.#frameIsKey = kind.frameStart && kind.keyframe;
      if (this.#frameIsKey && this.keyframesLost.length < this.opts.loseFirstKeyframes) {
        this.#loseTimestamp = h.timestamp;
        this.keyframesLost.push(Date.now());
      } else if (this.#frameIsKey) {
        this.keyframesSent.push(Date.now());
      } else if (afterKey && this.#loseOneAfterKeyframe && this.keyframesSent.length > 0) {
        this.#loseOneAfterKeyframe = false;
        this.lostSequences.push(h.sequenceNumber);
        return;
      }
    }
    if (h.timestamp === this.#loseTimestamp) return;
    this.video.writeRtp(buf);
  }

  async #onSignal(data: SignalData): Promise<void> {
    if (data.kind === 'answer') {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      this.#countPlis();
    } else if (data.kind === 'candidate') {
      const c = data.candidate;
      if (!c.candidate) return;
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined });
    } else if (data.kind === 'end-of-candidates') {
      await this.pc.addIceCandidate(undefined);
    } else {
      throw new Error(`the answerer sent an ${data.kind}`);
    }
  }

  #send(data: SignalData): void {
    this.client.send({ type: 'signal', matchId: this.matchId, data });
  }

  /** Stops the encoders, the peer connection and the socket. */
  async close(): Promise<void> {
    this.#live = false;
    for (const e of this.#encoders.splice(0)) {
      e.proc.kill('SIGTERM');
      await withTimeout(e.exited, 5000, 'the partner\'s ffmpeg exits');
      e.socket.close();
    }
    await this.pc.close().catch(() => { /* closing anyway */ });
    await this.client.close();
  }
}
