/**
 * Closes the loop werift leaves open: the partner's feedback (transport-wide congestion control,
 * receiver reports, REMB) feeds a bandwidth estimate (src/peer/bandwidth), the estimate picks a
 * rung of the video ladder (src/peer/ladder.ts), and the encoder fan-out switches the call's
 * track to that rung at its next keyframe (src/peer/media-source.ts). One per call.
 */
import type { RTCRtpSender } from 'werift';
import { BandwidthEstimator } from './bandwidth/estimator.js';
import { attachEstimator } from './bandwidth/werift-feedback.js';
import { protectVideo, type FecPayloadTypes } from './fec.js';
import { FecRule, FEC_SHARE } from './fec-rule.js';
import { RungController, type LadderOptions, type RungReason } from './ladder.js';
import type { MediaSink, MediaSource } from './media-source.js';
import { limitRetransmissions, type RetransmissionCounts, type RetransmissionOptions } from './nack-limiter.js';
import { OveruseFilter } from './overuse-filter.js';
import { PaddingProbes } from './padding-probes.js';
import { QueueDelayMeter, SendRate, tapQueueMeter } from './queue-delay.js';

/** With no transport-wide feedback at all for this long, the rung is judged without it, ms. */
const NO_FEEDBACK_MS = 5000;
/** How often the rung is reconsidered, ms. */
const TICK_MS = 200;
/**
 * The video is paced at this many times what the rung it carries needs (src/peer/pacer.ts): on a
 * path lately found narrow 1.5 (a keyframe spreads over about two frame times and the audio is
 * not stuck behind it at the bottleneck), else 4: a viewer's jitter buffer plans for the largest
 * frame's time on the wire, and at 2.5 (libwebrtc's factor, but of an estimate that on a wide
 * path is soon several times the rate sent) a 640x480 keyframe took 75 ms to leave and a Chromium
 * viewer held the video 35 ms more than behind a Chromium sender.
 */
const PACE_NARROW = 1.5;
const PACE_WIDE = 4;
const PACE_FLOOR_KBPS = 300;
/**
 * On a path not found narrow, this much time at the pace may go out at once (libwebrtc's pacer
 * allows a 40 ms burst too): a frame leaves whole, not over the pacer's 5 ms ticks. With a burst
 * of two packets a 5 KB frame left over 10-15 ms; a Chromium viewer measured that as frame
 * assembly time (11 ms a frame against 2 behind a Chromium sender, whose frames were larger) and
 * sized its video jitter buffer to it: 50-60 ms on `good` where a Chromium sender's got 15-35,
 * 116-177 on `lossy-5` against 68-118. On a narrow path the burst stays two packets: there a
 * frame sent at once queues at the bottleneck and the audio behind it waits.
 */
const PACE_WIDE_BURST_MS = 40;
/**
 * The queue a Sender Report met is bounded by what the packets sent this long after it met, ms
 * (a frame interval at 15 fps, and more; src/peer/queue-delay.ts `queueMetBy`).
 */
const REPORT_QUEUE_SPAN_MS = 70;
/** How often padding goes out while a padding probe is on, ms. */
const PAD_TICK_MS = 20;

/** What the adaptation is doing, for stats and the terminal view. */
export interface AdaptationSnapshot {
  /** The rung sent now (0 = best), and its size, frame rate and target bitrate. */
  rung: number;
  width: number;
  height: number;
  fps: number;
  targetKbps: number;
  /** The rung asked for (differs from `rung` until its next keyframe). */
  targetRung: number;
  /** The bandwidth estimate, kbit/s. */
  estimateKbps: number;
  /** Why the rung is what it is. */
  reason: RungReason;
  /** Rung changes so far. */
  switches: number;
  /** The delay trend: `overuse` while the path's queue grows. */
  delay: 'normal' | 'overuse' | 'underuse';
  /** Recent loss of our packets, percent. */
  lossPercent: number;
  /** Transport-wide feedback messages the estimate has read (0: the partner sends none). */
  feedback: number;
  /** How long our packets wait in the path's queue now, ms (null: no feedback to tell). */
  queueMs: number | null;
  /** Packets the partner asked to resend (NACK), and how many were resent within the budget. */
  nacked: number;
  resent: number;
  /** Keyframes the partner asked for (PLI). */
  keyframeRequests: number;
  /** Padding sent to probe the path, bytes. */
  paddingBytes: number;
  /** What the partner acknowledged receiving of our video lately, kbit/s (null: no feedback yet). */
  ackedKbps: number | null;
  /** The video goes out protected by FEC (src/peer/fec.ts), and the FEC packets sent so far. */
  fec: boolean;
  fecPackets: number;
  /** The round trip to the partner from its reception reports, ms (null: none yet). */
  rttMs: number | null;
}

