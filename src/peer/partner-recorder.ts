/**
 * The webm recording of one partner (`connect --record`), on werift's MediaRecorder. The WebM
 * header is written when the recorder starts and carries one picture size, so the recorder
 * starts only once the partner's first whole keyframe is in hand, with the size that keyframe
 * announces (never our own capture size). Packets are kept from that keyframe's first packet
 * and handed over once the recorder listens, so the file opens on that very keyframe instead of
 * waiting for another one.
 */
import { MediaStreamTrack, RtcpSrPacket, type RtcpPacket, type RtpPacket } from 'werift';
import { MediaRecorder } from 'werift/nonstandard';
import { FrameCounter, payloadKind, type VideoCodec } from './rtp-frames.js';

/** Options of a {@link PartnerRecorder}. */
export interface PartnerRecorderOptions {
  /** The webm file. */
  path: string;
  /** The recorder could not write. */
  onError: (err: Error) => void;
  /** With video coming but no audio yet, wait this long for audio before recording video alone (default 1 s). */
  audioWaitMs?: number;
}

/** Packets kept before the recorder starts (a few seconds of video and audio). */
const MAX_KEPT = 4000;

type Kind = 'video' | 'audio';
/** A packet kept until werift's recorder listens. */
type Kept = { kind: Kind; rtp: RtpPacket };

/** Where the recorder is: waiting for a keyframe, starting werift's recorder, recording, stopped. */
export type RecorderState = 'waiting' | 'starting' | 'recording' | 'stopped';

/**
 * The kept packets in the order to hand them to werift's recorder: the audio packets that came
 * while the first keyframe was still arriving go in after its last packet. werift's WebM writer
 * takes the first frame it gets, of either track, as the file's time zero, and a video keyframe
 * timed before that opens a cluster at a negative time, which ffprobe and players drop with
 * every frame in it: an audio frame stamped a millisecond after the keyframe and handed over
 * first cost a recording its first second or two of picture (43 frames of 73 received, about
 * one call in 30 on loopback). Audio timed before the keyframe is then left out by werift (a
 * few milliseconds of it), which a player does not miss.
 */
function keyframeBeforeAudio(kept: Kept[], keyframeTimestamp: number | null): Kept[] {
  if (keyframeTimestamp === null) return kept;
  let last = -1;
  kept.forEach((k, i) => { if (k.kind === 'video' && k.rtp.header.timestamp === keyframeTimestamp) last = i; });
  if (last < 0) return kept;
  const head = kept.slice(0, last + 1);
  return [...head.filter((k) => k.kind === 'video'), ...head.filter((k) => k.kind === 'audio'), ...kept.slice(last + 1)];
}

/** Records what the partner sends; feed it the partner's tracks as they appear. */
export class PartnerRecorder {
  #state: RecorderState = 'waiting';
  readonly #opts: PartnerRecorderOptions;
  readonly #remote = new Map<Kind, MediaStreamTrack>();
  readonly #relay = new Map<Kind, MediaStreamTrack>();
  readonly #seen = new Set<Kind>();
  readonly #lastSr = new Map<Kind, RtcpPacket>();
  readonly #disposers: (() => void)[] = [];
  #unsubscribeErrors: (() => void) | null = null;
  #videoCodec: VideoCodec = 'vp8';
  /** Packets from the first packet of a keyframe on (null: not keeping any). */
  #kept: Kept[] | null = null;
  /** Sequence numbers of the partner's padding-only video packets lately (probes), oldest first. */
  #padding: number[] = [];
  /** Padding packets long behind, still counted off every number. */
  #paddingBehind = 0;
  #keptTimestamp: number | null = null;
  /** Counts what is kept for (then handed to) the recorder: it has a keyframe once this saw a whole one. */
  #fed: FrameCounter | null = null;
  /** The picture size of the first whole keyframe kept (the file's header; later keyframes may differ). */
  #size: { width: number; height: number } | null = null;
  #audioTimer: NodeJS.Timeout | null = null;
  #recorder: MediaRecorder | null = null;
  #starting: Promise<void> | null = null;

  constructor(opts: PartnerRecorderOptions) {
    this.#opts = opts;
  }

