/**
 * Call quality of media bots, as a viewer would see it, and the lab that puts them behind a
 * network profile (`bots --network`). One {@link BotLab} per worker thread: its impairment
 * relay (one flow, so one shaped link, per bot call) and a {@link CallWatch} per call.
 *
 * Bots replay a pre-encoded clip, so there is no stamp to decode and no decoder in the path
 * (decoding every bot's video would cost more CPU than the bots). A frame counts as rendered
 * when its last packet arrives and every packet since the last rendered frame came (after a
 * lost packet, nothing renders until a whole keyframe, as a decoder without the retransmission
 * would behave). Freezes and fps follow from those frames (src/quality/viewer-stats.ts).
 * Latency is estimated without synchronised clocks: half the RTT plus each frame's queueing
 * delay, the growth of (arrival - RTP timestamp) over its smallest value in the call, so a
 * filling bottleneck queue or jitter shows up in full. The MOS is the simplified E-model of
 * src/quality/mos.ts from the call's RTT, audio jitter and loss.
 */
import type { MediaStreamTrack, RtpPacket } from 'werift';
import type { IceServer } from '../protocol/index.js';
import { ImpairmentRelay, iceServersThroughRelay, type NetworkProfile } from '../lab/index.js';
import type { Call } from '../peer/index.js';
import { vp8PayloadKind } from '../peer/rtp-frames.js';
import { estimateMos, percentile, ViewerStats } from '../quality/index.js';
import type { FeedAdaptation } from './media-feed.js';
import type { ThresholdResult } from './threshold.js';

/** What one bot saw over its calls (null fields: nothing measured). */
export interface BotQuality {
  frames: number;
  /** Rendered frames per second while video flowed. */
  fps: number;
  freezeCount: number;
  /** Time frozen over time with video, 0..1. */
  freezeRatio: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  /** Median of the MOS estimates taken each second. */
  mos: number | null;
  /** Median round trip of its calls' ICE candidate pair, ms (what nearby pairing's estimate is checked against). */
  rttP50Ms?: number | null;
  /**
   * The video this bot sent (clip ladder, `bots --no-adapt` leaves it null): the rung its last
   * call ended on (0 = the clip itself), rung changes over its calls, and that call's last
   * bandwidth estimate, kbit/s.
   */
  rung: number | null;
  rungSwitches: number;
  /** Seconds of video its calls sent on each rung (index = rung; empty when it does not adapt). */
  rungSeconds: number[];
  estimateKbps: number | null;
  /** Padding its calls sent to probe the path (padding-only RTP packets), bytes. */
  paddingBytes: number;
}

/** The quality part of the bots summary: percentiles over the bots that received video. */
export interface QualitySummary {
  bots: number;
  network: string | null;
  /** Per-bot fps: median and the worst 5%. */
  fps: { p50: number; p5: number };
  /** Per-bot freeze ratio: median, the worst 5%, the worst. */
  freezeRatio: { p50: number; p95: number; max: number };
  /** Per-bot latency: the median of the bots' p50, and the 95th percentile of their p95. */
  latencyMs: { p50: number; p95: number } | null;
  /** Per-bot MOS: median, the worst 5%, the worst. */
  mos: { p50: number; p5: number; min: number } | null;
  /** Per-bot call round trip (the ICE candidate pair's): median and 95th percentile of the bots' medians, ms. */
  rttMs?: { p50: number; p95: number } | null;
  /**
   * The senders' adaptation (null when no bot adapted, e.g. `--no-adapt`): how many bots ended
   * on each rung (`"0"` = the clip itself), the seconds of video all of them sent on each rung
   * over all their calls, rung changes over all bots and the most one bot made, the median of
   * the bots' last bandwidth estimate, kbit/s, and the padding all of them sent to probe their
   * paths, bytes.
   */
  adaptation: { bots: number; endedOnRung: Record<string, number>; rungSeconds: Record<string, number>; switches: number; maxSwitches: number; estimateKbpsP50: number | null; paddingBytes: number } | null;
}

