/**
 * The client side of nearby pairing (src/protocol/landmarks.ts): time a few STUN Binding
 * requests to each landmark `welcome` lists and report the best round trip of each, rounded
 * to a coarse bucket, with `join`. Landmarks are timed in parallel, each from its own socket,
 * within one overall budget; one that does not answer is left out (the server then estimates
 * from the others, or pairs this client as it pairs a client without numbers).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { rttBucket, type Landmark, type LandmarkRtts } from '../protocol/index.js';
import { resolveHost, stunBinding } from '../stun/client.js';

/** How to time the landmarks. */
export interface MeasureLandmarksOptions {
  /** Binding requests per landmark, one after the other; the smallest round trip counts (default 3). */
  samples?: number;
  /** Budget for all of them, ms (default 1500): a join is never held up longer. */
  budgetMs?: number;
}

/** `stun:host:port` (port 3478 when absent; IPv6 in brackets) → host and port, or null. */
export function parseLandmarkUrl(url: string): { host: string; port: number } | null {
  const m = /^stun:(\[[0-9a-fA-F:.]+\]|[^:[\]/?#\s]+)(?::(\d{1,5}))?$/.exec(url);
  if (!m) return null;
  const port = m[2] ? Number(m[2]) : 3478;
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** The smallest round trip to one landmark, ms, or null when it did not answer within `deadline`. */
async function timeOne(l: Landmark, samples: number, deadline: number): Promise<number | null> {
  const target = parseLandmarkUrl(l.url);
  if (!target) return null;
  let sock: dgram.Socket | null = null;
  try {
    const address = net.isIP(target.host) ? target.host : await resolveHost(target.host);
    sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    sock.on('error', () => { /* a failed send shows up as a timeout */ });
    await new Promise<void>((resolve) => sock!.bind(0, () => resolve()));
    let best: number | null = null;
    for (let i = 0; i < samples; i++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const r = await stunBinding(sock, address, target.port, { timeoutMs: left });
        best = best === null ? r.rttMs : Math.min(best, r.rttMs);
      } catch {
        break;
      }
    }
    return best;
  } catch {
    return null;
  } finally {
    try { sock?.close(); } catch { /* already closed */ }
  }
}

/** Round trips to `landmarks`, bucketed; those that did not answer are left out. */
export async function measureLandmarks(landmarks: readonly Landmark[], opts: MeasureLandmarksOptions = {}): Promise<LandmarkRtts> {
  const deadline = Date.now() + (opts.budgetMs ?? 1500);
  const samples = opts.samples ?? 3;
  const times = await Promise.all(landmarks.map((l) => timeOne(l, samples, deadline)));
  const out: LandmarkRtts = {};
  landmarks.forEach((l, i) => { const t = times[i]; if (t !== null && t !== undefined) out[l.name] = rttBucket(t); });
  return out;
}
