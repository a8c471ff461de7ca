/**
 * Replays a {@link Clip} into one call's tracks as if it were live: each player has its own
 * SSRC, sequence numbers and timestamps (contiguous across the clip's loop), starts on a
 * keyframe, and answers a PLI (RFC 4585 section 6.3.1) with the clip's next keyframe at once.
 * One {@link ClipClock} per thread drives every player, so a thousand players cost one timer.
 *
 * With a ladder (`clip.ladder`), a player carries one rung at a time: asked for another
 * ({@link ClipPlayer.setRung}), it keeps its rung until the frame slot where the new rung has
 * a keyframe (every rung has them at the same clip times), then goes on from that keyframe. It
 * stays one stream to the partner: one SSRC, sequence numbers contiguous, each frame's RTP
 * timestamp the previous one plus the previous frame's duration at its rung's rate. The clip's
 * VP8 payload descriptors carry no picture id (RFC 7741 section 4.2, X=0), so there is none to
 * renumber. A PLI while a switch is pending is answered with the new rung's next keyframe.
 * A step down asked by the player's {@link RungPicker} does not wait: the player goes on from the
 * new rung's next keyframe in the next frame slot (the clip jumps ahead to it).
 */
import { RtpHeader, RtpPacket, type MediaStreamTrack } from 'werift';
import { paddingPackets } from '../peer/rtp-padding.js';
import type { Clip, ClipRung } from './clip.js';

/** Picks a player's rung; asked every {@link ADAPT_EVERY_MS} by the player's own tick. */
export interface RungPicker {
  /**
   * The rung to carry from `now` (ms, the clock's time base) on; `carrying` is the rung the
   * player sends now (a change takes effect at the new rung's next keyframe) and `videoBytesSent`
   * what it sent of the video so far.
   */
  update(now: number, carrying: number, videoBytesSent: number): number;
  /** Called at every tick of the player, after its frames (a padding probe sends then). */
  tick?(now: number): void;
}

/** How often a player asks its {@link RungPicker}, ms (the CLI peer's loop ticks at 200 ms too). */
const ADAPT_EVERY_MS = 200;

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
  /** Rung changes so far. */
  switches: number;
}