/** Quality thresholds of a run. */
export interface QualityThresholds {
  /** Largest p95 of the per-bot freeze ratio, 0..1. */
  maxFreezeRatio?: number;
  /** Largest p95 of the per-bot p95 latency, ms. */
  maxP95LatencyMs?: number;
  /** Smallest p5 of the per-bot MOS. */
  minMos?: number;
}

const MAX_SAMPLES = 5000;

/** Watches one call's incoming video and samples its stats each second. */
class CallWatch {
  readonly viewer = new ViewerStats(0);
  /** Arrival minus RTP time of each rendered frame, ms. */
  readonly delays: number[] = [];
  readonly rtts: number[] = [];
  readonly moss: number[] = [];
  #n = 0;
  #lastSeq = -1;
  #frameTs = -1;
  #frameIntact = true;
  #frameKey = false;
  #needKey = true;
  #timer: NodeJS.Timeout;
  #last = { packets: 0, lost: 0 };
  readonly #subs: (() => void)[] = [];

  constructor(readonly call: Call, readonly adaptation: (() => FeedAdaptation | null) | null = null) {
    const seen = new Set<MediaStreamTrack>();
    const scan = () => {
      for (const t of call.pc.getTransceivers()) {
        if (t.kind !== 'video') continue;
        for (const track of t.receiver.tracks) {
          if (seen.has(track)) continue;
          seen.add(track);
          this.#subs.push(track.onReceiveRtp.subscribe((rtp: RtpPacket) => this.#onRtp(rtp)).unSubscribe);
        }
      }
    };
    scan();
    this.#subs.push(call.pc.onTrack.subscribe(() => scan()).unSubscribe);
    this.#timer = setInterval(() => void this.#sample(), 1000);
    this.#timer.unref();
  }

