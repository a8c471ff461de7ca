/**
 * A sender-side bandwidth estimator in the style of Google Congestion Control
 * (draft-ietf-rmcat-gcc-02; libwebrtc's `DelayBasedBwe` / `AimdRateControl` /
 * `SendSideBandwidthEstimation` and Pion interceptor's `pkg/gcc`), fed by transport-wide
 * congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), receiver
 * reports (RFC 3550 section 6.4.2) and REMB (draft-alvestrand-rmcat-remb-03).
 *
 * Pure TypeScript: no werift, no timers, no clock of its own. Every input carries the sender's
 * time in milliseconds (any monotonic base, e.g. `performance.now()`), so tests drive it with
 * synthetic traces. src/peer/bandwidth/werift-feedback.ts feeds it from a werift sender.
 *
 * Three estimates, the smallest wins:
 * - delay-based: packets sent within 5 ms form a group; the change of one-way delay from group
 *   to group is smoothed and fitted with a line over the last 20 groups (the trendline); its
 *   slope against an adaptive threshold says whether a queue is growing (overuse), draining
 *   (underuse) or neither; an AIMD controller cuts to 0.85 x the acknowledged rate on overuse and
 *   otherwise grows (8 %/s far from the last congestion point, about a packet per round trip
 *   near it), never above 1.5 x the acknowledged rate + 10 kbit/s;
 * - loss-based: above 10 % loss it multiplies by (1 - loss / 2), below 2 % it may grow, between
 *   it holds (loss counted over the last 2 s of transport-wide feedback when it reports at least
 *   50 packets, else the latest receiver report);
 * - REMB, when the receiver sent one in the last few seconds.
 */

/** What the delay-gradient detector concludes about the path's queue. */
export type DelayState = 'normal' | 'overuse' | 'underuse';

/** Settings of a {@link BandwidthEstimator}; every field has a default. */
export interface BandwidthEstimatorOptions {
  /** The estimate before any feedback, kbit/s. Default 300. */
  startKbps?: number;
  /** The estimate never goes below this, kbit/s. Default 50. */
  minKbps?: number;
  /** The estimate never goes above this, kbit/s. Default 5000. */
  maxKbps?: number;
  /** A REMB older than this no longer caps the estimate, ms. Default 5000. */
  rembTimeoutMs?: number;
}

/** One RTP packet as it left the sender. */
export interface SentPacket {
  /** Transport-wide sequence number (16 bits, wrapping). */
  seq: number;
  /** Bytes on the wire (RTP header + payload + SRTP tag). */
  sizeBytes: number;
  /** Sender clock, ms. */
  sentAtMs: number;
}

/** The receiver's word on one packet, from a transport-wide feedback message. */
export interface PacketFeedback {
  /** Transport-wide sequence number (16 bits, wrapping). */
  seq: number;
  /** Arrival in the receiver's clock (any base), ms; null when reported not received. */
  arrivalMs: number | null;
}

/** The parts of an RTCP reception report block (RFC 3550 section 6.4.1) the estimator uses. */
export interface ReceiverReportInput {
  /** Fraction of packets lost since the previous report, 0..1 (the 8-bit field / 256). */
  fractionLost: number;
  /** Round-trip time, ms, when known. */
  rttMs?: number | undefined;
  /** When the Sender Report it answers left, ms, the clock of the `nowMs` passed with it (when known). */
  reportSentAtMs?: number | undefined;
}

interface SentRecord {
  key: number; // unwrapped sequence number
  sizeBytes: number;
  sentAtMs: number;
  state: 'pending' | 'received' | 'lost';
  reportedAtMs: number;
}

interface Group {
  firstSentMs: number;
  lastSentMs: number;
  arrivalMs: number;
  baseId: number;
}

const GROUP_SPAN_MS = 5;
const TREND_WINDOW = 20;
const TREND_SMOOTHING = 0.9;
const THRESHOLD_GAIN = 4;
const OVERUSE_TIME_MS = 10;
const K_UP = 0.0087;
const K_DOWN = 0.039;
const BETA = 0.85;
const ACKED_WINDOW_MS = 1000;
const ACKED_MIN_SPAN_MS = 500;
const LOSS_WINDOW_MS = 2000;
const LOSS_MIN_PACKETS = 50;
const HISTORY_MS = 10_000;
const HISTORY_MAX = 20_000;

