/**
 * Measuring a shaped link from the outside, the way the lab's tests and `bench` check that a
 * profile does what it says: a UDP RTT probe (round trip, one-way delay spread, loss per
 * direction) and a bulk transfer in one direction (the rate the bottleneck lets through).
 * Both ends run in this process, so one-way delays are read on one clock.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ImpairmentRelay } from './relay.js';
import type { NetworkProfile } from './profiles.js';
import { percentile } from '../quality/viewer-stats.js';

/** The result of {@link probeLink}. */
export interface LinkProbe {
  sent: number;
  /** Round trips, ms, of the probes that came back. */
  rttMs: { p50: number; mean: number };
  /** Spread of the one-way delay, each direction, as a standard deviation (from the interquartile range), ms. */
  jitterMs: { up: number; down: number };
  /** Loss per direction, percent. */
  lossPercent: { up: number; down: number };
}

/** The result of {@link bulkTransfer}. */
export interface BulkResult {
  direction: 'up' | 'down';
  /** Offered rate, kbit/s (UDP payload plus IPv4/UDP headers, as the link counts). */
  offeredKbps: number;
  /** Rate that arrived, kbit/s, over the time between the first and last arrival. */
  receivedKbps: number;
  packetsSent: number;
  packetsReceived: number;
}

/** A UDP echo/sink server on loopback (the "clean side" of the lab). */
class LabServer {
  readonly socket = dgram.createSocket('udp4');
  /** Arrival time of each probe at the server, by sequence number. */
  readonly arrivals = new Map<number, { at: number; sentAt: number }>();
  bulkBytes = 0;
  bulkPackets = 0;
  bulkFirst = 0;
  bulkLast = 0;
  client: dgram.RemoteInfo | null = null;

