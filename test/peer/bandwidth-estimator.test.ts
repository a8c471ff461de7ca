/**
 * The bandwidth estimator on synthetic traces: a small event simulation of a sender writing
 * 30 frames a second through a FIFO bottleneck (serving at C kbit/s, drop-tail at 1 s of queue)
 * with propagation delay, optional random loss and delay jitter, and a receiver that sends
 * transport-wide feedback every 50 ms. Deterministic (seeded), no timers: a 20 s trace takes
 * milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/lab/link.js';
import { BandwidthEstimator, type BandwidthEstimatorOptions, type DelayState, type PacketFeedback } from '../../src/peer/bandwidth/estimator.js';

/** A small seeded PRNG (the lab's), so every run sees the same trace. */
const rng = seededRandom;

interface Path {
  /** Bottleneck rate, kbit/s. */
  capacityKbps: number;
  /** One-way propagation delay each way, ms. */
  delayMs?: number;
  /** Random loss before the bottleneck, 0..1. */
  loss?: number;
  /** Uniform extra delay 0..jitterMs per packet (order kept). */
  jitterMs?: number;
  /** Drop-tail once the queue holds this much, ms. */
  queueMs?: number;
}

interface Sample { t: number; estimate: number; acked: number | undefined; state: DelayState; loss: number; queueMs: number }

/**
 * Runs `durationMs` of a call: each 1 ms tick the sender may write a frame at `rate(t, estimator)`
 * kbit/s (packets of at most 1200 bytes, sent back to back), the bottleneck queues them, and
 * feedback reaches the sender `delayMs` after the receiver sent it.
 */