/** A bandwidth estimator for one sending transport; see the file comment for the method. */
export class BandwidthEstimator {
  readonly #minKbps: number;
  readonly #maxKbps: number;
  readonly #rembTimeoutMs: number;

  // sent history, keyed by unwrapped transport sequence number
  readonly #sent = new Map<number, SentRecord>();
  #lastSentKey: number | undefined;
  #reported: SentRecord[] = [];

  // acknowledged throughput on a continuous virtual arrival clock
  #acked: { atMs: number; bytes: number }[] = [];
  #virtualLast: { atMs: number; sentAtMs: number; arrivalMs: number } | undefined;
  #ackedKbps: number | undefined;
  #ackedStartMs: number | undefined;

  // packet groups and the trendline
  #baseId = 0;
  #group: Group | undefined;
  #prevGroup: Group | undefined;
  #trendClockMs = 0;
  #accumulatedDelay = 0;
  #smoothedDelay = 0;
  #trendPoints: { x: number; y: number }[] = [];
  #numDeltas = 0;
  #prevTrend = 0;
  #threshold = 12.5;
  #lastThresholdUpdate: number | undefined;
  #timeOverUsing = -1;
  #overuseCounter = 0;
  #delayState: DelayState = 'normal';

  // AIMD
  #delayKbps: number;
  #rcState: 'hold' | 'increase' | 'decrease' = 'increase';
  #lastRateUpdateMs: number | undefined;
  #lastDecreaseMs: number | undefined;
  #capacityKbps: number | undefined;
  #capacityVar = 0.4;

  // loss
  #lossKbps: number;
  #rrLoss: { fraction: number; atMs: number } | undefined;
  #lastLossUpdateMs: number | undefined;
  #lastLossDecreaseMs: number | undefined;
  #lossFraction = 0;
  #lossLimited = false;

  // REMB, RTT, result
  #remb: { kbps: number; atMs: number } | undefined;
  #rttMs: number | undefined;
  #rttAtMs: number | undefined;
  #rttSentAtMs: number | undefined;
  #estimateKbps: number;
  #feedbackCount = 0;

