/**
 * The uplink test (a preflight call): two werift peers on this machine call each other
 * relay-only through the TURN server, and A sends video-sized RTP packets over its real RTP
 * sender (SRTP) at rising rates, one step after another. Every packet A sends goes up this
 * machine's uplink to the TURN server and comes back down its downlink to B, so B sees what the
 * path sustains. Both peers live in one thread, so A's send time in the payload and B's arrival
 * time are read on one clock: B measures, per step, the rate that arrived, the loss, and
 * whether the one-way delay keeps growing (a queue filling at a bottleneck, RFC 8698's "delay
 * gradient" signal).
 *
 * What it measures, honestly: the path A -> TURN -> B crosses the uplink once and the downlink
 * once, so the rate it sustains is the smaller of the two (on typical access links, where the
 * downlink is several times faster, that is the upload). A B -> A test crosses the same two
 * links the same way (up, then down), so it would measure the same number: the downlink on its
 * own is not measured. The round trip is that of the path to the TURN server and back.
 *
 * werift leaves a TURN refresh timer running after a relayed peer connection closes (see
 * ice-worker.ts), so the probe runs this in a worker thread ({@link UplinkWorker}) that it
 * terminates afterwards; this module is that worker's entry too.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { WorkerJob } from './worker-host.js';
import { performance } from 'node:perf_hooks';
import { RTCRtpCodecParameters, RtpHeader, RtpPacket, type MediaStreamTrack } from 'werift';
import type { IceServer } from '../protocol/index.js';
import { Call, codecsFor } from '../peer/call.js';
import { estimateMos } from '../quality/mos.js';
import { checkError, type CheckError } from './errors.js';
import type { UplinkResult, UplinkStep } from './report.js';
import { withStunPlaceholder } from './candidates.js';
import { median, percentile } from './stats.js';

/** The rates tried, kbit/s at the IP layer (what an access link's rate counts). */
const UPLINK_STEPS_KBPS = [150, 300, 600, 1200, 2500, 5000] as const;

/** Settings of {@link measureUplink}. */
export interface UplinkOptions {
  /** The TURN server (with its credentials) both peers relay through; UDP. */
  iceServers: IceServer[];
  /** The TURN URL, for the report. */
  server: string;
  /** How long the relayed call may take to connect (default 8 s). */
  connectTimeoutMs?: number;
  /** Rates to try, kbit/s, rising (default {@link UPLINK_STEPS_KBPS}). */
  stepsKbps?: readonly number[];
  /** Length of one step (default 700 ms). */
  stepMs?: number;
  /** Budget of the ramp once connected, sending and the last evaluation included (default 6 s). */
  maxMs?: number;
}

/** A result that says why the test did not run. */
export function uplinkNotMeasured(note: string, server: string | null = null): UplinkResult {
  return { status: 'not-measured', server, upKbps: null, atLeast: false, rttMs: null, jitterMs: null, lossPercent: null, mos: null, steps: [], note };
}

function failedResult(server: string, error: CheckError, steps: UplinkStep[] = []): UplinkResult {
  return { status: 'failed', server, upKbps: null, atLeast: false, rttMs: null, jitterMs: null, lossPercent: null, mos: null, steps, error };
}

/** Size of the RTP payload of one packet: a full-size video packet (what fits a 1,200-byte MTU budget). */
const PAYLOAD_BYTES = 1150;
/** Per packet on the wire beyond the RTP packet: SRTP auth tag (10), TURN ChannelData (4), UDP and IPv4 (28). */
const WIRE_OVERHEAD = 10 + 4 + 28;
/** Marks our packets (a partner's stray video would not carry it). */
const MAGIC = 0x435a5550; // "CZUP"
/** The step number of warm-up packets (not measured). */
const WARMUP = 255;
/** A step fails on loss above this, percent... */
const MAX_LOSS_PERCENT = 5;
/** ...when at least this many packets were lost (a step at 150 kbit/s sends about 11). */
const MIN_LOST = 2;
/** A step fails when the delay grows by this many ms per ms sent (the rate exceeds the path's by 12%)... */
const MAX_SLOPE = 0.12;
/** ...by at least this many ms over the step... */
const MIN_GROWTH_MS = 30;
/**
 * ...and a step that failed on delay growth alone, by less than this, is confirmed by the next
 * step (which offers twice the rate, so it fails too when the path is really full): a stall of
 * a loaded machine or a jittery radio link can look like a short queue once, not twice running.
 */