function simulate(opts: {
  path: Path; durationMs: number; rate: (t: number, e: BandwidthEstimator) => number;
  estimator?: BandwidthEstimatorOptions; firstSeq?: number; seed?: number;
  onTick?: (t: number, e: BandwidthEstimator) => void;
}): { e: BandwidthEstimator; samples: Sample[]; sentKbps: (from: number, to: number) => number } {
  const { path } = opts;
  const delay = path.delayMs ?? 20;
  const random = rng(opts.seed ?? 1);
  const e = new BandwidthEstimator(opts.estimator);
  let seq = opts.firstSeq ?? 0;
  let departLast = 0;
  let arrivalLast = 0;
  const inFlight: { seq: number; arrival: number | null; sentAt: number }[] = [];
  const feedbackQueue: { deliverAt: number; results: PacketFeedback[] }[] = [];
  const sentLog: { t: number; bytes: number }[] = [];
  const samples: Sample[] = [];
  let nextFrame = 0;
  for (let t = 0; t < opts.durationMs; t++) {
    if (t >= nextFrame) {
      nextFrame += 1000 / 30;
      const frameBytes = Math.max(100, Math.round(opts.rate(t, e) * 1000 / 8 / 30));
      for (let left = frameBytes; left > 0; left -= 1200) {
        const size = Math.min(1200, left) + 40;
        const s = seq & 0xffff;
        seq++;
        e.onPacketSent({ seq: s, sizeBytes: size, sentAtMs: t });
        sentLog.push({ t, bytes: size });
        let arrival: number | null = null;
        if (random() >= (path.loss ?? 0)) {
          const start = Math.max(t, departLast);
          if (start - t <= (path.queueMs ?? 1000)) {
            departLast = start + size * 8 / path.capacityKbps;
            arrival = Math.max(arrivalLast, departLast + delay + random() * (path.jitterMs ?? 0));
            arrivalLast = arrival;
          }
        }
        inFlight.push({ seq: s, arrival, sentAt: t });
      }
    }
    // the receiver reports every 50 ms everything up to the newest arrival (a gap is a loss)
    if (t % 50 === 0) {
      let newest = -1;
      inFlight.forEach((p, i) => { if (p.arrival !== null && p.arrival <= t) newest = i; });
      if (newest >= 0) {
        const batch = inFlight.splice(0, newest + 1);
        // the receiver's clock has its own base: 123456 ms ahead of the sender's
        feedbackQueue.push({ deliverAt: t + delay, results: batch.map((p) => ({ seq: p.seq, arrivalMs: p.arrival === null ? null : p.arrival + 123_456 })) });
      }
    }
    while (feedbackQueue.length && feedbackQueue[0]!.deliverAt <= t) e.onTransportFeedback(feedbackQueue.shift()!.results, t);
    opts.onTick?.(t, e);
    if (t % 100 === 0) {
      samples.push({ t, estimate: e.estimateKbps, acked: e.ackedKbps, state: e.delayState, loss: e.lossFraction, queueMs: Math.max(0, departLast - t) });
    }
  }
  const sentKbps = (from: number, to: number): number =>
    sentLog.filter((s) => s.t >= from && s.t < to).reduce((a, s) => a + s.bytes, 0) * 8 / (to - from);
  return { e, samples, sentKbps };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('BandwidthEstimator on a simulated bottleneck', () => {
  it('detects overuse within half a second of the queue growing, and settles just below capacity', () => {
    const C = 300;
    let queueGrewAt: number | undefined;
    let overuseAt: number | undefined;
    const { samples, e } = simulate({
      path: { capacityKbps: C },
      durationMs: 25_000,
      estimator: { startKbps: 250 },
      // 0-4 s: 250 kbit/s, below capacity; then 600 kbit/s, twice the capacity, until the
      // estimator says overuse; from then on the sender follows the estimate, as the ladder will
      rate: (t, est) => (t < 4000 ? 250 : overuseAt === undefined ? 600 : est.estimateKbps),
      onTick: (t, est) => {
        if (t < 4000) expect(est.delayState, `overuse at ${t} ms while sending below capacity`).not.toBe('overuse');
        if (t >= 4000 && queueGrewAt === undefined) queueGrewAt = t;
        if (t >= 4000 && overuseAt === undefined && est.delayState === 'overuse') overuseAt = t;
      },
    });
    expect(overuseAt, 'overuse never detected').toBeDefined();
    expect(overuseAt! - queueGrewAt!).toBeLessThan(500);
    // the last 10 s, following the estimate: on average within 20 % below C, never far above
    const tail = samples.filter((s) => s.t >= 15_000);
    const avg = mean(tail.map((s) => s.estimate));
    expect(avg).toBeGreaterThan(0.8 * C);
    expect(avg).toBeLessThan(1.05 * C);
    expect(Math.max(...tail.map((s) => s.estimate))).toBeLessThan(1.25 * C);
    expect(Math.min(...tail.map((s) => s.estimate))).toBeGreaterThan(0.6 * C);
    // and the queue stays short: delay-based control, not loss
    expect(Math.max(...tail.map((s) => s.queueMs))).toBeLessThan(400);
    expect(e.lossFraction).toBe(0);
  });

  it('below capacity with constant delay: no overuse, the estimate rises but stays within 1.5 x acked + 10', () => {
    const { samples, sentKbps } = simulate({
      path: { capacityKbps: 2000 },
      durationMs: 10_000,
      estimator: { startKbps: 300 },
      rate: () => 250,
      onTick: (t, est) => {
        expect(est.delayState).not.toBe('overuse');
        // the cap is applied with the acked rate of the moment, which then moves by a packet or so
        if (est.ackedKbps !== undefined) expect(est.estimateKbps).toBeLessThanOrEqual(1.05 * (1.5 * est.ackedKbps + 10));
      },
    });
    const last = samples.at(-1)!;
    expect(last.estimate).toBeGreaterThan(300);
    expect(last.estimate).toBeLessThanOrEqual(1.05 * (1.5 * last.acked! + 10));
    // the acked rate is what was sent (all of it arrived)
    expect(last.acked!).toBeGreaterThan(0.9 * sentKbps(5000, 10_000));
    expect(last.acked!).toBeLessThan(1.1 * sentKbps(5000, 10_000));
  });

  it('5 % random loss without queueing does not back off; 20 % does', () => {
    const run = (loss: number): ReturnType<typeof simulate> => simulate({
      path: { capacityKbps: 5000, loss },
      durationMs: 10_000,
      seed: 7,
      estimator: { startKbps: 300 },
      rate: (_t, est) => est.estimateKbps,
    });
    const five = run(0.05);
    expect(five.e.lossFraction).toBeGreaterThan(0.01);
    expect(five.e.lossFraction).toBeLessThan(0.1);
    expect(Math.min(...five.samples.map((s) => s.estimate))).toBeGreaterThanOrEqual(300);
    expect(five.e.estimateKbps).toBeGreaterThanOrEqual(300);

    const twenty = run(0.2);
    expect(twenty.e.lossFraction).toBeGreaterThan(0.1);
    expect(twenty.e.estimateKbps).toBeLessThan(0.5 * 300);
    expect(twenty.e.delayState).not.toBe('overuse');
  });

  it('a REMB caps the estimate while it is fresh', () => {
    const { e, samples } = simulate({
      path: { capacityKbps: 5000 },
      durationMs: 12_000,
      estimator: { startKbps: 300, rembTimeoutMs: 3000 },
      rate: (_t, est) => est.estimateKbps,
      onTick: (t, est) => { if (t === 1000) est.onRemb(200, t); },
    });
    const capped = samples.filter((s) => s.t >= 1000 && s.t <= 4000);
    expect(capped.every((s) => s.estimate <= 200)).toBe(true);
    // after the REMB expires the delay-based estimate takes over again and grows
    expect(e.estimateKbps).toBeGreaterThan(200);
  });

  it('delay jitter without a trend does not trigger overuse', () => {
    for (const seed of [1, 2, 3]) {
      simulate({
        path: { capacityKbps: 5000, jitterMs: 40 },
        durationMs: 10_000,
        seed,
        estimator: { startKbps: 500 },
        rate: () => 500,
        onTick: (t, est) => expect(est.delayState, `seed ${seed} at ${t} ms`).not.toBe('overuse'),
      });
    }
  });

  it('follows the transport-wide sequence number across its 16-bit wrap', () => {
    const run = (firstSeq: number): Sample[] => simulate({
      path: { capacityKbps: 500 },
      durationMs: 8000,
      firstSeq,
      estimator: { startKbps: 300 },
      rate: (_t, est) => est.estimateKbps,
    }).samples;
    const plain = run(0);
    const wrapped = run(65_536 - 200); // wraps after about 2 s
    expect(wrapped).toEqual(plain);
    expect(wrapped.at(-1)!.loss).toBe(0);
    expect(wrapped.at(-1)!.acked).toBeGreaterThan(200);
  });

  it('takes loss and RTT from receiver reports', () => {
    const e = new BandwidthEstimator({ startKbps: 1000 });
    e.onReceiverReport({ fractionLost: 0.3, rttMs: 80 }, 0);
    expect(e.rttMs).toBe(80);
    expect(e.lossFraction).toBeCloseTo(0.3);
    expect(e.estimateKbps).toBeCloseTo(1000 * 0.85);
    e.onReceiverReport({ fractionLost: 0.3 }, 100); // too soon for a second cut (300 ms + rtt)
    expect(e.estimateKbps).toBeCloseTo(850);
    e.onReceiverReport({ fractionLost: 0.3 }, 400);
    expect(e.estimateKbps).toBeCloseTo(850 * 0.85);
    expect(() => new BandwidthEstimator({ minKbps: 100, maxKbps: 50 })).toThrow(RangeError);
  });
});
