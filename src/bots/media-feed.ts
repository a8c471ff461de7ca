/**
 * Where a media bot's outgoing video and audio come from. {@link ClipFeed} replays the shared
 * pre-encoded clip (the default: no encoder per bot); {@link EncoderFeed} runs ffmpeg encoders
 * per bot through the headless peer's {@link MediaSource}, which is what the benchmark compares
 * the replay against.
 */
import { readFileSync } from 'node:fs';
import type { MediaStreamTrack } from 'werift';
import { MediaSource, type MediaSink } from '../peer/index.js';
import type { Clip } from './clip.js';
import type { ClipClock, ClipPlayer } from './clip-player.js';

/** Media flowing into one call's tracks. */
export interface MediaAttachment {
  /** The partner asked for a keyframe (PLI). */
  keyframe(): void;
  /** Stops feeding the call. Idempotent. */
  detach(): void;
}

/** A source of outgoing media for one bot. */
export interface MediaFeed {
  /** Starts feeding a call's tracks. */
  attach(video: MediaStreamTrack | null, audio: MediaStreamTrack | null): MediaAttachment;
  /** CPU time of encoder processes this feed runs (0 for the replay), ms. */
  childCpuMs(): number;
  close(): Promise<void>;
}

/** Replays the shared clip: every attachment gets its own {@link ClipPlayer}. */
export class ClipFeed implements MediaFeed {
  constructor(readonly clock: ClipClock, readonly clip: Clip) {}

  attach(video: MediaStreamTrack | null, audio: MediaStreamTrack | null): MediaAttachment {
    const player: ClipPlayer = this.clock.play(this.clip, video, audio);
    return {
      keyframe: () => player.keyframe(this.clock.now()),
      detach: () => this.clock.remove(player),
    };
  }

  childCpuMs(): number { return 0; }
  async close(): Promise<void> { /* the clip and the clock are shared */ }
}

/** CPU time (user + system) of a live process from /proc (Linux), ms; null elsewhere or once it is gone. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Settings of the per-bot encoders. */
export interface EncoderFeedOptions {
  ffmpegPath: string;
  width: number;
  height: number;
  fps: number;
  videoKbps: number;
  audioKbps: number;
  keyframeIntervalS: number;
}

/** Two ffmpeg encoders (VP8 test pattern, Opus tone) for one bot, as the headless peer runs them. */
export class EncoderFeed implements MediaFeed {
  #lastCpu = new Map<MediaSource, number>();

  private constructor(readonly video: MediaSource, readonly audio: MediaSource) {}

  /** Starts both encoders; resolves once each has sent its first packet. */
  static async start(o: EncoderFeedOptions): Promise<EncoderFeed> {
    const [v, a] = await Promise.allSettled([
      MediaSource.start({
        kind: 'video', source: { type: 'testsrc' },
        encode: { codec: 'vp8', width: o.width, height: o.height, fps: o.fps, bitrateKbps: o.videoKbps, keyframeIntervalS: o.keyframeIntervalS },
      }, { ffmpegPath: o.ffmpegPath }),
      MediaSource.start({ kind: 'audio', source: { type: 'sine' }, bitrateKbps: o.audioKbps }, { ffmpegPath: o.ffmpegPath }),
    ]);
    if (v.status === 'rejected' || a.status === 'rejected') {
      await Promise.all([v, a].map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
      throw (v.status === 'rejected' ? v.reason : (a as PromiseRejectedResult).reason) as Error;
    }
    return new EncoderFeed(v.value, a.value);
  }

  attach(video: MediaStreamTrack | null, audio: MediaStreamTrack | null): MediaAttachment {
    const vs: MediaSink | null = video ? this.video.attach(video) : null;
    const as: MediaSink | null = audio ? this.audio.attach(audio) : null;
    return {
      keyframe: () => { if (vs) this.video.requestKeyframe(vs); },
      detach: () => {
        if (vs) this.video.detach(vs);
        if (as) this.audio.detach(as);
      },
    };
  }

  childCpuMs(): number {
    let sum = 0;
    for (const src of [this.video, this.audio]) {
      const now = processCpuMs(src.pid);
      if (now !== null) this.#lastCpu.set(src, now);
      sum += this.#lastCpu.get(src) ?? 0;
    }
    return sum;
  }

  async close(): Promise<void> {
    this.childCpuMs(); // the last reading, before the processes are gone
    await Promise.all([this.video.close(), this.audio.close()]);
  }
}