const SURE_GROWTH_MS = 150;
/** A step that sent fewer packets than this and failed on loss alone is confirmed by the next step too. */
const FEW_PACKETS = 30;
/** ...or when it holds this much more queue (ms) than at the first step. */
const MAX_QUEUE_MS = 300;
/** Pacing tick. */
const TICK_MS = 5;

/** One packet as B saw it. */
interface Arrival { index: number; sentAt: number; recvAt: number; wire: number }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Judges one step from the packets of it that arrived: the loss, the rate that arrived, and
 * whether the one-way delay grew (median of the last third against the first third, which one
 * stall of a loaded machine does not move). Pure, so the tests feed it made-up arrivals.
 */
export function judgeStep(offeredKbps: number, sent: number, arrivals: readonly Arrival[], baselineOwdMs: number | null): UplinkStep {
  const got = [...arrivals].sort((a, b) => a.sentAt - b.sentAt);
  const received = got.length;
  const lossPercent = sent > 0 ? Math.round((1000 * Math.max(0, sent - received)) / sent) / 10 : 0;
  let receivedKbps: number | null = null;
  if (received >= 3) {
    const byArrival = [...got].sort((a, b) => a.recvAt - b.recvAt);
    const span = byArrival[received - 1]!.recvAt - byArrival[0]!.recvAt;
    const bytes = byArrival.slice(1).reduce((n, a) => n + a.wire, 0);
    // bytes * 8 / ms = kbit/s
    if (span > 0) receivedKbps = Math.round((bytes * 8) / span);
  }
  let delayGrowthMs: number | null = null;
  let slope = 0;
  let noise = 0;
  let lastOwd: number | null = null;
  if (received >= 6) {
    const third = Math.floor(received / 3);
    const first = got.slice(0, third);
    const last = got.slice(received - third);
    const owd = (a: Arrival) => a.recvAt - a.sentAt;
    const m1 = median(first.map(owd));
    const m3 = median(last.map(owd));
    lastOwd = m3;
    delayGrowthMs = Math.round((m3 - m1) * 10) / 10;
    const dt = median(last.map((a) => a.sentAt)) - median(first.map((a) => a.sentAt));
    slope = dt > 0 ? (m3 - m1) / dt : 0;
    // Standard error of the difference of two medians. The delay's spread is read from the
    // differences of successive delays (a trend shifts them all alike, so it does not count as
    // spread): their IQR / 1.349 is sqrt(2) sigma for independent noise.
    const diffs = got.slice(1).map((x, i) => owd(x) - owd(got[i]!));
    const sigma = (percentile(diffs, 75) - percentile(diffs, 25)) / 1.349 / Math.SQRT2;
    noise = Math.SQRT2 * 1.2533 * sigma / Math.sqrt(third);
  }
  const lost = sent - received;
  let why: UplinkStep['why'];
  if (lossPercent > MAX_LOSS_PERCENT && lost >= MIN_LOST) why = 'loss';
  else if (delayGrowthMs !== null && slope > MAX_SLOPE && delayGrowthMs > Math.max(MIN_GROWTH_MS, 4 * noise)) why = 'delay';
  else if (lastOwd !== null && baselineOwdMs !== null && lastOwd - baselineOwdMs > MAX_QUEUE_MS) why = 'queue';
  return { offeredKbps, sent, received, receivedKbps, lossPercent, delayGrowthMs, ok: !why, ...(why ? { why } : {}) };
}

/**
 * The sustained rate from the judged steps (in order, the ramp stopping at the first that
 * failed): the highest step that passed, refined by the rate that arrived during the first one
 * that failed when that lies between the two (the bottleneck's rate: a queue was building, so
 * packets left it at exactly that rate). Null when no step was judged.
 */
