/**
 * Retransmissions that help instead of drown. werift answers every NACK (RFC 4585 section
 * 6.2.1) by resending each listed packet from its send history at once, however often it is
 * asked and whatever the path carries: on a congested uplink the partner NACKs what the full
 * queue dropped, the resends overflow the queue again, and a 42 kbit/s keep-alive rung was seen
 * pushing 490 packets a second into a 300 kbit/s link. Here a NACK is filtered before werift
 * sees it: a packet is resent at most once per round trip ({@link resendInterval}), and all resends
 * share a byte budget refilled at a share of the bandwidth estimate (libwebrtc caps them the
 * same way); what does not fit is left to the next keyframe.
 *
 * The resends are ours, not werift's: werift resends a packet with the header it was first sent
 * with, transport-wide sequence number included, so the partner's transport-wide feedback reports
 * the lost packet as arrived a round trip late (libwebrtc re-reports an older number it receives),
 * and the sender's delay trend and queue meter read every repaired loss as a queue: under 5%
 * random loss the ladder stepped down for congestion the path did not have. Each resend gets a
 * number of its own here (as libwebrtc's pacer gives it), and the estimate is told it was sent.
 */
import { RtpHeader, RtpPacket, RTP_EXTENSION_URI, serializeTransportWideCC, wrapRtx, type RTCRtpSender } from 'werift';

/**
 * A packet is not resent again sooner than a round trip and {@link RESEND_RTT_MARGIN_MS} after
 * its last resend (libwebrtc's rule): the partner asks again each round trip while a resend is
 * lost, and sooner means the first is still on its way. Until a round trip is known, this.
 */
const UNKNOWN_RTT_RESEND_INTERVAL_MS = 150;
/** Added to the round trip before a packet is resent again, ms (libwebrtc's 5). */
const RESEND_RTT_MARGIN_MS = 5;
/**
 * The longest round trip the rule takes, ms: the round trip is the last receiver report's (it
 * includes the queue that report met, and stays until the next), so one report from a moment of
 * deep queue could otherwise hold a lost packet's resend for seconds.
 */
const MAX_RESEND_RTT_MS = 1000;
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
interface CachedPacket { header: RtpHeader; payload: Buffer }
interface WeriftSenderInternals {
  handleRtcpPacket: (packet: unknown) => void;
  rtpCache: (CachedPacket | undefined)[];
  headerExtensions?: { uri: string; id: number }[];
  dtlsTransport?: { transportSequenceNumber: number; state?: string; sendRtp(payload: Buffer, header: RtpHeader): Promise<number> };
  retransmittedPacketsSent?: number;
  retransmittedBytesSent?: number;
  /** Set by werift when the partner took RTX for the sent codec (RFC 4588). */
  rtxPayloadType?: number;
  rtxSsrc?: number;
  rtxSequenceNumber?: number;
}

/**
 * The sequence numbers a Generic NACK (RFC 4585 section 6.2.1) really asks for, from werift's
 * reading of it: `lost` as werift lists it (each FCI's PID, then PID + i + 1 for each bit i of
 * its BLP, not wrapped at 65536) and `length`, the packet's RTCP length field (32-bit words less
 * one: the two SSRCs, then one word per FCI).
 *
 * werift reads FCIs to the end of the compound packet, not of the NACK, so whatever follows the
 * NACK in it (Chromium sends receiver reports and transport-wide feedback in the same compound)
 * came out as 20-30 more made-up numbers per NACK: the counters said the partner asked for 30
 * times what it lost, and a made-up number that happened to be in the send history was resent.
 * Only the first `length - 2` FCIs count. (A PID of a made-up FCI within 16 after the last real
 * one would read as part of it; Chromium starts a new FCI only past that distance.) Without a
 * length (a NACK built in code, never on the wire) every number counts.
 */
export function nackedSequenceNumbers(lost: readonly number[], length: number | undefined): number[] {
  const fcis = length !== undefined && length >= 3 ? length - 2 : Infinity;
  const out: number[] = [];
  let groups = 0;
  let pid = -1;
  for (const n of lost) {
    if (!(pid >= 0 && n > pid && n <= pid + 16)) {
      if (groups === fcis) break;
      groups++;
      pid = n;
    }
    out.push(n & 0xffff);
  }
  return out;
}

/** A resend as it left: its new transport-wide number, size on the wire (less SRTP) and when. */
export interface ResentPacket { seq: number; sizeBytes: number; sentAtMs: number }

/**
 * How long after resending a packet it may be resent again, ms, on a path whose round trip is
 * `rttMs` (undefined: not known yet). A fixed 150 ms held a resend that was itself lost until the
 * partner's third ask on a 40 ms path (`lossy-5`): its video stood a frame or two past the
 * freeze threshold each time.
 */
export function resendInterval(rttMs: number | undefined): number {
  return rttMs === undefined || !Number.isFinite(rttMs) || rttMs < 0 ? UNKNOWN_RTT_RESEND_INTERVAL_MS : Math.min(rttMs, MAX_RESEND_RTT_MS) + RESEND_RTT_MARGIN_MS;
}

