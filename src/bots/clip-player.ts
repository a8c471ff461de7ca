/**
 * Replays a {@link Clip} into one call's tracks as if it were live: each player has its own
 * SSRC, sequence numbers and timestamps (contiguous across the clip's loop), starts on a
 * keyframe, and answers a PLI (RFC 4585 section 6.3.1) with the clip's next keyframe at once.
 * One {@link ClipClock} per thread drives every player, so a thousand players cost one timer.
 */
import { RtpHeader, RtpPacket, type MediaStreamTrack } from 'werift';
import type { Clip } from './clip.js';

/** Payload types written into the replayed packets (werift rewrites them to the negotiated ones). */
const CLIP_PAYLOAD_TYPE = { video: 96, audio: 111 } as const;

/** If the thread stalls longer than this, a player skips ahead instead of bursting to catch up. */
const MAX_CATCH_UP_MS = 400;
/** A PLI within this long of the last keyframe sent is already answered. */
const PLI_HOLD_MS = 100;

/** Counters of one player. */
interface PlayerCounts {
  packetsSent: number;
  bytesSent: number;
  framesSent: number;
  keyframesSent: number;
  audioPacketsSent: number;
  /** PLIs answered with a keyframe. */
  plisAnswered: number;
}

function rand32(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** Writes one clip into a video track and an audio track. */
export class ClipPlayer implements PlayerCounts {
  packetsSent = 0;
  bytesSent = 0;
  framesSent = 0;
  keyframesSent = 0;
  audioPacketsSent = 0;
  plisAnswered = 0;
  readonly videoSsrc = rand32();
  readonly audioSsrc = rand32();
  #videoSeq = Math.floor(Math.random() * 0x10000);
  #audioSeq = Math.floor(Math.random() * 0x10000);
  #videoTs = rand32();
  #audioTs = rand32();
  /** Index of the next frame to send. */
  #frame: number;
  #audio = 0;
  #nextVideoAt: number;
  #nextAudioAt: number;
  #lastKeyAt = -Infinity;
  #stopped = false;
  readonly #frameMs: number;
  readonly #ticksPerFrame: number;

  /**
   * @param startKeyframe which of the clip's keyframes to start on (spreads big keyframes of
   * many players over time); default: a random one.
   */
  constructor(
    readonly clip: Clip,
    readonly video: MediaStreamTrack | null,
    readonly audio: MediaStreamTrack | null,
    now: number,
    startKeyframe = Math.floor(Math.random() * clip.keyframes.length),
  ) {
    this.#frame = clip.keyframes[startKeyframe % clip.keyframes.length] ?? 0;
    this.#audio = Math.floor(Math.random() * clip.audio.length);
    this.#frameMs = 1000 / clip.fps;
    this.#ticksPerFrame = Math.round(90_000 / clip.fps);
    this.#nextVideoAt = now;
    this.#nextAudioAt = now;
  }

  /** Sends everything due at `now` (ms, the clock's time base). */
  tick(now: number): void {
    if (this.#stopped) return;
    if (this.video) {
      if (now - this.#nextVideoAt > MAX_CATCH_UP_MS) this.#nextVideoAt = now;
      while (this.#nextVideoAt <= now) {
        this.#sendFrame(now);
        this.#nextVideoAt += this.#frameMs;
      }
    }
    if (this.audio && this.clip.audio.length) {
      if (now - this.#nextAudioAt > MAX_CATCH_UP_MS) this.#nextAudioAt = now;
      while (this.#nextAudioAt <= now) {
        const ms = this.#sendAudio();
        this.#nextAudioAt += ms > 0 ? ms : 20;
      }
    }
  }

  /**
   * The partner lost the picture (PLI): jump to the clip's next keyframe and send it now.
   * Timestamps go on from the last frame sent, so the decoder sees one stream.
   */
  keyframe(now: number): void {
    if (this.#stopped || !this.video || now - this.#lastKeyAt < PLI_HOLD_MS) return;
    const ks = this.clip.keyframes;
    this.#frame = ks.find((k) => k >= this.#frame) ?? ks[0]!;
    this.plisAnswered++;
    this.#sendFrame(now);
    this.#nextVideoAt = now + this.#frameMs;
  }

  #sendFrame(now: number): void {
    const f = this.clip.video[this.#frame]!;
    this.#frame = (this.#frame + 1) % this.clip.video.length;
    const last = f.payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const payload = f.payloads[i]!;
      const header = new RtpHeader({
        payloadType: CLIP_PAYLOAD_TYPE.video, sequenceNumber: this.#videoSeq, timestamp: this.#videoTs, ssrc: this.videoSsrc, marker: i === last,
      });
      this.#videoSeq = (this.#videoSeq + 1) & 0xffff;
      this.#write(this.video!, new RtpPacket(header, payload));
      this.packetsSent++;
      this.bytesSent += payload.length + 12;
    }
    this.#videoTs = (this.#videoTs + this.#ticksPerFrame) >>> 0;
    this.framesSent++;
    if (f.key) {
      this.keyframesSent++;
      this.#lastKeyAt = now;
    }
  }

  #sendAudio(): number {
    const a = this.clip.audio[this.#audio]!;
    this.#audio = (this.#audio + 1) % this.clip.audio.length;
    const header = new RtpHeader({
      payloadType: CLIP_PAYLOAD_TYPE.audio, sequenceNumber: this.#audioSeq, timestamp: this.#audioTs, ssrc: this.audioSsrc, marker: false,
    });
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    this.#audioTs = (this.#audioTs + Math.round(a.durationMs * 48)) >>> 0;
    this.#write(this.audio!, new RtpPacket(header, a.payload));
    this.audioPacketsSent++;
    this.packetsSent++;
    this.bytesSent += a.payload.length + 12;
    return a.durationMs;
  }

  #write(track: MediaStreamTrack, packet: RtpPacket): void {
    try {
      track.writeRtp(packet);
    } catch {
      // the track was stopped between the end of the call and stop(): nothing to deliver to
    }
  }

  /** Stops sending. Idempotent. */
  stop(): void {
    this.#stopped = true;
  }

  get stopped(): boolean { return this.#stopped; }
}

/** One timer for every player of a thread. */
export class ClipClock {
  readonly #players = new Set<ClipPlayer>();
  #timer: NodeJS.Timeout | null = null;

  /** @param tickMs how often players are given the chance to send (Opus packets are 20 ms). */
  constructor(readonly tickMs = 10, readonly now: () => number = () => performance.now()) {}

  /** Starts a player on `video` and `audio` and drives it until it is removed. */
  play(clip: Clip, video: MediaStreamTrack | null, audio: MediaStreamTrack | null): ClipPlayer {
    const p = new ClipPlayer(clip, video, audio, this.now());
    this.#players.add(p);
    p.tick(this.now());
    this.#timer ??= setInterval(() => this.#tick(), this.tickMs);
    return p;
  }

  /** Stops and forgets a player. */
  remove(p: ClipPlayer): void {
    p.stop();
    this.#players.delete(p);
    if (this.#players.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  get size(): number { return this.#players.size; }

  #tick(): void {
    const now = this.now();
    for (const p of this.#players) p.tick(now);
  }

  /** Stops every player and the timer. */
  close(): void {
    for (const p of this.#players) p.stop();
    this.#players.clear();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
