/**
 * What a viewer sees, from the frames that were rendered (decoded with a readable stamp):
 * received fps, freezes, glass-to-glass latency and frames lost. Pure TypeScript.
 *
 * Freezes follow WebRTC's definition (W3C webrtc-stats, `freezeCount`, RTCInboundRtpStreamStats):
 * an inter-frame gap longer than max(3 x the average gap, average + 150 ms), where the average
 * is over the gaps before this one (here: the last 30, as libwebrtc's VideoReceiveStream does).
 */

/** One rendered frame. */
export interface RenderedFrame {
  /** Stamp sequence number (16 bits, wraps). */
  seq: number;
  /** Send time from the stamp, ms (same clock as `renderedAt`). */
  sentAt: number;
  /** When the frame came out of the decoder, ms. */
  renderedAt: number;
}

/** The numbers of {@link ViewerStats.summary}. */
export interface ViewerSummary {
  frames: number;
  /** Rendered frames per second over the measured span. */
  fps: number;
  freezeCount: number;
  /** Time spent frozen (the sum of the freezing gaps), ms. */
  freezeMs: number;
  /** freezeMs over the measured span, 0..1. */
  freezeRatio: number;
  /** Glass-to-glass latency (stamp send time to decode), ms; null without frames. */
  latencyMs: { p50: number; p95: number; max: number } | null;
  /** Frames the sender stamped but we never rendered (gaps in the sequence). */
  framesLost: number;
  /** Measured span, ms (first to last rendered frame). */
  spanMs: number;
}

const AVERAGE_OVER = 30;

/** p-th percentile (nearest rank) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Accumulates rendered frames of one received stream. */
export class ViewerStats {
  #frames = 0;
  #first = 0;
  #last = 0;
  #lastSeq = -1;
  #lost = 0;
  readonly #gaps: number[] = [];
  #freezes = 0;
  #freezeMs = 0;
  readonly #latencies: number[] = [];
  /** At most this many latency samples are kept (a long run keeps the most recent). */
  readonly #maxSamples: number;

  constructor(maxSamples = 20_000) {
    this.#maxSamples = maxSamples;
  }

  /** Records one rendered frame. A repeated or older sequence number (a duplicate) is ignored. */
  add(f: RenderedFrame): void {
    if (this.#lastSeq >= 0) {
      const step = (f.seq - this.#lastSeq + 65536) % 65536;
      if (step === 0 || step > 32768) return;
      this.#lost += step - 1;
      const gap = f.renderedAt - this.#last;
      if (this.#gaps.length > 0) {
        const avg = this.#gaps.reduce((a, b) => a + b, 0) / this.#gaps.length;
        if (gap > Math.max(3 * avg, avg + 150)) { this.#freezes++; this.#freezeMs += gap; }
      }
      this.#gaps.push(gap);
      if (this.#gaps.length > AVERAGE_OVER) this.#gaps.shift();
    } else {
      this.#first = f.renderedAt;
    }
    this.#lastSeq = f.seq;
    this.#last = f.renderedAt;
    this.#frames++;
    this.#latencies.push(f.renderedAt - f.sentAt);
    if (this.#latencies.length > this.#maxSamples) this.#latencies.shift();
  }

  /** The numbers so far. */
  summary(): ViewerSummary {
    const span = this.#frames > 1 ? this.#last - this.#first : 0;
    return {
      frames: this.#frames,
      fps: span > 0 ? ((this.#frames - 1) * 1000) / span : 0,
      freezeCount: this.#freezes,
      freezeMs: this.#freezeMs,
      freezeRatio: span > 0 ? Math.min(1, this.#freezeMs / span) : 0,
      latencyMs: this.#latencies.length === 0 ? null : {
        p50: percentile(this.#latencies, 50), p95: percentile(this.#latencies, 95), max: Math.max(...this.#latencies),
      },
      framesLost: this.#lost,
      spanMs: span,
    };
  }
}