export function sustainedKbps(steps: readonly UplinkStep[]): { kbps: number; atLeast: boolean } | null {
  // The failing steps: one, or two when a small delay growth was confirmed by the next step
  // (both then ran into the bottleneck, and the higher arrival rate reads it better).
  const fails = steps.filter((s) => !s.ok);
  const top = steps.filter((s) => s.ok).at(-1);
  if (!fails.length) return top ? { kbps: top.offeredKbps, atLeast: true } : null;
  const hi = Math.max(...fails.map((s) => s.offeredKbps));
  const rates = fails.flatMap((s) => (s.receivedKbps === null ? [] : [s.receivedKbps]));
  if (!top) return rates.length ? { kbps: Math.min(Math.max(...rates), hi), atLeast: false } : null;
  const r = rates.length ? Math.max(...rates) : top.offeredKbps;
  return { kbps: Math.round(Math.min(hi, Math.max(top.offeredKbps, r))), atLeast: false };
}

/**
 * RFC 3550 section 6.4.1 interarrival jitter (transit-time differences), in send order, ms.
 * Sorted by send time, not by index: each step numbers its packets from 0.
 */
export function rfc3550Jitter(arrivals: readonly Arrival[]): number {
  const xs = [...arrivals].sort((a, b) => a.sentAt - b.sentAt);
  let j = 0;
  for (let k = 1; k < xs.length; k++) {
    const d = (xs[k]!.recvAt - xs[k - 1]!.recvAt) - (xs[k]!.sentAt - xs[k - 1]!.sentAt);
    j += (Math.abs(d) - j) / 16;
  }
  return j;
}