  /** Where the recorder is: waiting for a keyframe, starting werift's recorder, recording, stopped. */
  get state(): RecorderState { return this.#state; }

  /** True while video comes but the recorder has no whole keyframe yet (ask the partner for one). */
  get awaitingKeyframe(): boolean {
    return this.#state === 'waiting' && this.#seen.has('video') && !(this.#fed && this.#fed.keyframes > 0);
  }

  /** True when the partner sent video but none of it could be recorded (no whole keyframe came). */
  get missedVideo(): boolean { return this.#seen.has('video') && this.#recorder === null; }

  /** Adds one of the partner's tracks (each kind once). */
  addTrack(track: MediaStreamTrack): void {
    const kind = track.kind as Kind;
    if (this.#state === 'stopped' || (kind !== 'video' && kind !== 'audio') || this.#remote.has(kind)) return;
    this.#remote.set(kind, track);
    if (kind === 'video') this.#videoCodec = track.codec?.name.toLowerCase() === 'h264' ? 'h264' : 'vp8';
    this.#disposers.push(track.onReceiveRtp.subscribe((rtp: RtpPacket) => this.#onRtp(kind, rtp)).unSubscribe);
    this.#disposers.push(track.onReceiveRtcp.subscribe((rtcp: RtcpPacket) => this.#onRtcp(kind, rtcp)).unSubscribe);
  }

  /**
   * A partner that probes its path sends padding-only packets between frames (src/peer/media-source.ts
   * sendPadding): nothing to record, and werift's recorder, handed one, took it for the start of
   * a frame (a recording of 43 frames where 74 arrived). They are left out (null) and the numbers
   * after them closed up, so the recorder sees no gap either (a renumbered copy: the track's other
   * listeners see the packet as it came).
   */
  #closePaddingGap(rtp: RtpPacket): RtpPacket | null {
    const seq = rtp.header.sequenceNumber;
    const before = (a: number, b: number) => a !== b && ((b - a) & 0xffff) < 0x8000;
    if (rtp.payload.length === 0) {
      this.#padding.push(seq);
      return null;
    }
    // Padding far behind is behind every packet still to come (a retransmission comes within a
    // second): it moves into the count every number is lowered by.
    while (this.#padding.length && (before(this.#padding[0]!, (seq - 0x4000) & 0xffff) || this.#padding.length > 4096)) {
      this.#padding.shift();
      this.#paddingBehind++;
    }
    // Per packet: almost every one comes after all padding so far (a retransmission may not).
    const last = this.#padding[this.#padding.length - 1];
    let n = this.#paddingBehind;
    if (last === undefined || before(last, seq)) n += this.#padding.length;
    else for (const p of this.#padding) if (before(p, seq)) n++;
    if (n === 0) return rtp;
    const copy = rtp.clone();
    copy.header.sequenceNumber = (seq - n) & 0xffff;
    return copy;
  }

  #onRtp(kind: Kind, rtp: RtpPacket): void {
    if (this.#state === 'stopped') return;
    if (kind === 'video') {
      const closed = this.#closePaddingGap(rtp);
      if (!closed) return;
      rtp = closed;
    }
    this.#seen.add(kind);
    if (this.#state === 'recording') {
      this.#relay.get(kind)?.writeRtp(rtp);
      return;
    }
    if (kind === 'video' && this.#state === 'waiting') {
      const k = payloadKind(this.#videoCodec, rtp.payload);
      // A keyframe begins (H.264 sends its SPS and PPS first, under the same timestamp): keep from
      // here, unless a whole one is kept already. The recorder may still wait for the partner's
      // first video sender report (a second or more into the call), and a keyframe in that time
      // (a partner stepping up to a better rung) must not throw away what came since the first:
      // that cost a recording its first 20 frames (41 of 61 received) in one call of four.
      if (k.keyframe && k.frameStart && rtp.header.timestamp !== this.#keptTimestamp && !(this.#fed && this.#fed.keyframes > 0)) {
        this.#kept = [];
        this.#keptTimestamp = rtp.header.timestamp;
        this.#fed = new FrameCounter(this.#videoCodec);
      }
    }
    if (!this.#remote.has('video') && this.#kept === null) this.#kept = []; // audio only: from its first packet
    if (this.#kept === null) return;
    this.#kept.push({ kind, rtp });
    if (kind === 'video' && this.#fed) {
      this.#fed.pushParsed(rtp.header, rtp.payload, rtp.payload.length);
      if (!this.#size && this.#fed.keyframes > 0 && this.#fed.frameWidth && this.#fed.frameHeight) this.#size = { width: this.#fed.frameWidth, height: this.#fed.frameHeight };
    }
    if (this.#kept.length > MAX_KEPT) {
      // No whole keyframe (or no sender report) in all this time, or the recorder is slow to start: start over.
      if (this.#state === 'waiting') { this.#kept = null; this.#keptTimestamp = null; this.#fed = null; this.#size = null; } else this.#kept.shift();
      return;
    }
    this.#maybeStart();
  }

  #onRtcp(kind: Kind, rtcp: RtcpPacket): void {
    if (this.#state === 'stopped') return;
    if (this.#state === 'recording') {
      this.#relay.get(kind)?.onReceiveRtcp.execute(rtcp);
      return;
    }
    // Sender reports map RTP time to wall-clock time; the recorder holds media until it has one.
    if (rtcp.type !== RtcpSrPacket.type) return;
    this.#lastSr.set(kind, rtcp);
    if (kind === 'video') this.#maybeStart();
  }

  /** The last sender report of each kind, to go first into the recorder (video's first). */
  *#srs(): Iterable<{ kind: Kind; rtcp: RtcpPacket }> {
    for (const kind of ['video', 'audio'] as const) {
      const rtcp = this.#lastSr.get(kind);
      if (rtcp) yield { kind, rtcp };
    }
  }

  #maybeStart(): void {
    if (this.#state !== 'waiting') return;
    if (this.#remote.has('video')) {
      if (!this.#fed || this.#fed.keyframes === 0) return;
      // werift's recorder holds video until the video's sender report, and audio with one of its
      // own would go first and open the file at its time (see keyframeBeforeAudio): wait for it
      // (a partner's first report comes within a second or two; without one no video is written).
      if (!this.#lastSr.has('video')) return;
      if (this.#remote.has('audio') && !this.#seen.has('audio')) {
        // A partner without a microphone still gets its video recorded.
        this.#audioTimer ??= setTimeout(() => this.#start(), this.#opts.audioWaitMs ?? 1000);
        return;
      }
    }
    this.#start();
  }

  #start(): void {
    if (this.#state !== 'waiting') return;
    if (this.#audioTimer) { clearTimeout(this.#audioTimer); this.#audioTimer = null; }
    this.#state = 'starting';
    const kinds = (['video', 'audio'] as const).filter((k) => this.#remote.has(k) && this.#seen.has(k));
    const tracks = kinds.map((k) => {
      const relay = new MediaStreamTrack({ kind: k, codec: this.#remote.get(k)!.codec });
      this.#relay.set(k, relay);
      return relay;
    });
    // No size only when the keyframe did not carry one (an H.264 SPS sent in the SDP alone): werift's default then.
    const recorder = new MediaRecorder({ path: this.#opts.path, numOfTracks: tracks.length, ...this.#size, disableLipSync: true });
    this.#recorder = recorder;
    // Unsubscribed only after stop() has finished the file: errors while finishing still count.
    this.#unsubscribeErrors = recorder.onError.subscribe((e) => this.#opts.onError(e)).unSubscribe;
    this.#starting = (async () => {
      try {
        // The last addTrack resolves once the recorder listens to every track.
        for (const t of tracks) await recorder.addTrack(t);
      } catch (err) {
        this.#opts.onError(err as Error);
        return;
      }
      if (this.#state !== 'starting') return;
      this.#state = 'recording';
      // The latest sender report of each kind first (also those that came while it waited), then
      // the packets, the first keyframe before the audio that came while it arrived.
      for (const k of [...this.#srs(), ...keyframeBeforeAudio(this.#kept?.splice(0) ?? [], this.#keptTimestamp)]) {
        const relay = this.#relay.get(k.kind);
        if (!relay) continue;
        if ('rtp' in k) relay.writeRtp(k.rtp);
        else relay.onReceiveRtcp.execute(k.rtcp);
      }
      this.#kept = null;
    })();
  }

  /** Stops listening and finishes the file (duration, cues). Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasStarting = this.#starting;
    this.#state = 'stopped';
    if (this.#audioTimer) { clearTimeout(this.#audioTimer); this.#audioTimer = null; }
    for (const d of this.#disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
    this.#kept = null;
    if (wasStarting) await wasStarting;
    await this.#recorder?.stop();
    this.#unsubscribeErrors?.();
    this.#unsubscribeErrors = null;
  }
}