  #onRtp(rtp: RtpPacket): void {
    const h = rtp.header;
    if (this.#lastSeq >= 0) {
      const step = (h.sequenceNumber - this.#lastSeq + 65536) % 65536;
      if (step === 0 || step > 32768) return; // a retransmission or duplicate of what we counted
      if (step > 1) { this.#frameIntact = false; this.#needKey = true; }
    }
    this.#lastSeq = h.sequenceNumber;
    if (h.timestamp !== this.#frameTs) {
      this.#frameTs = h.timestamp;
      this.#frameIntact = true;
      this.#frameKey = false;
      if (!vp8PayloadKind(rtp.payload).frameStart) this.#frameIntact = false;
    }
    if (vp8PayloadKind(rtp.payload).keyframe) this.#frameKey = true;
    if (!h.marker) return;
    if (!this.#frameIntact) return;
    if (this.#needKey && !this.#frameKey) return;
    this.#needKey = false;
    const now = Date.now();
    this.viewer.add({ seq: this.#n++ & 0xffff, sentAt: now, renderedAt: now });
    if (this.delays.length < MAX_SAMPLES) this.delays.push(now - h.timestamp / 90);
  }

  async #sample(): Promise<void> {
    if (this.call.state === 'closed') { this.stop(); return; }
    const s = await this.call.stats().catch(() => null);
    if (!s || s.rttMs === null) return;
    const packets = s.video.packets + s.audio.packets;
    const lost = s.video.lost + s.audio.lost;
    const dp = packets - this.#last.packets;
    const dl = lost - this.#last.lost;
    this.#last = { packets, lost };
    if (dp <= 0) return;
    if (this.rtts.length < MAX_SAMPLES) this.rtts.push(s.rttMs);
    const lossPercent = (100 * Math.max(0, dl)) / (dp + Math.max(0, dl));
    if (this.moss.length < MAX_SAMPLES) this.moss.push(estimateMos({ rttMs: s.rttMs, jitterMs: s.audioJitterMs ?? 0, lossPercent }));
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const u of this.#subs.splice(0)) { try { u(); } catch { /* gone */ } }
  }
}

/** Adds `xs` into `into` element by element (index = rung). */
function addByRung(into: number[], xs: readonly number[]): void {
  xs.forEach((s, i) => { into[i] = (into[i] ?? 0) + s; });
}

/** Everything one bot's calls measured. */
class BotAccumulator {
  readonly watches: CallWatch[] = [];

  result(): BotQuality | null {
    let frames = 0;
    let spanMs = 0;
    let freezeMs = 0;
    let freezeCount = 0;
    const latencies: number[] = [];
    const moss: number[] = [];
    let last: FeedAdaptation | null = null;
    let rungSwitches = 0;
    let paddingBytes = 0;
    const rungSeconds: number[] = [];
    for (const w of this.watches) {
      const a = w.adaptation?.() ?? null;
      if (a) {
        last = a;
        rungSwitches += a.switches;
        paddingBytes += a.paddingBytes;
        addByRung(rungSeconds, a.rungSeconds);
      }
      const v = w.viewer.summary();
      frames += v.frames;
      spanMs += v.spanMs;
      freezeMs += v.freezeMs;
      freezeCount += v.freezeCount;
      moss.push(...w.moss);
      if (w.delays.length > 0) {
        // Unwrap RTP time (32 bits at 90 kHz wraps every 13 h) against the first frame.
        const base = w.delays[0]!;
        const wrap = 2 ** 32 / 90;
        const d = w.delays.map((x) => x - Math.round((x - base) / wrap) * wrap);
        const min = Math.min(...d);
        const halfRtt = w.rtts.length ? percentile(w.rtts, 50) / 2 : 0;
        for (const x of d) latencies.push(halfRtt + x - min);
      }
    }
    if (frames === 0) return null;
    const r = (x: number) => Math.round(x * 10) / 10;
    return {
      frames,
      fps: spanMs > 0 ? r(((frames - this.watches.length) * 1000) / spanMs) : 0,
      freezeCount,
      freezeRatio: spanMs > 0 ? Math.round((1000 * freezeMs) / spanMs) / 1000 : 0,
      latencyP50Ms: latencies.length ? r(percentile(latencies, 50)) : null,
      latencyP95Ms: latencies.length ? r(percentile(latencies, 95)) : null,
      mos: moss.length ? percentile(moss, 50) : null,
      rttP50Ms: this.watches.some((w) => w.rtts.length) ? r(percentile(this.watches.flatMap((w) => w.rtts), 50)) : null,
      rung: last?.rung ?? null,
      rungSwitches,
      rungSeconds: Array.from(rungSeconds, (s) => r(s ?? 0)),
      paddingBytes,
      estimateKbps: last?.estimateKbps ?? null,
    };
  }
}

/** The lab and quality watches of one worker's media bots. */
export class BotLab {
  readonly #relay: ImpairmentRelay | null;
  readonly #bots = new Map<number, BotAccumulator>();

  private constructor(relay: ImpairmentRelay | null) {
    this.#relay = relay;
  }

  /** With a profile, binds the impairment relay its bots' calls go through. */
  static async start(network?: NetworkProfile): Promise<BotLab> {
    return new BotLab(network ? await ImpairmentRelay.start({ profile: network }) : null);
  }

  /** True when the bots sit behind a profile (their calls must be relay-only). */
  get shaped(): boolean { return this.#relay !== null; }

  /** The ICE servers of a call: TURN through the relay when shaped. */
  iceServers(servers: IceServer[]): IceServer[] {
    return this.#relay ? iceServersThroughRelay(servers, this.#relay) : servers;
  }

  /**
   * Starts measuring a bot's call (it stops by itself when the call closes); `adaptation` tells
   * the rung the bot sends on that call (MediaLink.adaptation).
   */
  watch(botId: number, call: Call, adaptation: (() => FeedAdaptation | null) | null = null): void {
    let acc = this.#bots.get(botId);
    if (!acc) { acc = new BotAccumulator(); this.#bots.set(botId, acc); }
    acc.watches.push(new CallWatch(call, adaptation));
  }

  /** What a bot's calls measured so far. */
  quality(botId: number): BotQuality | null {
    return this.#bots.get(botId)?.result() ?? null;
  }

  /** Stops every watch and the relay. */
  async close(): Promise<void> {
    for (const acc of this.#bots.values()) for (const w of acc.watches) w.stop();
    await this.#relay?.close();
  }
}

/** Percentiles of the bots' quality (null without a bot that rendered video). */
export function qualitySummary(qs: readonly (BotQuality | null | undefined)[], network: string | null): QualitySummary | null {
  const q = qs.filter((x): x is BotQuality => !!x && x.frames > 0);
  if (!q.length) return null;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const lat50 = q.map((x) => x.latencyP50Ms).filter((x): x is number => x !== null);
  const lat95 = q.map((x) => x.latencyP95Ms).filter((x): x is number => x !== null);
  const mos = q.map((x) => x.mos).filter((x): x is number => x !== null);
  const rtt = q.map((x) => x.rttP50Ms).filter((x): x is number => x !== null && x !== undefined);
  const freeze = q.map((x) => x.freezeRatio);
  const adapted = q.filter((x) => x.rung !== null && x.rung !== undefined);
  const endedOnRung: Record<string, number> = {};
  const seconds: number[] = [];
  for (const x of adapted) {
    endedOnRung[String(x.rung)] = (endedOnRung[String(x.rung)] ?? 0) + 1;
    addByRung(seconds, x.rungSeconds ?? []);
  }
  const rungSeconds = Object.fromEntries(Array.from(seconds, (s, i) => [String(i), Math.round((s ?? 0) * 10) / 10]));
  const estimates = adapted.map((x) => x.estimateKbps).filter((x): x is number => x !== null && x !== undefined);
  return {
    bots: q.length,
    network,
    fps: { p50: r(percentile(q.map((x) => x.fps), 50)), p5: r(percentile(q.map((x) => x.fps), 5)) },
    freezeRatio: { p50: r(percentile(freeze, 50)), p95: r(percentile(freeze, 95)), max: r(Math.max(...freeze)) },
    latencyMs: lat50.length ? { p50: r(percentile(lat50, 50)), p95: r(percentile(lat95, 95)) } : null,
    mos: mos.length ? { p50: r(percentile(mos, 50)), p5: r(percentile(mos, 5)), min: r(Math.min(...mos)) } : null,
    rttMs: rtt.length ? { p50: r(percentile(rtt, 50)), p95: r(percentile(rtt, 95)) } : null,
    adaptation: adapted.length ? {
      bots: adapted.length,
      endedOnRung,
      rungSeconds,
      switches: adapted.reduce((n, x) => n + (x.rungSwitches ?? 0), 0),
      maxSwitches: Math.max(...adapted.map((x) => x.rungSwitches ?? 0)),
      estimateKbpsP50: estimates.length ? Math.round(percentile(estimates, 50)) : null,
      paddingBytes: adapted.reduce((n, x) => n + (x.paddingBytes ?? 0), 0),
    } : null,
  };
}

/** The quality thresholds applied to a run's quality summary. */
export function evaluateQuality(q: QualitySummary | null | undefined, t: QualityThresholds): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  const none = 'no bot rendered video';
  if (t.maxFreezeRatio !== undefined) {
    const v = q?.freezeRatio.p95 ?? null;
    const ok = v !== null && v <= t.maxFreezeRatio;
    out.push({ name: 'max-freeze-ratio', limit: t.maxFreezeRatio, value: v, passed: ok, message: v === null ? `${none} (limit ${t.maxFreezeRatio})` : `p95 freeze ratio ${v} ${ok ? '<=' : '>'} ${t.maxFreezeRatio}` });
  }
  if (t.maxP95LatencyMs !== undefined) {
    const v = q?.latencyMs?.p95 ?? null;
    const ok = v !== null && v <= t.maxP95LatencyMs;
    out.push({ name: 'max-p95-latency-ms', limit: t.maxP95LatencyMs, value: v, passed: ok, message: v === null ? `${none} (limit ${t.maxP95LatencyMs} ms)` : `p95 latency ${v} ms ${ok ? '<=' : '>'} ${t.maxP95LatencyMs} ms` });
  }
  if (t.minMos !== undefined) {
    const v = q?.mos?.p5 ?? null;
    const ok = v !== null && v >= t.minMos;
    out.push({ name: 'min-mos', limit: t.minMos, value: v, passed: ok, message: v === null ? `no MOS was measured (limit ${t.minMos})` : `p5 MOS ${v} ${ok ? '>=' : '<'} ${t.minMos}` });
  }
  return out;
}
