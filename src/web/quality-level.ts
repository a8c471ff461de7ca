/**
 * The connection-quality indicator's logic, pure (no DOM, no RTCPeerConnection): a
 * `getStats()` report (as plain objects) becomes a {@link StatsSample}; two samples become the
 * {@link QualityInputs} of the interval between them (round trip, loss each way, the outgoing
 * bandwidth estimate, freezes of the partner's video); {@link classifyQuality} turns those into
 * a level and one sentence saying why; {@link QualityTracker} smooths the levels over a few
 * samples and says how long the call has been poor.
 *
 * Stats fields: W3C webrtc-stats (https://www.w3.org/TR/webrtc-stats/): RTCIceCandidatePairStats
 * `currentRoundTripTime` and `availableOutgoingBitrate`, RTCRemoteInboundRtpStreamStats
 * `fractionLost`, RTCInboundRtpStreamStats `packetsLost`, `packetsReceived`, `bytesReceived`,
 * `framesDecoded`, `framesPerSecond`, `freezeCount` and `totalFreezesDuration`.
 */

import type { MessageKey } from './i18n/index.js';

/** How the call is going. */
export type QualityLevel = 'good' | 'weak' | 'poor';

/** A level and the sentence the page shows for it. */
export interface QualityVerdict {
  level: QualityLevel;
  /** Which signal decided the level (`ok` when good). */
  cause: 'ok' | 'upload' | 'send-loss' | 'partner' | 'delay';
  /** The sentence, as a catalog key. */
  reason: MessageKey;
}

/** The counters of one `getStats()` report that the indicator needs. */
export interface StatsSample {
  /** When the report was taken, ms (any monotonic clock). */
  atMs: number;
  /** Selected candidate pair's `currentRoundTripTime`, ms. */
  rttMs: number | null;
  /** Selected candidate pair's `availableOutgoingBitrate`, kbit/s (Chromium; absent in Firefox). */
  availableOutgoingKbps: number | null;
  /** Highest `fractionLost` (0..1) the partner reports for what we send (remote-inbound-rtp). */
  sendFractionLost: number | null;
  /** Sums over our inbound RTP streams (audio and video). */
  inPacketsLost: number;
  inPacketsReceived: number;
  /** The partner's video as we receive it (null: no inbound video stream). */
  video: { bytesReceived: number; framesDecoded: number; framesPerSecond: number | null; freezeCount: number; totalFreezesDurationS: number } | null;
}

/** What one interval between two samples says about the call. */
export interface QualityInputs {
  rttMs: number | null;
  availableOutgoingKbps: number | null;
  /** Loss of what we send, 0..1 (the partner's receiver reports). */
  sendLoss: number | null;
  /** Loss of what we receive in the interval, 0..1 (null: too few packets to tell). */
  receiveLoss: number | null;
  /** The partner's video bytes arrived in the interval (false: they send none, e.g. audio only). */
  remoteVideoFlowing: boolean;
  /** Share of the interval the partner's video was frozen, 0..1. */
  freezeFraction: number;
  /** Freezes that began in the interval. */
  freezes: number;
  /** Frames decoded per second in the interval (null when no video flows). */
  remoteFps: number | null;
  /** We send video (audio only: the upload estimate matters less). */
  sendingVideo: boolean;
  /** Seconds since the call connected (the bandwidth estimate starts low and ramps up). */
  callSeconds: number;
}

/** Thresholds of {@link classifyQuality}; exported so the tests and the README name the same numbers. */
export const QUALITY_THRESHOLDS = {
  /** Round trip, ms: at or above, weak / poor (ITU-T G.114 puts 400 ms one-way as the limit of conversation). */
  rttWeakMs: 300,
  rttPoorMs: 700,
  /** Loss either way, fraction: at or above, weak / poor. */
  lossWeak: 0.03,
  lossPoor: 0.1,
  /** Outgoing estimate while sending video, kbit/s: below, weak / poor (our 320x240 cap is 300). */
  uploadWeakKbps: 400,
  uploadPoorKbps: 150,
  /** The estimate is ignored for this long after connecting: it starts at ~300 kbit/s by design. */
  uploadWarmupS: 6,
  /** Share of the interval frozen: at or above, weak / poor. */
  freezeWeak: 0.05,
  freezePoor: 0.3,
  /** Partner's video flows but decodes below this many fps: poor. */
  fpsPoor: 3,
  /** Fewer packets than this in an interval: its loss is not judged. */
  minPackets: 20,
} as const;

