/**
 * Where a media bot's outgoing video and audio come from. {@link ClipFeed} replays the shared
 * pre-encoded clip (the default: no encoder per bot); {@link EncoderFeed} runs ffmpeg encoders
 * per bot through the headless peer's {@link MediaSource}, which is what the benchmark compares
 * the replay against.
 */
import type { MediaStreamTrack, RTCRtpSender } from 'werift';
import { MediaSource, type MediaSink } from '../peer/index.js';
import { BandwidthEstimator } from '../peer/bandwidth/estimator.js';
import { QueueDelayMeter, SendRate, tapQueueMeter } from '../peer/queue-delay.js';
import { attachEstimator } from '../peer/bandwidth/werift-feedback.js';
import { processCpuMs } from '../peer/proc-stat.js';
import { RungController } from '../peer/ladder.js';
import { PaddingProbes } from '../peer/padding-probes.js';
import { OVERUSE_HOLD_MS, OveruseFilter } from '../peer/overuse-filter.js';
import type { Clip } from './clip.js';
import type { ClipClock, ClipPlayer, RungPicker } from './clip-player.js';

/** Where one call's video adaptation stands (clip replay with a ladder). */
export interface FeedAdaptation {
  /** The rung sent now (0 = the clip itself, the best), and the one asked for. */
  rung: number;
  targetRung: number;
  /** Rungs of the ladder. */
  rungs: number;
  /** Rung changes so far. */
  switches: number;
  /** Seconds of video sent on each rung so far (index = rung). */
  rungSeconds: number[];
  /** The bandwidth estimate, kbit/s. */
  estimateKbps: number;
  /** Padding sent to probe the path, bytes. */
  paddingBytes: number;
}

/** Media flowing into one call's tracks. */
export interface MediaAttachment {
  /** The partner asked for a keyframe (PLI). */
  keyframe(): void;
  /** The rung and estimate of this call's video; null when it does not adapt. */
  adaptation?(): FeedAdaptation | null;
  /** Stops feeding the call. Idempotent. */
  detach(): void;
}

/** A source of outgoing media for one bot. */
export interface MediaFeed {
  /**
   * Starts feeding a call's tracks. `senders` (the call's RTP senders, after negotiation) carry
   * the partner's feedback that a feed adapting to the path listens to.
   */
  attach(video: MediaStreamTrack | null, audio: MediaStreamTrack | null, senders?: readonly RTCRtpSender[]): MediaAttachment;
  /** CPU time of encoder processes this feed runs (0 for the replay), ms. */
  childCpuMs(): number;
  close(): Promise<void>;
}

/** A queue the rule steps down for (src/peer/ladder.ts: congestion past 80 ms), ms. */
const LONG_QUEUE_MS = 80;

/**
 * One call's loop, as src/peer/adaptation.ts closes it for the CLI peer: the partner's feedback
 * feeds a {@link BandwidthEstimator}, a {@link RungController} on the clip's ladder picks the
 * rung, and the player switches at that rung's next keyframe (a step down at once, to the lower
 * rung's next keyframe in the clip). No timer of its own: the player
 * asks it on the thread's {@link ClipClock} tick.
 */
class ClipAdaptation implements RungPicker {
  readonly estimator: BandwidthEstimator;
  readonly controller: RungController;
  readonly #detach: (() => void)[];
  /** Overuse counts once it lasted OVERUSE_HOLD_MS, whatever the queue (below). */
  readonly #overuse = new OveruseFilter(OVERUSE_HOLD_MS, Infinity);
  /** The path's queue, from the same packets and feedback as the estimate (src/peer/queue-delay.ts). */
  readonly #queue = new QueueDelayMeter();
  /** What the video sent over the last second. */
  readonly #sendRate = new SendRate();
  /** The queue at the last few asks, for the queue that lasted {@link OVERUSE_HOLD_MS}. */
  #queues: { at: number; ms: number | null }[] = [];
  /** Padding probes of the next rung, sent by the player between its frames. */
  readonly #probes: PaddingProbes;