  async start(): Promise<number> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    try { this.socket.setRecvBufferSize(1 << 21); } catch { /* not fatal */ }
    this.socket.on('message', (msg, rinfo) => {
      const now = performance.now();
      this.client = rinfo;
      const kind = msg.readUInt8(0);
      if (kind === 1) { // probe: echo with the server's send time
        const seq = msg.readUInt32BE(1);
        this.arrivals.set(seq, { at: now, sentAt: msg.readDoubleBE(5) });
        const out = Buffer.from(msg);
        out.writeDoubleBE(performance.now(), 13);
        this.socket.send(out, rinfo.port, rinfo.address);
      } else if (kind === 2) { // bulk up
        if (this.bulkPackets === 0) this.bulkFirst = now;
        else { this.bulkBytes += msg.length + 28; }
        this.bulkLast = now;
        this.bulkPackets++;
      }
    });
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/**
 * The spread of one-way delays as a standard deviation, estimated from the interquartile range
 * (for the link's uniform jitter, sigma = IQR / sqrt(3)): one event-loop stall of a loaded
 * machine would dominate a plain standard deviation.
 */
function robustStd(xs: number[]): number {
  if (xs.length < 4) return 0;
  return (percentile(xs, 75) - percentile(xs, 25)) / Math.sqrt(3);
}

async function withLab<T>(profile: NetworkProfile, seed: number | undefined, f: (client: dgram.Socket, relay: ImpairmentRelay, server: LabServer) => Promise<T>): Promise<T> {
  const server = new LabServer();
  const port = await server.start();
  const relay = await ImpairmentRelay.start({ profile, upstream: { host: '127.0.0.1', port }, ...(seed === undefined ? {} : { seed }) });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  try { client.setRecvBufferSize(1 << 21); } catch { /* not fatal */ }
  try {
    return await f(client, relay, server);
  } finally {
    await new Promise<void>((r) => client.close(() => r()));
    await relay.close();
    await server.close();
  }
}

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends `count` probes every `intervalMs` through a fresh relay with `profile` and waits for
 * the stragglers (one RTT plus 1 s) before counting what came back.
 */
export async function probeLink(profile: NetworkProfile, opts: { count?: number; intervalMs?: number; seed?: number } = {}): Promise<LinkProbe> {
  const count = opts.count ?? 100;
  const intervalMs = opts.intervalMs ?? 20;
  return withLab(profile, opts.seed, async (client, relay, server) => {
    const rtts: number[] = [];
    const down: number[] = [];
    client.on('message', (msg) => {
      const now = performance.now();
      rtts.push(now - msg.readDoubleBE(5));
      down.push(now - msg.readDoubleBE(13));
    });
    const { port } = relay.address;
    const start = performance.now();
    for (let seq = 0; seq < count; seq++) {
      const b = Buffer.alloc(160); // an audio packet's size
      b.writeUInt8(1, 0);
      b.writeUInt32BE(seq, 1);
      b.writeDoubleBE(performance.now(), 5);
      client.send(b, port, '127.0.0.1');
      // Paced against the start, so a late timer does not stretch the run.
      const next = start + (seq + 1) * intervalMs;
      await tick(Math.max(0, next - performance.now()));
    }
    await tick(profile.rttMs + 2 * profile.jitterMs * 3 + 1000);
    const up = [...server.arrivals.values()].map((a) => a.at - a.sentAt);
    const echoed = server.arrivals.size;
    return {
      sent: count,
      rttMs: { p50: percentile(rtts, 50), mean: rtts.reduce((a, b) => a + b, 0) / Math.max(1, rtts.length) },
      jitterMs: { up: robustStd(up), down: robustStd(down) },
      lossPercent: { up: (100 * (count - echoed)) / count, down: echoed === 0 ? 100 : (100 * (echoed - rtts.length)) / echoed },
    };
  });
}

/**
 * Pushes 1200-byte packets through the link in one direction at `offerFactor` (default 1.3)
 * times the profile's rate for `durationMs`, and reports the rate that arrived.
 */
export async function bulkTransfer(profile: NetworkProfile, direction: 'up' | 'down', opts: { durationMs?: number; offerFactor?: number; seed?: number } = {}): Promise<BulkResult> {
  const rate = direction === 'up' ? profile.upKbps : profile.downKbps;
  const offeredKbps = (rate ?? 10_000) * (opts.offerFactor ?? 1.3);
  const durationMs = opts.durationMs ?? 2000;
  const size = 1200;
  return withLab(profile, opts.seed, async (client, relay, server) => {
    let rxBytes = 0;
    let rxPackets = 0;
    let first = 0;
    let last = 0;
    client.on('message', (msg) => {
      if (msg.readUInt8(0) !== 3) return;
      const now = performance.now();
      if (rxPackets === 0) first = now;
      else rxBytes += msg.length + 28;
      last = now;
      rxPackets++;
    });
    const { port } = relay.address;
    // The first packet opens the flow and tells the server the flow's address.
    const hello = Buffer.alloc(160);
    hello.writeUInt8(1, 0);
    client.send(hello, port, '127.0.0.1');
    if (direction === 'down') {
      // The hello crosses the shaped up link, loss included: say it again until it is heard.
      const deadline = performance.now() + 5000;
      let again = performance.now() + 100;
      while (!server.client && performance.now() < deadline) {
        await tick(5);
        if (!server.client && performance.now() >= again) { client.send(hello, port, '127.0.0.1'); again = performance.now() + 100; }
      }
      if (!server.client) throw new Error('the lab server never heard from the client');
    }
    const send = (b: Buffer) => {
      if (direction === 'up') client.send(b, port, '127.0.0.1');
      else server.socket.send(b, server.client!.port, server.client!.address);
    };
    const pkt = Buffer.alloc(size);
    pkt.writeUInt8(direction === 'up' ? 2 : 3, 0);
    const bitsPerPacket = (size + 28) * 8;
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < durationMs) {
      const due = Math.floor(((performance.now() - start) * offeredKbps) / bitsPerPacket);
      while (sent < due) { send(pkt); sent++; }
      await tick(2);
    }
    await tick(profile.rttMs + profile.queueMs + 6 * profile.jitterMs + 500);
    const bytes = direction === 'up' ? server.bulkBytes : rxBytes;
    const span = direction === 'up' ? server.bulkLast - server.bulkFirst : last - first;
    const packetsReceived = direction === 'up' ? server.bulkPackets : rxPackets;
    return { direction, offeredKbps, receivedKbps: span > 0 ? (bytes * 8) / span : 0, packetsSent: sent, packetsReceived };
  });
}
