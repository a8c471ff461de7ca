/**
 * A STUN burst: `count` Binding requests (RFC 8489), one every `intervalMs`, each sent once (no
 * retransmission, so a lost request or answer counts as lost), from one socket. Gives the path's
 * round trip (median), its jitter (RFC 3550 section 6.4.1's interarrival jitter applied to the
 * round trips: the smoothed mean of |RTT(i) - RTT(i-1)|) and loss, and the MOS a call would get
 * on it (src/quality/mos.ts). What `probe` measures for call quality when no TURN is configured.
 */
import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { encodeStun, isStun, newTransactionId, StunType } from '../stun/message.js';
import { estimateMos } from '../quality/mos.js';
import { percentile } from '../quality/viewer-stats.js';

/** Settings of a burst (defaults: 50 requests, 20 ms apart, answers awaited 2 s after the last). */
export interface StunBurstOptions {
  count?: number;
  intervalMs?: number;
  /** How long to wait for answers after the last request, ms. */
  graceMs?: number;
}

/** What a burst measured. */
export interface StunBurstResult {
  sent: number;
  received: number;
  lossPercent: number;
  /** Round trip, ms: median and 95th percentile (null when nothing came back). */
  rttMs: { p50: number; p95: number } | null;
  /** Smoothed interarrival jitter of the round trips (RFC 3550 section 6.4.1), ms. */
  jitterMs: number | null;
  /** Estimated audio MOS of a call on this path (null when nothing came back). */
  mos: number | null;
}

/** Sends the burst from `socket` to `host:port` and waits for the answers. */
export async function stunBurst(socket: dgram.Socket, host: string, port: number, opts: StunBurstOptions = {}): Promise<StunBurstResult> {
  const count = opts.count ?? 50;
  const intervalMs = opts.intervalMs ?? 20;
  const sentAt = new Map<string, { i: number; at: number }>();
  const rtts: { i: number; rtt: number }[] = [];
  const onMessage = (buf: Buffer) => {
    if (!isStun(buf)) return;
    const key = buf.subarray(8, 20).toString('hex');
    const s = sentAt.get(key);
    if (!s) return;
    sentAt.delete(key); // a duplicate answer counts once
    rtts.push({ i: s.i, rtt: performance.now() - s.at });
  };
  socket.on('message', onMessage);
  try {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const transactionId = newTransactionId();
      const req = encodeStun({ type: StunType.BindingRequest, transactionId, attributes: [] }, { fingerprint: true });
      sentAt.set(transactionId.toString('hex'), { i, at: performance.now() });
      socket.send(req, port, host, () => { /* a send error shows up as a loss */ });
      // Paced against the start, so a late timer does not stretch the burst.
      const next = start + (i + 1) * intervalMs;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    const grace = performance.now() + (opts.graceMs ?? 2000);
    while (sentAt.size > 0 && performance.now() < grace) await new Promise((r) => setTimeout(r, 10));
  } finally {
    socket.off('message', onMessage);
  }
  const received = rtts.length;
  const lossPercent = Math.round((1000 * (count - received)) / count) / 10;
  if (received === 0) return { sent: count, received, lossPercent, rttMs: null, jitterMs: null, mos: null };
  const inOrder = [...rtts].sort((a, b) => a.i - b.i).map((x) => x.rtt);
  let jitter = 0;
  for (let k = 1; k < inOrder.length; k++) jitter += (Math.abs(inOrder[k]! - inOrder[k - 1]!) - jitter) / 16;
  const rttMs = { p50: Math.round(percentile(inOrder, 50) * 10) / 10, p95: Math.round(percentile(inOrder, 95) * 10) / 10 };
  const jitterMs = Math.round(jitter * 10) / 10;
  return { sent: count, received, lossPercent, rttMs, jitterMs, mos: estimateMos({ rttMs: rttMs.p50, jitterMs, lossPercent }) };
}

/**
 * The quality line of the verdict for a burst: what a call on this path will be like and what
 * to do, or null when nothing came back (the STUN check reports that).
 */
export function burstAdvice(r: StunBurstResult): string | null {
  if (!r.rttMs || r.mos === null) return null;
  const facts = `round trip ${Math.round(r.rttMs.p50)} ms, jitter ${r.jitterMs} ms, ${r.lossPercent}% lost: estimated call MOS ${r.mos.toFixed(1)}`;
  if (r.lossPercent >= 5) return `${facts}. Expect choppy audio and frozen video: this network loses packets (move closer to the Wi-Fi access point or use a cable).`;
  if (r.rttMs.p50 >= 300) return `${facts}. Expect a delay in conversation: the path is long (satellite or a distant server); a nearer server helps.`;
  if ((r.jitterMs ?? 0) >= 30) return `${facts}. Expect uneven audio: delays vary a lot (a busy or radio link; close other uploads).`;
  if (r.mos < 4) return `${facts}. Calls will work with some impairment.`;
  return `${facts}. Good for calls.`;
}