  constructor(clip: Clip, senders: readonly RTCRtpSender[], player: ClipPlayer) {
    const rungs = clip.ladder.map((r) => ({ width: r.width, height: r.height, fps: r.fps, kbps: r.spec.videoKbps }));
    // Start on the top rung, as the bots did before the ladder, with an estimate a little above
    // what it needs: a path that cannot carry it says so (delay trend, loss) within a second or
    // two, and a good path is never stepped down for want of a first estimate.
    // Where the path was found narrow (a measured capacity or a failed probe in the last 30 s) a
    // bot probes with padding, as the CLI peer does: behind 300 kbit/s, 21-25 switches for 4 bots
    // in 25 s against 29-35 by stepping up. Elsewhere it probes by sending the rung: near the CPU
    // limit a bots process reads its late arrival stamps as a queue, and padding probes judged by
    // the queue failed where a step up held (50 pairs on \`good\`: p5 bitrate 171 kbit/s against
    // 292). A probe by sending that fails costs two switches and a queue, so a failed probe backs
    // that rung off longer than the CLI's (5 s doubling to 30 s); a padding probe too, since a
    // path found narrow is seldom wider a few seconds later and each probe queues a moment.
    this.controller = new RungController(rungs, { startRung: 0, minBackoffMs: 5000, maxBackoffMs: 30_000, paddingProbes: 'narrow' });
    this.estimator = new BandwidthEstimator({ startKbps: Math.round(this.controller.needKbps(0) * 1.25) });
    tapQueueMeter(this.estimator, this.#queue);
    this.#probes = new PaddingProbes(this.controller, this.#queue, (bytes) => player.sendPadding(bytes));
    this.#detach = senders.map((s) => attachEstimator(s, this.estimator));
  }

  update(now: number, carrying: number, videoBytesSent: number): number {
    const e = this.estimator;
    // Overuse counts once it has lasted OVERUSE_HOLD_MS: a bots process near its CPU limit
    // delays its receivers' arrival stamps for a moment, which the delay trend reads as a queue
    // (measured: 50 pairs on a clean loopback flapped 66 times in 20 s); a real bottleneck's
    // queue keeps growing for seconds, and its estimate cut still takes the rung down.
    const sustained = this.#overuse.update(now, e.delayState === 'overuse', null);
    // As the trend's overuse: the queue counts once it lasted OVERUSE_HOLD_MS (its smallest over
    // that time), so a bots process near its CPU limit, whose late arrival stamps read as a queue
    // for a moment, does not take its calls down.
    // (The newest sample at least OVERUSE_HOLD_MS old stays in the window.) Only a long queue
    // waits for that: calm is judged by the queue now.
    const queueNow = this.#queue.queueMs(now);
    this.#queues.push({ at: now, ms: queueNow });
    while (this.#queues.length > 1 && now - this.#queues[1]!.at >= OVERUSE_HOLD_MS) this.#queues.shift();
    const lasting = Math.min(...this.#queues.map((x) => x.ms ?? 0));
    const queueMs = queueNow === null ? null : queueNow > LONG_QUEUE_MS ? lasting : queueNow;
    const sentKbps = this.#sendRate.update(now, videoBytesSent);
    // The same signals as the CLI peer's (src/peer/adaptation.ts), but for padding probes: the
    // path's queue (a step down once it passes 80 ms, before the estimate sees it), what the
    // receiver acknowledged against what was sent (a standing queue says what the path carries:
    // the rule goes straight to the rung that fits it and remembers it), and which packets the
    // feedback has reported (congestion from before a change was answered by it). Without them,
    // 4 bots behind 300 kbit/s over 25 s: glass-to-glass p50 789-870 ms and 2.7-4.1% loss; with
    // them 222-412 ms and 0.8-1.3% (README, "The media bots").
    const rung = this.controller.update(now, {
      estimateKbps: e.estimateKbps, overuse: sustained, lossFraction: e.lossFraction,
      queueMs, carrying, reportedUpTo: this.#queue.reportedUpTo(),
      probeQueueMs: this.#probes.queueMs(), probeSentLittle: this.#probes.sentLittle(),
      ...(e.ackedKbps !== undefined ? { ackedKbps: e.ackedKbps } : {}),
      ...(sentKbps !== undefined ? { sentKbps } : {}),
    });
    this.#probes.start(now);
    return rung;
  }

  tick(now: number): void {
    this.#probes.tick(now);
  }

  stop(): void {
    this.#probes.stop();
    for (const d of this.#detach.splice(0)) d();
  }
}

/**
 * Replays the shared clip: every attachment gets its own {@link ClipPlayer}. With a ladder
 * (`clip.ladder`, unless the spec says `adapt: false`) and the call's senders, each player
 * adapts its rung to its call's path.
 */
export class ClipFeed implements MediaFeed {
  constructor(readonly clock: ClipClock, readonly clip: Clip) {}

  attach(video: MediaStreamTrack | null, audio: MediaStreamTrack | null, senders: readonly RTCRtpSender[] = []): MediaAttachment {
    const player: ClipPlayer = this.clock.play(this.clip, video, audio);
    const adapt = video && senders.length && this.clip.ladder.length > 1 && this.clip.spec.adapt !== false ? new ClipAdaptation(this.clip, senders, player) : null;
    player.picker = adapt;
    let last: FeedAdaptation | null = null;
    const snapshot = (): FeedAdaptation | null => {
      if (!adapt) return null;
      if (player.stopped && last) return last; // the numbers at the end of the call
      last = {
        rung: player.rung, targetRung: player.targetRung, rungs: this.clip.ladder.length, switches: player.switches, rungSeconds: player.rungSeconds,
        estimateKbps: Math.round(adapt.estimator.estimateKbps), paddingBytes: player.paddingBytes,
      };
      return last;
    };
    return {
      keyframe: () => player.keyframe(this.clock.now()),
      adaptation: snapshot,
      detach: () => {
        snapshot();
        adapt?.stop();
        this.clock.remove(player);
      },
    };
  }

  childCpuMs(): number { return 0; }
  async close(): Promise<void> { /* the clip and the clock are shared */ }
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
      adaptation: () => null,
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