/** Settings of {@link VideoAdaptation}. */
export interface AdaptationOptions extends LadderOptions {
  /** Answer the partner's NACKs (default true); false: lost packets wait for the next keyframe. */
  retransmit?: boolean;
  /** Called when the rung asked for changes. */
  onChange?: (s: AdaptationSnapshot) => void;
  /**
   * FEC for the video (src/peer/fec.ts), when the partner negotiated RED and ULPFEC: `auto`
   * (default) on a long path that loses packets, `on` always, `off` never.
   */
  fec?: 'auto' | 'on' | 'off';
  /** The negotiated FEC payload types (Call.fecPayloadTypes); null or absent: no FEC. */
  fecTypes?: () => FecPayloadTypes | null;
}

/**
 * What the resend limiter reads of a call's estimate: its budget's share of the estimate, the
 * round trip that times a packet's next resend, and each resend as sent (`answer` false: no NACK
 * answered).
 */
export function retransmissionOptions(estimator: BandwidthEstimator, answer: boolean): RetransmissionOptions {
  return {
    estimateKbps: () => estimator.estimateKbps, rttMs: () => estimator.rttMs, onResent: (p) => estimator.onPacketSent(p), answer,
  };
}

/** The per-call loop: estimate, choose, switch. */
export class VideoAdaptation {
  readonly estimator: BandwidthEstimator;
  readonly controller: RungController;
  readonly #source: MediaSource;
  readonly #sink: MediaSink;
  readonly #detach: (() => void)[];
  readonly #timer: NodeJS.Timeout;
  readonly #onChange: ((s: AdaptationSnapshot) => void) | undefined;
  readonly #queue = new QueueDelayMeter();
  /** The trend's overuse counts at once with a queue behind it, after 400 ms without (src/peer/overuse-filter.ts). */
  readonly #overuse = new OveruseFilter();
  readonly #resends: RetransmissionCounts[] = [];
  #lastFeedbackAt: number | null = null;
  readonly #startedAt = performance.now();
  /** What the video sent over the last second. */
  readonly #sendRate = new SendRate();
  /** The video is paused (the partner's page is hidden): the rung stays as it is. */
  #paused = false;
  /** The padding probes, and their timer while one sends. */
  readonly #probes: PaddingProbes;
  #padTimer: NodeJS.Timeout | null = null;
  readonly #fecMode: 'auto' | 'on' | 'off';
  readonly #fecTypes: (() => FecPayloadTypes | null) | undefined;
  readonly #videoSender: RTCRtpSender | undefined;
  /** The FEC hook once the partner's description allowed one, and whether it is on. */
  #fec: ReturnType<typeof protectVideo> | null = null;
  #fecOn = false;
  readonly #fecRule: FecRule;