const REASONS: Record<QualityVerdict['cause'], MessageKey> = {
  ok: 'quality.ok',
  upload: 'quality.upload',
  'send-loss': 'quality.sendLoss',
  partner: 'quality.partner',
  delay: 'quality.delay',
};

const RANK: Record<QualityLevel, number> = { good: 0, weak: 1, poor: 2 };

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Reads a {@link StatsSample} out of a `getStats()` report given as plain objects. */
export function sampleFromStats(stats: readonly Record<string, unknown>[], atMs: number): StatsSample {
  const byId = new Map(stats.map((s) => [String(s.id), s]));
  const transport = stats.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
  const pair = (transport && byId.get(String(transport.selectedCandidatePairId)))
    ?? stats.find((s) => s.type === 'candidate-pair' && (s.selected === true || (s.nominated === true && s.state === 'succeeded')));
  const rtt = finite(pair?.currentRoundTripTime);
  const aob = finite(pair?.availableOutgoingBitrate);
  let sendFractionLost: number | null = null;
  let inPacketsLost = 0;
  let inPacketsReceived = 0;
  let video: StatsSample['video'] = null;
  for (const s of stats) {
    if (s.type === 'remote-inbound-rtp') {
      const f = finite(s.fractionLost);
      if (f !== null) sendFractionLost = Math.max(sendFractionLost ?? 0, f);
    } else if (s.type === 'inbound-rtp') {
      inPacketsLost += Math.max(0, finite(s.packetsLost) ?? 0);
      inPacketsReceived += finite(s.packetsReceived) ?? 0;
      if ((s.kind ?? s.mediaType) === 'video' && video === null) {
        video = {
          bytesReceived: finite(s.bytesReceived) ?? 0,
          framesDecoded: finite(s.framesDecoded) ?? 0,
          framesPerSecond: finite(s.framesPerSecond),
          freezeCount: finite(s.freezeCount) ?? 0,
          totalFreezesDurationS: finite(s.totalFreezesDuration) ?? 0,
        };
      }
    }
  }
  return {
    atMs, rttMs: rtt === null ? null : rtt * 1000, availableOutgoingKbps: aob === null ? null : aob / 1000,
    sendFractionLost, inPacketsLost, inPacketsReceived, video,
  };
}

/** The inputs of the interval from `prev` to `now` (counters as deltas; a reset counter counts as zero). */
export function qualityInputs(prev: StatsSample | null, now: StatsSample, o: { sendingVideo: boolean; callSeconds: number }): QualityInputs {
  const dtS = prev ? Math.max(0.001, (now.atMs - prev.atMs) / 1000) : 0;
  const d = (a: number, b: number | undefined): number => Math.max(0, a - (b ?? a));
  const lost = prev ? d(now.inPacketsLost, prev.inPacketsLost) : 0;
  const got = prev ? d(now.inPacketsReceived, prev.inPacketsReceived) : 0;
  const v = now.video;
  const pv = prev?.video ?? undefined;
  const flowing = !!(prev && v && d(v.bytesReceived, pv?.bytesReceived) > 0);
  const frames = prev && v ? d(v.framesDecoded, pv?.framesDecoded) : 0;
  return {
    rttMs: now.rttMs,
    availableOutgoingKbps: now.availableOutgoingKbps,
    sendLoss: now.sendFractionLost,
    receiveLoss: lost + got >= QUALITY_THRESHOLDS.minPackets ? lost / (lost + got) : null,
    remoteVideoFlowing: flowing,
    freezeFraction: flowing && dtS > 0 ? Math.min(1, d(v!.totalFreezesDurationS, pv?.totalFreezesDurationS) / dtS) : 0,
    freezes: flowing ? d(v!.freezeCount, pv?.freezeCount) : 0,
    remoteFps: flowing && dtS > 0 ? (v!.framesPerSecond ?? frames / dtS) : null,
    sendingVideo: o.sendingVideo,
    callSeconds: o.callSeconds,
  };
}

