/**
 * What a call receives from the partner: packet and frame counters per kind, the codec the
 * packets were negotiated for, the optional webm recorder, and keyframe requests (RTCP PLI)
 * while the partner's video does not decode. The call hands it each remote track once
 * (werift-seam.ts's RemoteTrackWatch) and sends the PLIs it asks for.
 */
import type { MediaStreamTrack, RTCPeerConnection, RtpPacket } from 'werift';
import { PartnerRecorder } from './partner-recorder.js';
import { FrameCounter, type ReceiveCounts } from './rtp-frames.js';
import { subscribe, type Disposer } from './werift-seam.js';

/**
 * Keyframe requests (RTCP PLI, RFC 4585 section 6.3.1) while the partner's video does not
 * decode: the first after 250 ms, then each twice as long after the last, up to every 4 s.
 */
const PLI_BACKOFF = { firstMs: 250, maxMs: 4000 } as const;

/** Counts of a kind nothing has arrived of yet. */
const NO_COUNTS: ReceiveCounts = { packets: 0, bytes: 0, frames: 0, keyframes: 0, lost: 0, frameWidth: null, frameHeight: null };

/** How a {@link ReceivedMedia} talks to its call. */
export interface ReceivedMediaOptions {
  pc: RTCPeerConnection;
  /** Record what the partner sends to this webm file. */
  recordPath?: string;
  /** The recorder could not write. */
  onRecordError: (error: Error) => void;
  /** First packet of the partner's `kind` track. */
  onFirstPacket: (kind: 'video' | 'audio') => void;
  /** Sends one PLI for the partner's video (false when the call cannot now). */
  requestKeyframe: () => boolean;
  /** The call has closed: nothing more is asked for. */
  closed: () => boolean;
}

/** The partner's media as it arrives. */
export class ReceivedMedia {
  readonly audio = new FrameCounter('audio');
  /** The negotiated codec name of the last packet of each kind, null until media came. */
  readonly codec: { video: string | null; audio: string | null } = { video: null, audio: null };
  #video: FrameCounter | null = null;
  readonly #recorder: PartnerRecorder | null;
  readonly #seen = new Set<string>();
  readonly #disposers: Disposer[] = [];
  #pliTimer: NodeJS.Timeout | null = null;
  readonly #opts: ReceivedMediaOptions;

  constructor(opts: ReceivedMediaOptions) {
    this.#opts = opts;
    this.#recorder = opts.recordPath ? new PartnerRecorder({ path: opts.recordPath, onError: opts.onRecordError }) : null;
  }

  /** Counts of the partner's video (the H.264 counter when that codec was negotiated). */
  get videoCounts(): ReceiveCounts {
    return this.#video?.snapshot() ?? { ...NO_COUNTS };
  }

  /** Starts reading one of the partner's tracks (each is handed over once). */
  addTrack(track: MediaStreamTrack): void {
    const kind = track.kind as 'video' | 'audio';
    // The recorder listens first, so it has every packet our counter has when we decide whether to ask for a keyframe.
    this.#recorder?.addTrack(track);
    const transceiver = this.#opts.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
    let lastPayloadType = -1;
    let codec: string | null = null;
    this.#disposers.push(subscribe(track.onReceiveRtp, (rtp: RtpPacket) => {
      // What arrives is what the payload type was negotiated for (the track's codec is merely the
      // first one). Looked up when the payload type changes, not per packet.
      if (rtp.header.payloadType !== lastPayloadType) {
        lastPayloadType = rtp.header.payloadType;
        codec = transceiver?.codecs.find((c) => c.payloadType === lastPayloadType)?.name ?? track.codec?.name ?? null;
        this.codec[kind] = codec;
      }
      if (kind === 'video') {
        this.#video ??= new FrameCounter(codec?.toLowerCase() === 'h264' ? 'h264' : 'vp8');
        this.#video.pushParsed(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length);
        this.keepAskingForKeyframe();
      } else {
        this.audio.pushParsed(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length);
      }
      if (!this.#seen.has(kind)) {
        this.#seen.add(kind);
        this.#opts.onFirstPacket(kind);
      }
    }));
  }

  /** The partner's video will not decode until a keyframe (none yet, or a packet lost for good), or the recorder has none yet. */
  #wantsKeyframe(): boolean {
    return (this.#video?.awaitingKeyframe ?? false) || (this.#recorder?.awaitingKeyframe ?? false);
  }

  /**
   * Asks the partner for a keyframe (RTCP PLI) for as long as its video does not decode, with
   * {@link PLI_BACKOFF}: a partner whose first keyframe (or our first request) was lost is asked
   * again, one that answers slowly is not flooded. Checked on every video packet, so it also
   * starts again after a packet is lost for good; nobody is asked while no video arrives.
   */
  keepAskingForKeyframe(): void {
    if (this.#pliTimer || this.#opts.closed() || !this.#wantsKeyframe()) return;
    let attempt = 0;
    const tick = () => {
      this.#pliTimer = null;
      if (this.#opts.closed() || !this.#wantsKeyframe()) return;
      this.#opts.requestKeyframe();
      attempt++;
      this.#pliTimer = setTimeout(tick, Math.min(PLI_BACKOFF.maxMs, PLI_BACKOFF.firstMs * 2 ** attempt));
    };
    this.#pliTimer = setTimeout(tick, PLI_BACKOFF.firstMs);
  }

  /** Stops asking and counting (the call is closing). */
  stopListening(): void {
    if (this.#pliTimer) { clearTimeout(this.#pliTimer); this.#pliTimer = null; }
    for (const d of this.#disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
  }

  /** Stops everything and flushes the recording; its errors go to `onRecordError`. */
  async close(): Promise<void> {
    this.stopListening();
    if (!this.#recorder) return;
    await this.#recorder.stop().catch((e: unknown) => this.#opts.onRecordError(e as Error));
    if (this.#recorder.missedVideo) this.#opts.onRecordError(new Error('nothing was recorded: no whole keyframe of the partner\'s video arrived'));
  }
}