/** What {@link limitRetransmissions} reads and tells. */
export interface RetransmissionOptions {
  /** The bandwidth estimate, kbit/s: resends share {@link RESEND_SHARE} of it. */
  estimateKbps: () => number;
  /** The path's round trip, ms (undefined: not known yet): how soon a packet is resent again. */
  rttMs?: () => number | undefined;
  /** The clock, ms (default performance.now). */
  now?: () => number;
  /** Each resend as it leaves. */
  onResent?: (p: ResentPacket) => void;
  /** False: no NACK is answered, to measure what retransmission buys (default true). */
  answer?: boolean;
}

/**
 * Filters the NACKs `sender` answers, with resends budgeted at a share of `estimateKbps()`.
 * Returns the counters and a function that restores werift's own handling.
 */
export function limitRetransmissions(sender: RTCRtpSender, o: RetransmissionOptions): { counts: RetransmissionCounts; stop: () => void } {
  const { estimateKbps, rttMs = () => undefined, now = () => performance.now(), onResent, answer = true } = o;
  const s = sender as unknown as WeriftSenderInternals;
  const counts: RetransmissionCounts = { requested: 0, allowed: 0 };
  const lastResent = new Map<number, number>();
  let tokens = BURST_BYTES;
  let refilledAt = now();
  const original = s.handleRtcpPacket;
  /** Resends go on the RTX stream: the partner took RTX and werift set up its stream. */
  const rtx = (): boolean => s.rtxPayloadType !== undefined && s.rtxSsrc !== undefined;
  /** Bytes of packet `seq` in the send history (null: no longer there, nothing to resend). */
  const size = (seq: number): number | null => {
    const cached = s.rtpCache[seq % WERIFT_HISTORY];
    return cached && cached.header.sequenceNumber === seq ? cached.payload.length + 12 + (rtx() ? 2 : 0) : null;
  };
  s.handleRtcpPacket = function (packet: unknown) {
    const fb = (packet as { feedback?: Partial<NackFeedback> & { constructor?: { name?: string } } }).feedback;
    if (fb && Array.isArray(fb.lost) && fb.constructor?.name?.includes('GenericNack')) {
      const t = now();
      tokens = Math.min(BURST_BYTES, tokens + ((t - refilledAt) * estimateKbps() * RESEND_SHARE) / 8);
      refilledAt = t;
      const keep: number[] = [];
      const again = resendInterval(rttMs());
      for (const seq of nackedSequenceNumbers(fb.lost, (packet as { header?: { length?: number } }).header?.length)) {
        counts.requested++;
        const last = lastResent.get(seq);
        if (last !== undefined && t - last < again) continue;
        const bytes = size(seq);
        if (!answer || bytes === null || tokens < bytes) continue;
        tokens -= bytes;
        lastResent.set(seq, t);
        keep.push(seq);
      }
      counts.allowed += keep.length;
      if (lastResent.size > 1024) for (const [k, v] of lastResent) if (t - v > 2000) lastResent.delete(k);
      for (const seq of keep) resend(seq);
      // werift still counts the NACK (its stats) but resends nothing of it.
      fb.lost = [];
    }
    return original.call(this, packet);
  };
  /** Sends the cached packet `seq` again under a transport-wide number of its own. */
  const resend = (seq: number): void => {
    const cached = s.rtpCache[seq % WERIFT_HISTORY];
    const transport = s.dtlsTransport;
    if (!cached || cached.header.sequenceNumber !== seq || !transport) return;
    const twccId = s.headerExtensions?.find((e) => e.uri === RTP_EXTENSION_URI.transportWideCC)?.id;
    let wideSeq: number | null = null;
    const extensions = cached.header.extensions.map((e) => {
      if (e.id !== twccId) return e;
      transport.transportSequenceNumber = (transport.transportSequenceNumber + 1) & 0xffff;
      wideSeq = transport.transportSequenceNumber;
      return { id: e.id, payload: serializeTransportWideCC(wideSeq) };
    });
    let packet = new RtpPacket(new RtpHeader({ ...cached.header, extensions }), cached.payload);
    if (rtx()) {
      // RFC 4588 section 4: the original sequence number first, on the RTX stream's own numbers.
      const seqRtx = s.rtxSequenceNumber ?? 0;
      packet = wrapRtx(packet, s.rtxPayloadType!, seqRtx, s.rtxSsrc!);
      s.rtxSequenceNumber = (seqRtx + 1) & 0xffff;
      // A padding-only packet (a probe's, media-source.ts) keeps its P bit: its padding bytes
      // follow the original number, and the partner strips them back to an empty packet (werift's
      // wrap drops the bit, which made the padding look like media).
      if (cached.header.padding) {
        packet.header.padding = true;
        packet.header.paddingSize = cached.header.paddingSize;
      }
    }
    s.retransmittedPacketsSent = (s.retransmittedPacketsSent ?? 0) + 1;
    s.retransmittedBytesSent = (s.retransmittedBytesSent ?? 0) + packet.payload.length;
    const sentAtMs = now();
    transport.sendRtp(packet.payload, packet.header).catch(() => {
      // The transport closed under us: nothing to resend to.
    });
    if (wideSeq !== null) onResent?.({ seq: wideSeq, sizeBytes: packet.header.serializeSize + packet.payload.length + 10, sentAtMs });
  };
  return {
    counts,
    stop: () => { s.handleRtcpPacket = original; },
  };
}
