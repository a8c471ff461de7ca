/**
 * Retransmissions that help instead of drown. werift answers every NACK (RFC 4585 section
 * 6.2.1) by resending each listed packet from its send history at once, however often it is
 * asked and whatever the path carries: on a congested uplink the partner NACKs what the full
 * queue dropped, the resends overflow the queue again, and a 42 kbit/s keep-alive rung was seen
 * pushing 490 packets a second into a 300 kbit/s link. Here a NACK is filtered before werift
 * sees it: a packet is resent at most once per {@link MIN_RESEND_INTERVAL_MS}, and all resends
 * share a byte budget refilled at a share of the bandwidth estimate (libwebrtc caps them the
 * same way); what does not fit is left to the next keyframe.
 */
import type { RTCRtpSender } from 'werift';

/** A packet is not resent again sooner than this, ms (about a round trip on the paths we serve). */
const MIN_RESEND_INTERVAL_MS = 150;
/** Share of the estimate resends may take. */
const RESEND_SHARE = 0.3;
/** werift keeps its send history in a ring of this many packets, indexed by sequence number. */
const WERIFT_HISTORY = 128;
/** Largest burst of resends, bytes. */
const BURST_BYTES = 12_000;

/** Counters of a {@link limitRetransmissions}. */
export interface RetransmissionCounts {
  /** Packets the partner asked for. */
  requested: number;
  /** Packets let through to werift's resend. */
  allowed: number;
}

interface NackFeedback { lost: number[] }
interface WeriftSenderInternals {
  handleRtcpPacket: (packet: unknown) => void;
  rtpCache: ({ header: { sequenceNumber: number }; payload: Buffer } | undefined)[];
}

/**
 * Filters the NACKs `sender` answers, with resends budgeted at a share of `estimateKbps()`.
 * Returns the counters and a function that restores werift's own handling.
 */
export function limitRetransmissions(sender: RTCRtpSender, estimateKbps: () => number, now: () => number = () => performance.now()): { counts: RetransmissionCounts; stop: () => void } {
  const s = sender as unknown as WeriftSenderInternals;
  const counts: RetransmissionCounts = { requested: 0, allowed: 0 };
  const lastResent = new Map<number, number>();
  let tokens = BURST_BYTES;
  let refilledAt = now();
  const original = s.handleRtcpPacket;
  const size = (seq: number) => {
    const cached = s.rtpCache[seq % WERIFT_HISTORY];
    return cached && cached.header.sequenceNumber === seq ? cached.payload.length + 12 : 1200;
  };
  s.handleRtcpPacket = function (packet: unknown) {
    const fb = (packet as { feedback?: Partial<NackFeedback> & { constructor?: { name?: string } } }).feedback;
    if (fb && Array.isArray(fb.lost) && fb.constructor?.name?.includes('GenericNack')) {
      const t = now();
      tokens = Math.min(BURST_BYTES, tokens + ((t - refilledAt) * estimateKbps() * RESEND_SHARE) / 8);
      refilledAt = t;
      const keep: number[] = [];
      for (const seq of fb.lost) {
        counts.requested++;
        const last = lastResent.get(seq);
        if (last !== undefined && t - last < MIN_RESEND_INTERVAL_MS) continue;
        const bytes = size(seq);
        if (tokens < bytes) continue;
        tokens -= bytes;
        lastResent.set(seq, t);
        keep.push(seq);
      }
      counts.allowed += keep.length;
      if (lastResent.size > 1024) for (const [k, v] of lastResent) if (t - v > 2000) lastResent.delete(k);
      fb.lost = keep;
    }
    return original.call(this, packet);
  };
  return {
    counts,
    stop: () => { s.handleRtcpPacket = original; },
  };
}