/**
 * The level of one interval: each signal gets a level, the worst wins; among signals at the
 * worst level the one the person can do something about comes first (their upload, then their
 * loss), then the partner's side, then delay.
 */
export function classifyQuality(i: QualityInputs): QualityVerdict {
  const t = QUALITY_THRESHOLDS;
  const by = (v: number | null, weak: number, poor: number): QualityLevel => (v === null ? 'good' : v >= poor ? 'poor' : v >= weak ? 'weak' : 'good');
  const upload: QualityLevel = !i.sendingVideo || i.availableOutgoingKbps === null || i.callSeconds < t.uploadWarmupS ? 'good'
    : i.availableOutgoingKbps < t.uploadPoorKbps ? 'poor' : i.availableOutgoingKbps < t.uploadWeakKbps ? 'weak' : 'good';
  const sendLoss = by(i.sendLoss, t.lossWeak, t.lossPoor);
  const freeze: QualityLevel = !i.remoteVideoFlowing ? 'good'
    : i.freezeFraction >= t.freezePoor || (i.remoteFps !== null && i.remoteFps < t.fpsPoor) ? 'poor'
      : i.freezeFraction >= t.freezeWeak || i.freezes > 0 ? 'weak' : 'good';
  const recvLoss = by(i.receiveLoss, t.lossWeak, t.lossPoor);
  const partner = RANK[freeze] >= RANK[recvLoss] ? freeze : recvLoss;
  const delay = by(i.rttMs, t.rttWeakMs, t.rttPoorMs);
  const signals: [QualityVerdict['cause'], QualityLevel][] = [['upload', upload], ['send-loss', sendLoss], ['partner', partner], ['delay', delay]];
  let worst: [QualityVerdict['cause'], QualityLevel] = ['ok', 'good'];
  for (const s of signals) if (RANK[s[1]] > RANK[worst[1]]) worst = s;
  return { level: worst[1], cause: worst[0], reason: REASONS[worst[0]] };
}

/**
 * Smooths the verdicts: the shown level is the worst of the last `window` samples (one bad
 * interval shows for a few seconds instead of flickering), and {@link poorForMs} says how long
 * every sample has been poor (the page offers "audio only" after a while of it).
 */
export class QualityTracker {
  readonly #window: number;
  readonly #recent: QualityVerdict[] = [];
  #poorSince: number | null = null;

  constructor(window = 2) {
    this.#window = Math.max(1, window);
  }

  /** Adds a verdict taken at `atMs`; returns the level to show. */
  push(v: QualityVerdict, atMs: number): QualityVerdict {
    this.#recent.push(v);
    if (this.#recent.length > this.#window) this.#recent.shift();
    if (v.level !== 'poor') this.#poorSince = null;
    else this.#poorSince ??= atMs;
    return this.current()!;
  }

  /** The level to show (the worst recent one; the newest among equals), or null before any sample. */
  current(): QualityVerdict | null {
    let worst: QualityVerdict | null = null;
    for (const v of this.#recent) if (!worst || RANK[v.level] >= RANK[worst.level]) worst = v;
    return worst;
  }

  /** How long every sample has been poor, ms, as of `atMs` (0 when the last one was not poor). */
  poorForMs(atMs: number): number {
    return this.#poorSince === null ? 0 : Math.max(0, atMs - this.#poorSince);
  }

  /** Forgets everything (a new call). */
  reset(): void {
    this.#recent.length = 0;
    this.#poorSince = null;
  }
}