  /**
   * Starts adapting `sink` (attached to `source` on the rung `controller.target`) from the
   * feedback that reaches `senders` (the call's video and audio senders: the partner may send
   * its transport-wide feedback on either).
   */
  constructor(source: MediaSource, sink: MediaSink, senders: RTCRtpSender[], opts: AdaptationOptions = {}) {
    this.#source = source;
    this.#sink = sink;
    this.#onChange = opts.onChange;
    this.controller = new RungController(source.rungs, { paddingProbes: true, ...opts });
    this.estimator = new BandwidthEstimator({ startKbps: opts.startKbps ?? 300 });
    // The queue meter reads the same packets and feedback as the estimate.
    tapQueueMeter(this.estimator, this.#queue, (nowMs) => { this.#lastFeedbackAt = nowMs; });
    this.#probes = new PaddingProbes(this.controller, this.#queue, (bytes) => this.#source.sendPadding(this.#sink, bytes));
    this.#detach = senders.map((s) => attachEstimator(s, this.estimator));
    this.#fecMode = opts.fec ?? 'auto';
    this.#fecRule = new FecRule(this.#fecMode);
    this.#fecTypes = opts.fecTypes;
    this.#videoSender = senders.find((s) => s.track?.kind === 'video');
    for (const s of senders) {
      if (s.track?.kind !== 'video') continue;
      const limited = limitRetransmissions(s, retransmissionOptions(this.estimator, opts.retransmit !== false));
      this.#resends.push(limited.counts);
      this.#detach.push(limited.stop);
    }
    source.setRung(sink, this.controller.target);
    this.#pace(performance.now());
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  /** The rung a new sink should start on. */
  static startRung(source: MediaSource, opts: LadderOptions = {}): number {
    return new RungController(source.rungs, opts).target;
  }

  /**
   * Paused (the partner's page is hidden, so no video goes out) or going on. While paused the
   * rung is not reconsidered: feedback that stops then is no congestion. Resuming starts the
   * stall clock afresh.
   */
  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (!paused) this.#lastFeedbackAt = null;
  }

  #tick(): void {
    if (this.#paused) return;
    const e = this.estimator;
    const now = performance.now();
    const q = this.#queue.queueMs(now);
    this.#updateFec(now, q);
    const before = this.controller.target;
    // Feedback that stops while we send means nothing gets through: as congested as it gets.
    const stalled = this.#lastFeedbackAt !== null && now - this.#lastFeedbackAt > 1000;
    const sentKbps = this.#sendRate.update(now, this.#sink.bytesSent);
    const loss = this.#queue.lossSample(now, this.controller.changedAt);
    const target = this.controller.update(now, {
      estimateKbps: e.estimateKbps,
      overuse: this.#overuse.update(now, e.delayState === 'overuse', q),
      stalled,
      // Only what was sent since the rung took effect: the loss a change already answered is old news.
      lossFraction: loss.fraction,
      lossPackets: loss.packets,
      // A partner that never sends transport-wide feedback (a stack without it) would keep the
      // rule from ever seeing calm: after NO_FEEDBACK_MS it judges by the rest, as without a meter.
      ...(this.#lastFeedbackAt === null && now - this.#startedAt > NO_FEEDBACK_MS ? {} : { queueMs: q }),
      carrying: this.#sink.rung,
      reportedUpTo: this.#queue.reportedUpTo(),
      probeQueueMs: this.#probes.queueMs(),
      probeSentLittle: this.#probes.sentLittle(),
      ...(e.ackedKbps !== undefined ? { ackedKbps: e.ackedKbps } : {}),
      ...(sentKbps !== undefined ? { sentKbps } : {}),
    });
    if (this.controller.shedOverhead) {
      this.#fecRule.shed(now);
      this.#setFec(false, now);
    }
    if (target !== before) {
      this.#source.setRung(this.#sink, target, { hold: this.controller.hold });
      this.#onChange?.(this.snapshot());
    }
    if (this.#probes.start(now) && this.#probes.sending && !this.#padTimer) {
      // The probe's padding goes out every PAD_TICK_MS until it ends.
      this.#padTimer = setInterval(() => {
        this.#probes.tick(performance.now());
        if (!this.#probes.sending && this.#padTimer) { clearInterval(this.#padTimer); this.#padTimer = null; }
      }, PAD_TICK_MS);
      this.#padTimer.unref();
    }
    this.#pace(now);
  }

  /** FEC on or off as src/peer/fec-rule.ts says (`auto`), or as told; `queueMs` is the meter's reading this tick. */
  #updateFec(now: number, queueMs: number | null): void {
    if (this.#fecMode === 'off' || !this.#videoSender) return;
    if (!this.#fec) {
      const types = this.#fecTypes?.();
      if (!types) return;
      this.#fec = protectVideo(this.#videoSender, types);
      this.#detach.push(this.#fec.stop);
    }
    const want = this.#fecRule.update(now, {
      nacked: this.#resends.reduce((n, c) => n + c.requested, 0),
      lossFraction: this.#queue.lossFraction(now),
      queueMs,
      rttMs: this.estimator.rttMs,
      rttAtMs: this.estimator.rttAtMs,
      rttQueueMs: this.#reportQueueMs(),
    });
    this.#setFec(want, now);
  }

  /** Sends FEC or stops, and budgets the ladder's rungs for it (which congestion may shed under `auto`). */
  #setFec(on: boolean, now: number): void {
    if (on === this.#fecOn || !this.#fec) return;
    this.#fecOn = on;
    this.#fec.setOn(on);
    this.#source.setFec(this.#sink, on);
    this.controller.setVideoOverhead(on ? FEC_SHARE : 0, now, this.#fecMode === 'auto');
    this.#onChange?.(this.snapshot());
  }

  /**
   * At most the queue in our uplink that the Sender Report behind the latest round trip met, ms,
   * from the packets sent in the {@link REPORT_QUEUE_SPAN_MS} after it (null: not known yet).
   */
  #reportQueueMs(): number | null {
    const sent = this.estimator.rttSentAtMs;
    return sent === undefined ? null : this.#queue.queueMetBy(sent, REPORT_QUEUE_SPAN_MS);
  }

  /** Sets the sink's pacing rate from the rungs it carries and goes to, and the probe's padding. */
  #pace(now: number): void {
    const c = this.controller;
    const narrow = c.pathLimited(now);
    const factor = narrow ? PACE_NARROW : PACE_WIDE;
    const video = Math.max(c.videoNeedKbps(this.#sink.rung), c.videoNeedKbps(this.#sink.targetRung));
    const probe = c.padProbe;
    const padding = probe ? Math.max(0, c.needKbps(probe.rung) - c.needKbps(c.target)) : 0;
    // Never below PACE_FLOOR_KBPS: bursts at about a narrow uplink's own rate queue little there,
    // and a keep-alive rung's keyframe paced at its own 70 kbit/s took a quarter second to leave.
    this.#source.setPacing(this.#sink, Math.max(PACE_FLOOR_KBPS, factor * video) + padding, narrow ? 0 : PACE_WIDE_BURST_MS);
  }

  /** What it is doing now. */
  snapshot(): AdaptationSnapshot {
    const rung = this.#sink.rung;
    const r = this.#source.rungs[rung]!;
    return {
      rung, width: r.width, height: r.height, fps: r.fps, targetKbps: r.kbps,
      targetRung: this.#sink.targetRung,
      estimateKbps: Math.round(this.estimator.estimateKbps),
      reason: this.controller.reason,
      switches: this.#sink.switches,
      delay: this.estimator.delayState,
      lossPercent: Math.round(this.#queue.lossFraction(performance.now()) * 1000) / 10,
      feedback: this.estimator.feedbackCount,
      queueMs: this.#queue.queueMs(performance.now()),
      nacked: this.#resends.reduce((n, c) => n + c.requested, 0),
      resent: this.#resends.reduce((n, c) => n + c.allowed, 0),
      keyframeRequests: this.#sink.keyframeRequests,
      paddingBytes: this.#sink.paddingBytes,
      ackedKbps: this.estimator.ackedKbps === undefined ? null : Math.round(this.estimator.ackedKbps),
      fec: this.#fecOn,
      fecPackets: this.#fec?.counts.fecPackets ?? 0,
      rttMs: this.estimator.rttMs === undefined ? null : Math.round(this.estimator.rttMs),
    };
  }

  /** Stops the loop and the feedback taps. Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#source.setPacing(this.#sink, 0);
    if (this.#padTimer) clearInterval(this.#padTimer);
    this.#padTimer = null;
    this.#probes.stop();
    if (this.#fecOn) this.#source.setFec(this.#sink, false);
    for (const d of this.#detach.splice(0)) d();
  }
}