/** Runs the test in this thread. Never throws; closes both peers before resolving. */
async function measureUplink(opts: UplinkOptions): Promise<UplinkResult> {
  const stepsKbps = opts.stepsKbps ?? UPLINK_STEPS_KBPS;
  const stepMs = opts.stepMs ?? 700;
  const maxMs = opts.maxMs ?? 6000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 8000;
  const calls: Call[] = [];
  const started = Date.now();
  const matchId = `probe-uplink-${Math.random().toString(36).slice(2, 10)}`;
  /** Arrivals by step; each (step, index) once (a retransmission is not a second arrival). */
  const arrivals: Arrival[][] = stepsKbps.map(() => []);
  const seen = new Set<number>();
  let headerBytes = 12 + 16; // until B has seen a packet: RTP header plus werift's usual extensions
  let warmedUp = false;
  try {
    const iceServers = withStunPlaceholder(opts.iceServers);
    const onRtp = (rtp: RtpPacket) => {
      const p = rtp.payload;
      if (p.length < 18 || p.readUInt32BE(1) !== MAGIC) return;
      const step = p.readUInt8(5);
      const index = p.readUInt32BE(6);
      const key = step * 1e7 + index;
      if (step === WARMUP) { warmedUp = true; return; }
      if (step >= arrivals.length || seen.has(key)) return;
      seen.add(key);
      headerBytes = rtp.header.serializeSize;
      arrivals[step]!.push({ index, sentAt: p.readDoubleBE(10), recvAt: performance.now(), wire: rtp.header.serializeSize + p.length + WIRE_OVERHEAD });
    };
    /** One relayed call between two fresh peers: A sends video, B receives it. */
    const connect = async (): Promise<{ a: Call; why?: undefined } | { a?: undefined; why: string }> => {
      const make = (role: 'offerer' | 'answerer', deliver: (d: Parameters<Call['handleSignal']>[0]) => void) => new Call({
        matchId, role, iceServers, relayOnly: true, videoCodec: 'vp8', sendVideo: role === 'offerer', sendAudio: false,
        // Delivered on a later tick, as from a server, so neither side sees its partner's signals re-entrantly.
        sendSignal: (d) => setImmediate(() => deliver(d)),
        matchedAt: started, gatherTimeoutMs: Math.min(connectTimeoutMs, 5000), restartTimeoutMs: connectTimeoutMs,
        // No NACK: a retransmission would repair the loss the ramp measures and, worse, spend the
        // very uplink it measures (at a full link, repairs crowded out a third of the new packets).
        peerConfig: { codecs: { ...codecsFor('vp8'), video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [] })] } },
      });
      const a: Call = make('offerer', (d) => b.handleSignal(d));
      const b: Call = make('answerer', (d) => a.handleSignal(d));
      calls.push(a, b);
      b.pc.onTrack.subscribe((track: MediaStreamTrack) => { track.onReceiveRtp.subscribe(onRtp); });
      const outcome = await new Promise<true | string>((resolve) => {
        const timer = setTimeout(() => resolve(`no connection within ${connectTimeoutMs} ms`), connectTimeoutMs);
        let n = 0;
        for (const c of [a, b]) {
          c.once('connected', () => { if (++n === 2) { clearTimeout(timer); resolve(true); } });
          c.once('failed', (why) => { clearTimeout(timer); resolve(why); });
        }
        b.start();
        a.start();
      });
      if (outcome === true) return { a };
      await Promise.all([a.close(), b.close()].map((p) => p.catch(() => {})));
      return { why: outcome };
    };
    // werift's ICE over a long relayed path (two trips through the TURN server per check) now and
    // then gives up on the first try: one more pair of peers before calling it failed.
    let pair = await connect();
    if (!pair.a) pair = await connect();
    if (!pair.a) return failedResult(opts.server, checkError('CHZ_ERR_ICE_FAILED', `the relayed test call for the uplink test did not connect: ${pair.why}`));
    const a = pair.a;

    const track = a.videoTrack!;
    const ssrc = (Math.random() * 0xffffffff) >>> 0;
    let seq = 0;
    const sent = stepsKbps.map(() => 0);
    const send = (step: number) => {
      const payload = Buffer.alloc(PAYLOAD_BYTES);
      payload[0] = 0x10; // a VP8 payload descriptor: start of partition 0
      payload.writeUInt32BE(MAGIC, 1);
      payload.writeUInt8(step, 5);
      payload.writeUInt32BE(step === WARMUP ? 0 : sent[step]!, 6);
      payload.writeDoubleBE(performance.now(), 10);
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: Math.floor(performance.now() * 90) >>> 0, ssrc, marker: true });
      seq = (seq + 1) & 0xffff;
      if (step !== WARMUP) sent[step]!++;
      track.writeRtp(new RtpPacket(header, payload));
    };

    // Warm-up: the first packets of a fresh call can be lost while the path settles (TURN
    // channel binds, the partner's SRTP keys); the ramp starts once one has come through.
    // Paced at the first step's rate (or slower), so a slow uplink builds no queue before step 0.
    const warmBy = performance.now() + 1500;
    const warmEveryMs = Math.max(20, ((headerBytes + PAYLOAD_BYTES + WIRE_OVERHEAD) * 8) / stepsKbps[0]!);
    while (!warmedUp && performance.now() < warmBy) {
      send(WARMUP);
      await sleep(warmEveryMs);
    }
    if (!warmedUp) return failedResult(opts.server, checkError('CHZ_ERR_PROBE_INTERNAL', 'the relayed test call connected, but no packet of the uplink test came through within 1.5 s'));
    const t0 = performance.now();
    const endBy = t0 + maxMs;
    const judged: UplinkStep[] = [];
    const pending: { step: number; dueAt: number }[] = [];
    let failed = false;
    const owdsSoFar = () => arrivals.flat().map((x) => x.recvAt - x.sentAt);
    const baseline = () => (arrivals[0]!.length >= 3 ? median(arrivals[0]!.map((x) => x.recvAt - x.sentAt)) : null);
    /** How long after a step's last packet its packets should all have arrived: twice the lowest one-way delay, plus 100 ms. */
    const lag = () => {
      const owds = owdsSoFar();
      return owds.length ? Math.min(1500, 2 * Math.min(...owds) + 100) : 600;
    };
    let tentative: UplinkStep | null = null;
    /** Judges one step; a small delay growth stays tentative until the next step decides. */
    const judgeOne = (step: number) => {
      const s = judgeStep(stepsKbps[step]!, sent[step]!, arrivals[step]!, step === 0 ? null : baseline());
      judged.push(s);
      if (tentative) {
        // The step before failed on a small delay growth: this one decides.
        if (s.ok) { tentative.ok = true; delete tentative.why; tentative = null; } else { failed = true; }
      } else if (!s.ok && step < stepsKbps.length - 1
        && ((s.why === 'delay' && (s.delayGrowthMs ?? 0) < SURE_GROWTH_MS) || (s.why === 'loss' && s.sent < FEW_PACKETS))) {
        // Too little evidence to stop on: a short delay growth, or two losses among a dozen packets.
        tentative = s;
      } else if (!s.ok) {
        failed = true;
      }
    };
    const judgeDue = () => {
      while (!failed && pending.length && performance.now() >= pending[0]!.dueAt) judgeOne(pending.shift()!.step);
    };
    for (let step = 0; step < stepsKbps.length && step < 250; step++) {
      judgeDue();
      if (failed || performance.now() + stepMs > endBy - 200) break;
      const bytesPerMs = stepsKbps[step]! / 8;
      const start = performance.now();
      let bytes = 0;
      while (!failed) {
        const now = performance.now();
        if (now - start >= stepMs) break;
        const wire = headerBytes + PAYLOAD_BYTES + WIRE_OVERHEAD;
        // Paced against the step's start, so a late timer does not lower the rate; at most 40 packets per tick after a stall.
        for (let k = 0; k < 40 && bytes + wire <= (now - start) * bytesPerMs + wire; k++) {
          send(step);
          bytes += wire;
        }
        await sleep(TICK_MS);
        judgeDue();
      }
      if (failed) break;
      pending.push({ step, dueAt: performance.now() + lag() });
    }
    // The last steps' stragglers, within the budget.
    while (!failed && pending.length) {
      const wait = Math.min(pending[0]!.dueAt, endBy + 1500) - performance.now();
      if (wait > 0) await sleep(wait);
      if (performance.now() >= endBy + 1500) {
        for (const p of pending.splice(0)) { if (!failed) judgeOne(p.step); }
        break;
      }
      judgeDue();
    }

    const rate = sustainedKbps(judged);
    if (!rate) return failedResult(opts.server, checkError('CHZ_ERR_PROBE_INTERNAL', 'no packet of the uplink test arrived through the relay'), judged);
    const carried = judged.map((s, i) => ({ s, i })).filter(({ s }) => s.ok);
    const basis = carried.length ? carried : judged.slice(0, 1).map((s) => ({ s, i: 0 }));
    const got = basis.flatMap(({ i }) => arrivals[i]!);
    const sentN = basis.reduce((n, { s }) => n + s.sent, 0);
    const first = arrivals[0]!;
    const rttMs = first.length ? Math.round(median(first.map((x) => x.recvAt - x.sentAt)) * 10) / 10 : null;
    const jitterMs = got.length > 1 ? Math.round(rfc3550Jitter(got) * 10) / 10 : null;
    const lossPercent = sentN ? Math.round((1000 * Math.max(0, sentN - got.length)) / sentN) / 10 : null;
    const mos = rttMs !== null && jitterMs !== null && lossPercent !== null ? estimateMos({ rttMs, jitterMs, lossPercent }) : null;
    return {
      status: 'measured', server: opts.server, upKbps: rate.kbps, atLeast: rate.atLeast, rttMs, jitterMs, lossPercent, mos, steps: judged,
      note: 'up to the TURN server and back down: the smaller of your upload and download',
    };
  } catch (err) {
    return failedResult(opts.server, checkError('CHZ_ERR_PROBE_INTERNAL', `the uplink test could not run: ${(err as Error).message}`));
  } finally {
    await Promise.all(calls.map((c) => c.close().catch(() => {})));
  }
}

