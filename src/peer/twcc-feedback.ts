/**
 * Transport-wide congestion control feedback from our receiving side
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1), written by us because
 * werift's own cannot be used: its generator is built with its send loop switched off (it sends
 * only after every 11th packet), and the messages it writes do not parse: werift's own parser
 * throws "offset out of range" on them, so a werift sender threw away 4 of 5 (measured). A
 * partner whose bandwidth estimate reads this feedback (the headless peer's, the bots', a
 * browser's) would otherwise steer blind.
 *
 * The seam: werift creates one generator per receiver once the partner's video carries the
 * transport-wide sequence number; we take over its `handleTWCC` (werift calls it with each
 * packet's number) and send our own message every {@link FEEDBACK_INTERVAL_MS}: status vector
 * chunks of seven 2-bit symbols, receive deltas in 250 us units (one byte when 0-63.75 ms, two
 * signed bytes otherwise), the reference time in 64 ms units.
 */
import type { RTCRtpReceiver } from 'werift';

/** How often feedback is sent, ms (libwebrtc sends about every 100 ms, more at high rates). */
const FEEDBACK_INTERVAL_MS = 50;

/** At most this many packets per message (the status count is 16 bits; keep messages small). */
const MAX_PACKETS_PER_MESSAGE = 700;

/** A packet's number and when it arrived (ms, any monotonic clock). */
export interface ArrivedPacket {
  seq: number;
  arrivalMs: number;
}

/**
 * One feedback message for `packets` (seq ascending from `baseSeq`, 16-bit wrapping; numbers
 * in between that are absent were not received), as the bytes of an RTCP transport-layer
 * feedback packet (PT 205, FMT 15).
 */
export function buildTwccFeedback(o: {
  senderSsrc: number;
  mediaSsrc: number;
  baseSeq: number;
  /** Packets in [baseSeq, baseSeq + count): at least one, arrival-ordered by seq. */
  packets: readonly ArrivedPacket[];
  count: number;
  fbCount: number;
}): Buffer {
  const byOffset = new Map<number, number>();
  for (const p of o.packets) byOffset.set((p.seq - o.baseSeq) & 0xffff, p.arrivalMs);
  const firstArrival = Math.min(...o.packets.map((p) => p.arrivalMs));
  const refUnits = Math.floor(firstArrival / 64);
  let prev = refUnits * 64;
  const symbols: number[] = [];
  const deltas: Buffer[] = [];
  for (let i = 0; i < o.count; i++) {
    const at = byOffset.get(i);
    if (at === undefined) { symbols.push(0); continue; }
    const d = Math.round((at - prev) * 4); // 250 us units
    prev += d / 4; // measure the next from what the receiver of this message will compute
    if (d >= 0 && d <= 255) {
      symbols.push(1);
      deltas.push(Buffer.from([d]));
    } else {
      const clamped = Math.max(-32768, Math.min(32767, d));
      const b = Buffer.alloc(2);
      b.writeInt16BE(clamped);
      symbols.push(2);
      deltas.push(b);
    }
  }
  const chunks: Buffer[] = [];
  for (let i = 0; i < symbols.length; i += 7) {
    // Status vector chunk: T=1, S=1 (two-bit symbols), seven symbols.
    let v = 0xc000;
    for (let j = 0; j < 7; j++) v |= (symbols[i + j] ?? 0) << (12 - 2 * j);
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    chunks.push(b);
  }
  const body = Buffer.concat([...chunks, ...deltas]);
  const unpadded = 20 + body.length;
  const padded = Math.ceil(unpadded / 4) * 4;
  const out = Buffer.alloc(padded);
  out[0] = 0x80 | 15; // V=2, FMT=15 (transport-wide CC)
  out[1] = 205; // RTPFB
  out.writeUInt16BE(padded / 4 - 1, 2);
  out.writeUInt32BE(o.senderSsrc >>> 0, 4);
  out.writeUInt32BE(o.mediaSsrc >>> 0, 8);
  out.writeUInt16BE(o.baseSeq & 0xffff, 12);
  out.writeUInt16BE(o.count, 14);
  out.writeUIntBE(refUnits & 0xffffff, 16, 3);
  out[19] = o.fbCount & 0xff;
  body.copy(out, 20);
  return out;
}

/** What werift's per-receiver generator looks like from here. */
interface WeriftTwcc {
  handleTWCC: (seq: number) => void;
  sendTWCC: () => void;
  rtcpSsrc: number;
  mediaSourceSsrc: number;
  dtlsTransport: { sendRtcp: (packets: { serialize: () => Buffer }[]) => Promise<unknown> };
  twccRunning: boolean;
}

/**
 * Replaces werift's feedback for `receiver` with ours from the moment werift sets it up (at once
 * when it already has). Returns a function that stops it.
 */
export function takeOverTwccFeedback(receiver: RTCRtpReceiver, now: () => number = () => performance.now()): () => void {
  const r = receiver as unknown as { receiverTWCC?: WeriftTwcc; setupTWCC: (ssrc: number) => void };
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const pending = new Map<number, number>();
  let next: number | null = null; // the first number not reported yet
  let fbCount = 0;

  const flush = (tw: WeriftTwcc) => {
    if (pending.size === 0 || next === null) return;
    // Report from `next` up to the highest number seen (16-bit wrapping, forward of `next`).
    let span = 0;
    for (const seq of pending.keys()) span = Math.max(span, ((seq - next) & 0xffff) + 1);
    const count = Math.min(span, MAX_PACKETS_PER_MESSAGE);
    const packets: ArrivedPacket[] = [];
    for (const [seq, arrivalMs] of pending) {
      const off = (seq - next) & 0xffff;
      if (off < count) { packets.push({ seq, arrivalMs }); pending.delete(seq); }
    }
    if (!packets.length) { next = (next + count) & 0xffff; return; }
    const buf = buildTwccFeedback({ senderSsrc: tw.rtcpSsrc, mediaSsrc: tw.mediaSourceSsrc, baseSeq: next, packets, count, fbCount });
    fbCount = (fbCount + 1) & 0xff;
    next = (next + count) & 0xffff;
    tw.dtlsTransport.sendRtcp([{ serialize: () => buf }]).catch(() => { /* the transport closed */ });
  };

  const adopt = (tw: WeriftTwcc) => {
    tw.twccRunning = false;
    tw.sendTWCC = () => { /* ours sends instead: werift's messages do not parse */ };
    tw.handleTWCC = (seq: number) => {
      if (stopped || typeof seq !== 'number') return;
      if (next === null) next = seq;
      // Older than what was reported already (reordered past a message): cannot be told now.
      if (((seq - next) & 0xffff) >= 0x8000) return;
      pending.set(seq, now());
      if (pending.size > 2000) pending.clear(); // no transport to send on: bounded
    };
    timer ??= setInterval(() => flush(tw), FEEDBACK_INTERVAL_MS);
    timer.unref();
  };

  if (r.receiverTWCC) adopt(r.receiverTWCC);
  const original = r.setupTWCC;
  r.setupTWCC = (ssrc: number) => {
    original.call(r, ssrc);
    if (!stopped && r.receiverTWCC) adopt(r.receiverTWCC);
  };
  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
    timer = null;
    r.setupTWCC = original;
  };
}