  /** An estimator starting at `options.startKbps` (300 kbit/s unless told). */
  constructor(options: BandwidthEstimatorOptions = {}) {
    this.#minKbps = options.minKbps ?? 50;
    this.#maxKbps = options.maxKbps ?? 5000;
    if (!(this.#minKbps > 0 && this.#maxKbps >= this.#minKbps)) {
      throw new RangeError(`bandwidth bounds must satisfy 0 < minKbps <= maxKbps, got ${this.#minKbps}..${this.#maxKbps}`);
    }
    this.#rembTimeoutMs = options.rembTimeoutMs ?? 5000;
    const start = this.#clamp(options.startKbps ?? 300);
    this.#delayKbps = start;
    this.#lossKbps = start;
    this.#estimateKbps = start;
  }

  /** The target send rate, kbit/s: min(delay-based, loss-based, recent REMB), within [min, max]. */
  get estimateKbps(): number { return this.#estimateKbps; }
  /** Throughput the receiver acknowledged over the last second, kbit/s; undefined until half a second of feedback. */
  get ackedKbps(): number | undefined { return this.#ackedKbps; }
  /** Recent loss, 0..1: transport-wide feedback over the last second, or the latest receiver report if higher. */
  get lossFraction(): number { return this.#lossFraction; }
  /** The delay-gradient detector's latest conclusion. */
  get delayState(): DelayState { return this.#delayState; }
  /** The latest round-trip time from a receiver report, ms; undefined until one arrived. */
  get rttMs(): number | undefined { return this.#rttMs; }
  /** When {@link rttMs} came (the clock of the `nowMs` passed in); undefined until one did. */
  get rttAtMs(): number | undefined { return this.#rttAtMs; }
  /** When the Sender Report that {@link rttMs} answers left (the clock of `nowMs`); undefined when not known. */
  get rttSentAtMs(): number | undefined { return this.#rttSentAtMs; }
  /** How many transport-wide feedback messages were processed. */
  get feedbackCount(): number { return this.#feedbackCount; }
  /** The delay-based estimate alone, kbit/s (for stats and tests). */
  get delayBasedKbps(): number { return this.#delayKbps; }
  /** The loss-based estimate alone, kbit/s (for stats and tests). */
  get lossBasedKbps(): number { return this.#lossKbps; }

  /** Records a packet that carries transport-wide sequence number `seq`. */
  onPacketSent(p: SentPacket): void {
    if (!Number.isFinite(p.seq) || !Number.isFinite(p.sizeBytes) || !Number.isFinite(p.sentAtMs)) return;
    const key = this.#lastSentKey === undefined ? p.seq & 0xffff : unwrap(p.seq, this.#lastSentKey);
    this.#lastSentKey = this.#lastSentKey === undefined ? key : Math.max(this.#lastSentKey, key);
    this.#sent.set(key, { key, sizeBytes: p.sizeBytes, sentAtMs: p.sentAtMs, state: 'pending', reportedAtMs: 0 });
    if (this.#sent.size > HISTORY_MAX) this.#pruneHistory(p.sentAtMs, true);
  }

  /**
   * Processes one transport-wide feedback message: `results` in sequence order, arrival times in
   * the receiver's clock. `sameBase` says whether those arrival times share the previous call's
   * clock base (true for libwebrtc's and Firefox's feedback); when false (a receiver whose
   * messages each have a base of their own, or one not yet known to be consistent), the delay
   * gradient is not taken across the boundary between the two calls. Packets never recorded by
   * {@link onPacketSent} are ignored.
   */
  onTransportFeedback(results: readonly PacketFeedback[], nowMs: number, sameBase = true): void {
    if (this.#lastSentKey === undefined) return;
    this.#feedbackCount++;
    if (!sameBase) this.#baseId++;
    const id = this.#baseId;
    let anchor: { arrivalMs: number; virtualMs: number } | undefined;
    for (const r of results) {
      const rec = this.#sent.get(unwrap(r.seq, this.#lastSentKey));
      if (!rec) continue;
      if (r.arrivalMs === null || !Number.isFinite(r.arrivalMs)) {
        if (rec.state === 'pending') { rec.state = 'lost'; rec.reportedAtMs = nowMs; this.#reported.push(rec); }
        continue;
      }
      if (rec.state === 'received') continue;
      if (rec.state === 'pending') this.#reported.push(rec);
      rec.state = 'received';
      rec.reportedAtMs = nowMs;
      // The virtual arrival clock: continuous across feedback messages (bridged by the send-time
      // gap when bases may differ), exact within one.
      if (!anchor) {
        const last = this.#virtualLast;
        let virtualMs = 0;
        if (last) {
          virtualMs = last.atMs + (sameBase
            ? Math.max(0, r.arrivalMs - last.arrivalMs)
            : Math.max(0, rec.sentAtMs - last.sentAtMs));
        }
        anchor = { arrivalMs: r.arrivalMs, virtualMs };
      }
      const virtualMs = anchor.virtualMs + (r.arrivalMs - anchor.arrivalMs);
      if (!this.#virtualLast || virtualMs >= this.#virtualLast.atMs) {
        this.#virtualLast = { atMs: virtualMs, sentAtMs: rec.sentAtMs, arrivalMs: r.arrivalMs };
      }
      this.#acked.push({ atMs: virtualMs, bytes: rec.sizeBytes });
      this.#onArrival(rec.sentAtMs, r.arrivalMs, id);
    }
    this.#updateAcked();
    this.#updateLoss(nowMs);
    this.#updateDelayBased(nowMs);
    this.#updateLossBased(nowMs);
    this.#combine(nowMs);
    this.#pruneHistory(nowMs, false);
  }

  /** Takes a reception report block about our stream: its loss fraction and, when known, the RTT. */
  onReceiverReport(report: ReceiverReportInput, nowMs: number): void {
    if (Number.isFinite(report.fractionLost)) {
      this.#rrLoss = { fraction: Math.min(1, Math.max(0, report.fractionLost)), atMs: nowMs };
    }
    if (report.rttMs !== undefined && Number.isFinite(report.rttMs) && report.rttMs >= 0) {
      this.#rttMs = report.rttMs;
      this.#rttAtMs = nowMs;
      this.#rttSentAtMs = report.reportSentAtMs;
    }
    this.#updateLoss(nowMs);
    this.#updateLossBased(nowMs);
    this.#combine(nowMs);
  }

  /** Takes a receiver-estimated maximum bitrate; it caps the estimate for `rembTimeoutMs`. */
  onRemb(kbps: number, nowMs: number): void {
    if (!Number.isFinite(kbps) || kbps <= 0) return;
    this.#remb = { kbps, atMs: nowMs };
    this.#combine(nowMs);
  }

  // --- delay-based ---------------------------------------------------------------------------

  #onArrival(sentAtMs: number, arrivalMs: number, baseId: number): void {
    const g = this.#group;
    if (!g) { this.#group = { firstSentMs: sentAtMs, lastSentMs: sentAtMs, arrivalMs, baseId }; return; }
    if (sentAtMs < g.firstSentMs) return; // reordered: libwebrtc ignores it too
    if (sentAtMs - g.firstSentMs <= GROUP_SPAN_MS) {
      g.lastSentMs = Math.max(g.lastSentMs, sentAtMs);
      if (baseId !== g.baseId || arrivalMs > g.arrivalMs) { g.arrivalMs = arrivalMs; g.baseId = baseId; }
      return;
    }
    // g is complete: compare it with the group before it
    const prev = this.#prevGroup;
    if (prev && prev.baseId === g.baseId) {
      const sendDelta = g.lastSentMs - prev.lastSentMs;
      const arrivalDelta = g.arrivalMs - prev.arrivalMs;
      if (arrivalDelta >= 0 && arrivalDelta < 3000) this.#onDelta(arrivalDelta - sendDelta, arrivalDelta, sendDelta);
    }
    this.#prevGroup = g;
    this.#group = { firstSentMs: sentAtMs, lastSentMs: sentAtMs, arrivalMs, baseId };
  }

  /** One inter-group delay variation into the trendline and the overuse detector. */
  #onDelta(delayVariationMs: number, arrivalDeltaMs: number, sendDeltaMs: number): void {
    this.#numDeltas = Math.min(this.#numDeltas + 1, 1000);
    this.#trendClockMs += arrivalDeltaMs;
    this.#accumulatedDelay += delayVariationMs;
    this.#smoothedDelay = TREND_SMOOTHING * this.#smoothedDelay + (1 - TREND_SMOOTHING) * this.#accumulatedDelay;
    this.#trendPoints.push({ x: this.#trendClockMs, y: this.#smoothedDelay });
    if (this.#trendPoints.length > TREND_WINDOW) this.#trendPoints.shift();
    if (this.#trendPoints.length < TREND_WINDOW) return;
    const trend = slope(this.#trendPoints) ?? this.#prevTrend;
    this.#detect(trend, sendDeltaMs, this.#trendClockMs);
  }

  #detect(trend: number, sendDeltaMs: number, nowMs: number): void {
    const modified = Math.min(this.#numDeltas, 60) * trend * THRESHOLD_GAIN;
    if (modified > this.#threshold) {
      this.#timeOverUsing = this.#timeOverUsing < 0 ? sendDeltaMs / 2 : this.#timeOverUsing + sendDeltaMs;
      this.#overuseCounter++;
      if (this.#timeOverUsing > OVERUSE_TIME_MS && this.#overuseCounter > 1 && trend >= this.#prevTrend) {
        this.#timeOverUsing = 0;
        this.#overuseCounter = 0;
        this.#delayState = 'overuse';
      }
    } else if (modified < -this.#threshold) {
      this.#timeOverUsing = -1;
      this.#overuseCounter = 0;
      this.#delayState = 'underuse';
    } else {
      this.#timeOverUsing = -1;
      this.#overuseCounter = 0;
      this.#delayState = 'normal';
    }
    this.#prevTrend = trend;
    this.#adaptThreshold(modified, nowMs);
  }

  /** The threshold follows |modified trend| slowly upward and faster downward (GCC section 5.4). */
  #adaptThreshold(modified: number, nowMs: number): void {
    const last = this.#lastThresholdUpdate ?? nowMs;
    this.#lastThresholdUpdate = nowMs;
    const abs = Math.abs(modified);
    if (abs > this.#threshold + 15) return; // a spike, e.g. a route change: do not adapt to it
    const k = abs < this.#threshold ? K_DOWN : K_UP;
    const dt = Math.min(nowMs - last, 100);
    this.#threshold = Math.min(600, Math.max(6, this.#threshold + k * (abs - this.#threshold) * dt));
  }

  #updateDelayBased(nowMs: number): void {
    const acked = this.#ackedKbps;
    // state machine: overuse -> decrease, underuse -> hold, normal -> increase (from hold)
    if (this.#delayState === 'overuse') this.#rcState = 'decrease';
    else if (this.#delayState === 'underuse') this.#rcState = 'hold';
    else if (this.#rcState === 'hold') { this.#rcState = 'increase'; this.#lastRateUpdateMs = nowMs; }

    const last = this.#lastRateUpdateMs ?? nowMs;
    const dtS = Math.min(Math.max(nowMs - last, 0), 1000) / 1000;
    let rate = this.#delayKbps;
    if (this.#rcState === 'decrease') {
      const interval = Math.min(200, Math.max(10, this.#rttMs ?? 200));
      const due = this.#lastDecreaseMs === undefined || nowMs - this.#lastDecreaseMs >= interval
        || (acked !== undefined && acked < 0.5 * rate);
      if (due) {
        let next = BETA * (acked ?? rate);
        if (next > rate && this.#capacityKbps !== undefined) next = BETA * this.#capacityKbps;
        if (next < rate) rate = next;
        if (acked !== undefined) {
          if (this.#capacityKbps !== undefined && acked < this.#capacityBound(-1)) this.#capacityKbps = undefined;
          this.#onCongestionPoint(acked);
        }
        this.#lastDecreaseMs = nowMs;
        this.#rcState = 'hold';
      }
    } else if (this.#rcState === 'increase') {
      // far from the last congestion point (outside 3 standard deviations, GCC section 5.5):
      // grow multiplicatively again
      if (acked !== undefined && this.#capacityKbps !== undefined
        && (acked > this.#capacityBound(1) || acked < this.#capacityBound(-1))) this.#capacityKbps = undefined;
      const increased = this.#capacityKbps !== undefined
        ? rate + this.#additiveKbpsPerS(rate) * dtS
        : rate + Math.max(rate * (Math.pow(1.08, dtS) - 1), dtS > 0 ? 1 : 0);
      if (acked === undefined) rate = increased;
      else {
        const cap = 1.5 * acked + 10;
        if (rate < cap) rate = Math.min(increased, cap);
      }
    }
    this.#lastRateUpdateMs = nowMs;
    this.#delayKbps = this.#clamp(rate);
  }

  /** About one average packet per response time (rtt + 100 ms), at least 4 kbit/s per second. */
  #additiveKbpsPerS(rateKbps: number): number {
    const frameKbit = rateKbps / 30;
    const packets = Math.max(1, Math.ceil(frameKbit / (1200 * 8 / 1000)));
    const responseS = ((this.#rttMs ?? 100) + 100) / 1000;
    return Math.max(4, frameKbit / packets / responseS);
  }

  /** The link capacity seen at congestion: a moving average of the acked rate, with a normalized variance. */
  #onCongestionPoint(ackedKbps: number): void {
    const cap = this.#capacityKbps === undefined ? ackedKbps : 0.95 * this.#capacityKbps + 0.05 * ackedKbps;
    const err = cap - ackedKbps;
    this.#capacityVar = Math.min(2.5, Math.max(0.4, 0.95 * this.#capacityVar + 0.05 * err * err / Math.max(cap, 1)));
    this.#capacityKbps = cap;
  }

  #capacityBound(sign: 1 | -1): number {
    const cap = this.#capacityKbps ?? 0;
    return cap + sign * 3 * Math.sqrt(this.#capacityVar * cap);
  }

  // --- throughput and loss --------------------------------------------------------------------

  #updateAcked(): void {
    if (this.#acked.length === 0) return;
    const latest = this.#virtualLast?.atMs ?? 0;
    this.#ackedStartMs ??= this.#acked[0]!.atMs;
    const from = latest - ACKED_WINDOW_MS;
    let drop = 0;
    while (drop < this.#acked.length && this.#acked[drop]!.atMs <= from) drop++;
    if (drop) this.#acked = this.#acked.slice(drop);
    const span = Math.min(ACKED_WINDOW_MS, latest - this.#ackedStartMs);
    if (span < ACKED_MIN_SPAN_MS) return;
    let bytes = 0;
    for (const a of this.#acked) if (a.atMs > from) bytes += a.bytes;
    this.#ackedKbps = bytes * 8 / span;
  }

  #updateLoss(nowMs: number): void {
    let drop = 0;
    while (drop < this.#reported.length && this.#reported[drop]!.reportedAtMs < nowMs - LOSS_WINDOW_MS) drop++;
    if (drop) this.#reported = this.#reported.slice(drop);
    let lost = 0;
    for (const r of this.#reported) if (r.state === 'lost') lost++;
    // Transport-wide feedback, when it speaks of enough packets, says what was lost: a receiver
    // report's fraction covers fewer packets, and the larger of two noisy counts is biased
    // upward (under 5% random loss it crossed 10% every few seconds and cut the estimate).
    const rr = this.#rrLoss && nowMs - this.#rrLoss.atMs <= 3000 ? this.#rrLoss.fraction : 0;
    this.#lossFraction = this.#reported.length >= LOSS_MIN_PACKETS ? lost / this.#reported.length : rr;
  }

  /**
   * The loss-based estimate tracks the delay-based one until loss says otherwise: above 10 % it
   * cuts (at most once per 300 ms + RTT), between 2 and 10 % it holds, and below 2 % it recovers
   * by 8 %/s until it meets the delay-based estimate again (libwebrtc's classic
   * SendSideBandwidthEstimation keeps one target the same way).
   */
  #updateLossBased(nowMs: number): void {
    const last = this.#lastLossUpdateMs ?? nowMs;
    this.#lastLossUpdateMs = nowMs;
    const loss = this.#lossFraction;
    let rate = this.#lossLimited ? this.#lossKbps : Math.max(this.#lossKbps, this.#delayKbps);
    if (loss > 0.1) {
      const interval = 300 + (this.#rttMs ?? 100);
      if (this.#lastLossDecreaseMs === undefined || nowMs - this.#lastLossDecreaseMs >= interval) {
        rate = Math.min(rate, this.#estimateKbps) * (1 - 0.5 * loss);
        this.#lastLossDecreaseMs = nowMs;
      }
      this.#lossLimited = true;
    } else if (loss >= 0.02) {
      if (!this.#lossLimited) rate = Math.min(this.#lossKbps, this.#delayKbps);
      this.#lossLimited = true;
    } else if (this.#lossLimited) {
      const dtS = Math.min(Math.max(nowMs - last, 0), 1000) / 1000;
      rate = rate * Math.pow(1.08, dtS) + dtS;
      if (rate >= this.#delayKbps) this.#lossLimited = false;
    }
    this.#lossKbps = this.#clamp(Math.min(rate, this.#delayKbps));
  }

  #rembNow(nowMs: number): number | undefined {
    return this.#remb && nowMs - this.#remb.atMs <= this.#rembTimeoutMs ? this.#remb.kbps : undefined;
  }

  #combine(nowMs: number): void {
    this.#estimateKbps = this.#clamp(Math.min(this.#delayKbps, this.#lossKbps, this.#rembNow(nowMs) ?? Infinity));
  }

  #clamp(kbps: number): number {
    return Math.min(this.#maxKbps, Math.max(this.#minKbps, kbps));
  }

  #pruneHistory(nowMs: number, bySize: boolean): void {
    for (const [key, rec] of this.#sent) {
      const old = bySize ? this.#sent.size > HISTORY_MAX / 2 : rec.sentAtMs < nowMs - HISTORY_MS;
      if (!old) break; // Map iterates in insertion (= send) order
      this.#sent.delete(key);
    }
  }
}

/** `seq` (16 bits) unwrapped to the value nearest `reference` (an unwrapped sequence number). */
function unwrap(seq: number, reference: number): number {
  const diff = (((seq & 0xffff) - (reference & 0xffff) + 0x18000) % 0x10000) - 0x8000;
  return reference + diff;
}

/** Least-squares slope of y over x; undefined when x does not vary. */
function slope(points: readonly { x: number; y: number }[]): number | undefined {
  let sx = 0;
  let sy = 0;
  for (const p of points) { sx += p.x; sy += p.y; }
  const mx = sx / points.length;
  const my = sy / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) { num += (p.x - mx) * (p.y - my); den += (p.x - mx) * (p.x - mx); }
  return den === 0 ? undefined : num / den;
}