function rand32(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** Writes one clip into a video track and an audio track. */
export class ClipPlayer implements PlayerCounts {
  packetsSent = 0;
  bytesSent = 0;
  /** Bytes of video sent (RTP header and payload), padding included. */
  videoBytesSent = 0;
  /** Bytes of padding sent to probe the path ({@link sendPadding}). */
  paddingBytes = 0;
  framesSent = 0;
  keyframesSent = 0;
  audioPacketsSent = 0;
  plisAnswered = 0;
  switches = 0;
  /** Frames sent on each rung (index into the ladder; one entry without a ladder). */
  readonly framesByRung: number[];
  /** Asked for the rung every {@link ADAPT_EVERY_MS}; null: the player stays where it is put. */
  picker: RungPicker | null = null;
  readonly videoSsrc = rand32();
  readonly audioSsrc = rand32();
  #videoSeq = Math.floor(Math.random() * 0x10000);
  #audioSeq = Math.floor(Math.random() * 0x10000);
  #videoTs = rand32();
  /** The RTP timestamp of the last frame sent (padding carries it); null before the first. */
  #lastVideoTs: number | null = null;
  #audioTs = rand32();
  /** Index of the next frame to send. */
  #frame: number;
  #audio = 0;
  #nextVideoAt: number;
  #nextAudioAt: number;
  #lastKeyAt = -Infinity;
  #stopped = false;
  #nextPickAt = -Infinity;
  /** The rung carried now and the one asked for (indices into `clip.ladder`). */
  #rung = 0;
  #target = 0;
  #frameMs: number;
  #ticksPerFrame: number;
  /** Per rung: keyframe index by its clip time (ms, rounded), to find where a switch lands. */
  readonly #keyAt: Map<number, number>[];

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
    this.#keyAt = this.#rungs.map((r) => new Map(r.keyframes.map((k) => [frameTime(r, k), k])));
    this.framesByRung = this.#rungs.map(() => 0);
    this.#nextVideoAt = now;
    this.#nextAudioAt = now;
  }

  get #rungs(): readonly ClipRung[] { return this.clip.ladder.length ? this.clip.ladder : [this.clip]; }

  /** The rung carried now (0 = the clip itself, the best). */
  get rung(): number { return this.#rung; }
  /** The rung asked for; differs from {@link rung} until that rung's next keyframe. */
  get targetRung(): number { return this.#target; }
  /** Seconds of video sent on each rung (its frames over its frame rate). */
  get rungSeconds(): number[] { return this.framesByRung.map((n, i) => n / this.#rungs[i]!.fps); }

  /**
   * Asks for rung `rung` (clamped to the ladder): the player switches in the next frame slot
   * where that rung has a keyframe and keeps its rung until then. Returns the rung asked for.
   * (A {@link RungPicker}'s step down does not wait: see {@link tick}.)
   */
  setRung(rung: number): number {
    this.#target = Math.max(0, Math.min(this.#rungs.length - 1, Math.round(rung)));
    return this.#target;
  }

  /** Sends everything due at `now` (ms, the clock's time base). */
  tick(now: number): void {
    if (this.#stopped) return;
    if (this.picker && now >= this.#nextPickAt) {
      this.#nextPickAt = now + ADAPT_EVERY_MS;
      const asked = this.setRung(this.picker.update(now, this.#rung, this.videoBytesSent));
      // A step down answers a path that carries less than is sent: every frame of the old rung
      // until its keyframe (up to the clip's keyframe interval, 2 s) would only lengthen the
      // queue. Behind a 300 kbit/s uplink, the wait for the keyframe left a backlog of about a
      // second that the lower rung took 5 s to drain, and the rule stepped down again and again
      // for it. Unlike a live encoder, the clip has the lower rung's next keyframe already: go
      // there in the next frame slot (the picture jumps ahead a little; the stream goes on as one).
      if (asked > this.#rung && this.video) this.#enterAtNextKeyframe(asked);
    }
    if (this.video) {
      if (now - this.#nextVideoAt > MAX_CATCH_UP_MS) this.#nextVideoAt = now;
      while (this.#nextVideoAt <= now) {
        this.#sendFrame(now);
        this.#nextVideoAt += this.#frameMs;
      }
    }
    // Between frames: a padding probe's bytes go out now.
    this.picker?.tick?.(now);
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
    if (this.#target !== this.#rung) {
      // A switch is pending: the new rung's next keyframe is what the partner gets anyway.
      this.#enterAtNextKeyframe(this.#target);
    } else {
      const ks = this.#rungs[this.#rung]!.keyframes;
      this.#frame = ks.find((k) => k >= this.#frame) ?? ks[0]!;
    }
    this.plisAnswered++;
    this.#sendFrame(now);
    this.#nextVideoAt = now + this.#frameMs;
  }

  /** Carries on with rung `rung` from its first keyframe at or after the clip time of the next frame. */
  #enterAtNextKeyframe(rung: number): void {
    const t = frameTime(this.#rungs[this.#rung]!, this.#frame);
    const to = this.#rungs[rung]!;
    this.#enter(rung, to.keyframes.find((k) => frameTime(to, k) >= t) ?? to.keyframes[0]!);
  }

  /** Carries on with rung `rung` from its frame `frame` (a keyframe). */
  #enter(rung: number, frame: number): void {
    const r = this.#rungs[rung]!;
    this.#rung = rung;
    this.#frame = frame;
    this.#frameMs = 1000 / r.fps;
    this.#ticksPerFrame = Math.round(90_000 / r.fps);
    this.switches++;
  }

  #sendFrame(now: number): void {
    if (this.#target !== this.#rung) {
      // Switch in this frame slot if the rung asked for has a keyframe at this clip time.
      const k = this.#keyAt[this.#target]!.get(frameTime(this.#rungs[this.#rung]!, this.#frame));
      if (k !== undefined) this.#enter(this.#target, k);
    }
    const r = this.#rungs[this.#rung]!;
    const f = r.video[this.#frame]!;
    this.#frame = (this.#frame + 1) % r.video.length;
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
      this.videoBytesSent += payload.length + 12;
    }
    this.#lastVideoTs = this.#videoTs;
    this.#videoTs = (this.#videoTs + this.#ticksPerFrame) >>> 0;
    this.framesSent++;
    this.framesByRung[this.#rung]!++;
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

  /**
   * Sends up to `bytes` of padding-only packets after the last frame (src/peer/rtp-padding.ts),
   * for a padding probe: the next sequence numbers, the last frame's timestamp. Nothing before the
   * first frame or once stopped. Returns the bytes sent.
   */
  sendPadding(bytes: number): number {
    if (this.#stopped || !this.video || this.#lastVideoTs === null) return 0;
    const pad = paddingPackets(bytes, this.#videoSeq, this.#lastVideoTs, CLIP_PAYLOAD_TYPE.video, this.videoSsrc);
    this.#videoSeq = pad.nextSeq;
    for (const p of pad.packets) this.#write(this.video, p);
    const wire = pad.bytes + 12 * pad.packets.length;
    this.packetsSent += pad.packets.length;
    this.bytesSent += wire;
    this.videoBytesSent += wire;
    this.paddingBytes += pad.bytes;
    return pad.bytes;
  }

  /** Stops sending. Idempotent. */
  stop(): void {
    this.#stopped = true;
  }

  get stopped(): boolean { return this.#stopped; }
}

/** The clip time of frame `i` of a rung, ms (rounded: rungs at 15 and 3 fps meet on whole ms). */
function frameTime(r: ClipRung, i: number): number {
  return Math.round((i * 1000) / r.fps);
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