/** Marks this module's worker thread (the module is imported by the main thread too). */
const WORKER_FLAG = 'chatzyoUplinkWorker';

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_FLAG] === true) {
  const port = parentPort;
  port.once('message', (o: UplinkOptions) => {
    void measureUplink(o).then((r) => port.postMessage(r));
  });
}

/** The uplink test in a worker thread, terminated afterwards (see worker-host.ts). */
export class UplinkWorker {
  readonly #job = new WorkerJob<UplinkOptions, UplinkResult>({ entry: new URL(import.meta.url), workerData: { [WORKER_FLAG]: true }, name: 'the uplink test' });

  /** Runs the test in the worker; resolves with its result (never rejects), then ends the worker. */
  async run(opts: UplinkOptions): Promise<UplinkResult> {
    // Two connect attempts, warm-up, the ramp, its stragglers and closing both pairs, plus
    // werift still loading in a busy worker.
    const limit = 2 * (opts.connectTimeoutMs ?? 8000) + (opts.maxMs ?? 6000) + 15_000;
    const r = await this.#job.run(opts, limit);
    if ('reply' in r) return r.reply;
    return failedResult(opts.server, checkError(r.timedOut ? 'CHZ_ERR_PROBE_TIMEOUT' : 'CHZ_ERR_PROBE_INTERNAL', r.why));
  }

  /** Ends the worker (and any timer werift left in it). Idempotent. */
  terminate(): Promise<void> {
    return this.#job.terminate();
  }
}
