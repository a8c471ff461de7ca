/**
 * Feeds a {@link BandwidthEstimator} from a werift sender: every RTP packet it sends with a
 * transport-wide sequence number, and the RTCP its partner returns (transport-wide congestion
 * control feedback, reception reports, REMB).
 *
 * The sender needs the transport-cc header extension negotiated (`useTransportWideCC()` in the
 * RTCPeerConnection's `headerExtensions.video`/`.audio`, and `{ type: 'transport-cc' }` in the
 * codecs' `rtcpFeedback`); without it no packet carries a transport-wide sequence number and
 * the estimator stays at its start value.
 *
 * werift quirks handled here (checked against werift 0.24):
 * - `RTCRtpSender.sendRtp` reads the transport-wide sequence number for `senderBWE.rtpPacketSent`
 *   only after awaiting the socket, so packets written in one burst are all reported with the
 *   burst's last number. We take the number when it is assigned instead: right after the
 *   synchronous part of `sendRtp` (see {@link attachEstimator}).
 * - `TransportWideCC.packetResults` reads only run-length chunks and yields one result too many
 *   per chunk; {@link transportFeedbackResults} decodes both chunk kinds itself.
 * - werift's feedback *sender* anchors each message's first delta on the previous message's last
 *   arrival but writes a reference time floored to 64 ms, so its messages disagree on the clock
 *   base by up to 64 ms; {@link TwccArrivalClock} notices and chains the deltas instead.
 * - werift's feedback *sender* writes a TWCC message whose length is not a multiple of 4 bytes
 *   without padding it (RFC 3550 section 6.4.1 wants 32-bit words); the receiver's RTCP parser
 *   then throws on the stray bytes and drops the message, so werift-to-werift feedback mostly
 *   never arrives. {@link padTransportFeedback} pads it on the receiving peer.
 * - werift's router hands a reception report that rides in a Sender Report to our *receiver*,
 *   so report blocks are read off the DTLS transport too, and their RTT is computed the way
 *   werift computes `sender.rtt` (which those blocks never update): LSR matched against the
 *   last Sender Report, whose send time werift keeps (werift's NTP fraction field holds decimal
 *   digits, so LSR cannot be compared with the clock as RFC 3550 section 6.4.1 does).
 */
import {
  PacketStatus, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpRrPacket,
  RtcpSrPacket, RtcpTransportLayerFeedback, RtpPacket, RunLengthChunk, StatusVectorChunk, TransportWideCC,
  type RTCPeerConnection, type RTCRtpSender, type RtcpPacket,
} from 'werift';
import { wireSizes } from '../fec.js';
import { subscribe, type Disposer } from '../werift-seam.js';
import type { BandwidthEstimator, PacketFeedback } from './estimator.js';

/** Sender Reports whose send time is kept to match a reception report's LSR against. */
const SENT_REPORTS_KEPT = 8;
/** Bytes SRTP adds to an RTP packet (the AES_CM_128_HMAC_SHA1_80 authentication tag, RFC 3711). */
const SRTP_TAG_BYTES = 10;

interface Status { seq: number; deltaUs: number | null }

/**
 * The packets one feedback message speaks of, in sequence order: each with its receive delta in
 * microseconds (relative to the previous received packet, the first to the reference time), or
 * null when reported not received. Packets "received without a delta" are left out.
 */
function statuses(fb: TransportWideCC): Status[] {
  const out: Status[] = [];
  const count = fb.packetStatusCount;
  let seq = fb.baseSequenceNumber;
  let deltaIndex = 0;
  const push = (status: number): boolean => {
    if (out.length >= count) return false;
    const s = seq & 0xffff;
    seq++;
    if (status === PacketStatus.TypeTCCPacketReceivedSmallDelta || status === PacketStatus.TypeTCCPacketReceivedLargeDelta) {
      const d = fb.recvDeltas[deltaIndex++];
      if (d === undefined || !Number.isFinite(d.delta)) return false; // malformed: stop here
      out.push({ seq: s, deltaUs: d.delta });
    } else if (status === PacketStatus.TypeTCCPacketNotReceived) {
      out.push({ seq: s, deltaUs: null });
    }
    return true;
  };
  for (const chunk of fb.packetChunks) {
    if (chunk instanceof RunLengthChunk) {
      for (let i = 0; i < chunk.runLength; i++) if (!push(chunk.packetStatus)) return out;
    } else if (chunk instanceof StatusVectorChunk) {
      // one-bit symbols: 0 not received, 1 received with a small delta; two-bit: the status
      for (const symbol of chunk.symbolList) if (!push(symbol)) return out;
    }
  }
  return out;
}

/**
 * One transport-wide feedback message as the estimator takes it, on the message's own clock:
 * arrival = reference time x 64 ms + the receive deltas so far
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1).
 */
export function transportFeedbackResults(fb: TransportWideCC): PacketFeedback[] {
  let at = fb.referenceTime * 64;
  return statuses(fb).map(({ seq, deltaUs }) => {
    if (deltaUs === null) return { seq, arrivalMs: null };
    at += deltaUs / 1000;
    return { seq, arrivalMs: at };
  });
}

/** How {@link TwccArrivalClock} reads arrival times. */
export type TwccClockMode = 'reference' | 'chained';

const CHAIN_EVIDENCE = 8;
const CHAIN_BAND_MS = 72;

/**
 * Puts the arrival times of successive feedback messages on one continuous clock, whichever
 * receiver wrote them.
 *
 * A standard receiver (libwebrtc, Firefox) measures each message from its reference time, so
 * `reference` mode reads them as written. werift's receiver measures each message's first delta
 * from the previous message's last arrival but floors the reference time to 64 ms, so read from
 * the reference time its messages jump by up to 64 ms, a jitter the delay-gradient detector would
 * take for queueing. Then the deltas alone, chained across messages, are exact (`chained`
 * mode). werift's messages give themselves away: its reference time minus the chained clock's
 * last arrival stays within a 64 ms band, where a standard receiver's drifts by tens of ms per
 * message; after 8 messages in the band the clock switches to chaining, and back when it leaves.
 */
export class TwccArrivalClock {
  #mode: TwccClockMode = 'reference';
  #chainLastMs: number | undefined;
  #lastRefMs: number | undefined;
  #lastOutMs: number | undefined;
  #chainOffsetMs = 0;
  #evidence: number[] = [];
  #sameBase = false;

  /** The way arrival times are read now. */
  get mode(): TwccClockMode { return this.#mode; }

  /**
   * Whether the last converted message's arrival times share the base of the message before it:
   * false until 8 messages have shown which kind of receiver this is, and on a change of mode
   * (pass it to {@link BandwidthEstimator.onTransportFeedback}).
   */
  get sameBase(): boolean { return this.#sameBase; }

  /** The packets of `fb` with their arrival times on the continuous clock. */
  convert(fb: TransportWideCC): PacketFeedback[] {
    let refMs = fb.referenceTime * 64;
    // the 24-bit reference time wraps every 12.4 days: keep it monotonic
    if (this.#lastRefMs !== undefined) {
      const span = 2 ** 24 * 64;
      while (refMs - this.#lastRefMs < -span / 2) refMs += span;
    }
    this.#lastRefMs = refMs;
    const list = statuses(fb);
    if (!list.some((s) => s.deltaUs !== null)) return list.map(({ seq }) => ({ seq, arrivalMs: null }));

    if (this.#chainLastMs !== undefined) {
      this.#evidence.push(refMs - this.#chainLastMs);
      if (this.#evidence.length > CHAIN_EVIDENCE) this.#evidence.shift();
      const chained = this.#evidence.length >= CHAIN_EVIDENCE
        && Math.max(...this.#evidence) - Math.min(...this.#evidence) < CHAIN_BAND_MS;
      const known = this.#evidence.length >= CHAIN_EVIDENCE;
      this.#sameBase = known;
      if (chained && this.#mode === 'reference') {
        this.#mode = 'chained';
        this.#chainOffsetMs = (this.#lastOutMs ?? 0) - this.#chainLastMs;
      } else if (!chained && this.#mode === 'chained') {
        this.#mode = 'reference';
        this.#sameBase = false;
      }
    }
    const chainStart = this.#chainLastMs ?? refMs;
    let ref = refMs;
    let chain = chainStart;
    const out = list.map(({ seq, deltaUs }) => {
      if (deltaUs === null) return { seq, arrivalMs: null };
      ref += deltaUs / 1000;
      chain += deltaUs / 1000;
      const arrivalMs = this.#mode === 'chained' ? chain + this.#chainOffsetMs : ref;
      this.#lastOutMs = arrivalMs;
      return { seq, arrivalMs };
    });
    this.#chainLastMs = chain;
    return out;
  }
}

/** Settings of {@link attachEstimator}. */
export interface AttachEstimatorOptions {
  /** The sender's clock in ms; default `performance.now()`. Use the clock the estimator's other inputs use. */
  now?: () => number;
  /**
   * How to read the partner's arrival times. `reference` (the default): as the draft says, from
   * each message's reference time — what browsers send, and what our own werift receivers send
   * since src/peer/twcc-feedback.ts replaced werift's generator. `auto`: detect werift's own
   * generator's chained times with {@link TwccArrivalClock} (a partner on stock werift with
   * {@link padTransportFeedback}). Detection must not run on standard feedback sent every
   * 50 ms: its reference times also stay in the 64 ms band, and chaining them would read a
   * queue growing without end.
   */
  arrivalClock?: 'reference' | 'auto';
}

const clocks = new WeakMap<BandwidthEstimator, TwccArrivalClock>();

/**
 * Feeds `estimator` from `sender` until the returned function is called: each RTP packet the
 * sender sends with a transport-wide sequence number, the transport-wide feedback and REMB werift
 * routes to the sender, and the reception report blocks about the sender's SSRC (with the RTT
 * they imply, else werift's `sender.rtt`). Arrival clocks are rebuilt by a
 * {@link TwccArrivalClock} shared per estimator. Attach every sender of a call (video and audio) to
 * the same estimator: the partner may address its feedback to either, and the feedback's
 * arrival clock is shared per estimator. Attach after negotiation (the sender's DTLS transport
 * is the one listened to). Malformed RTCP from the partner is ignored.
 */
export function attachEstimator(sender: RTCRtpSender, estimator: BandwidthEstimator, options: AttachEstimatorOptions = {}): () => void {
  const now = options.now ?? (() => performance.now());
  let clock = clocks.get(estimator);
  if (!clock) { clock = new TwccArrivalClock(); clocks.set(estimator, clock); }
  const twccClock = clock;

  // Sent packets: sendRtp assigns the transport-wide number in its synchronous part.
  const hadOwn = Object.prototype.hasOwnProperty.call(sender, 'sendRtp');
  const original = sender.sendRtp;
  const wrapped = (rtp: Buffer | RtpPacket): Promise<void> => {
    const packet = Buffer.isBuffer(rtp) ? RtpPacket.deSerialize(rtp) : rtp;
    const transport = sender.dtlsTransport as { transportSequenceNumber?: number } | undefined;
    const before = transport?.transportSequenceNumber;
    const sentAtMs = now();
    const result = original.call(sender, packet);
    noteReport();
    const after = transport?.transportSequenceNumber;
    if (after !== undefined && after !== before) {
      estimator.onPacketSent({ seq: after, sizeBytes: (wireSizes.get(packet.header) ?? packet.header.serializeSize + packet.payload.length) + SRTP_TAG_BYTES, sentAtMs });
    }
    return result;
  };
  sender.sendRtp = wrapped;

  // werift's NTP timestamps put decimal digits in the fraction field, so LSR cannot be compared
  // with the clock; like werift, match LSR against the last Sender Report and use its send time.
  // werift keeps only the last one, and a report that answers the one before (we sent another
  // while it was on its way: about one in three on a 300 ms round trip) gave no round trip at
  // all, so a few are kept here, noted as they change (read on each packet sent).
  const internals = sender as unknown as { rtt?: number; lastSRtimestamp?: number; lastSentSRTimestamp?: number };
  const sentReports = new Map<number, number>();
  let noted: number | undefined;
  const noteReport = (): void => {
    const lsr = internals.lastSRtimestamp;
    if (lsr === noted || lsr === undefined || internals.lastSentSRTimestamp === undefined) return;
    noted = lsr;
    sentReports.set(lsr, internals.lastSentSRTimestamp);
    if (sentReports.size > SENT_REPORTS_KEPT) sentReports.delete(sentReports.keys().next().value!);
  };
  /** The round trip a report says, and when the Sender Report it answers left (our clock, `now()`), when known. */
  const rttOf = (lsr: number, dlsr: number): { rttMs?: number; reportSentAtMs?: number } => {
    noteReport();
    const sentAt = lsr ? sentReports.get(lsr) : undefined;
    if (sentAt !== undefined) {
      const wall = Date.now();
      const s = wall / 1000 - sentAt - dlsr / 65536;
      if (s >= 0 && s < 60) return { rttMs: s * 1000, reportSentAtMs: now() - (wall - sentAt * 1000) };
    }
    return internals.rtt !== undefined ? { rttMs: internals.rtt * 1000 } : {};
  };
  const onReports = (reports: readonly { ssrc: number; fractionLost: number; lsr: number; dlsr: number }[]): void => {
    for (const r of reports) {
      if (r.ssrc !== sender.ssrc) continue;
      estimator.onReceiverReport({ fractionLost: r.fractionLost / 256, ...rttOf(r.lsr, r.dlsr) }, now());
    }
  };
  const disposers: Disposer[] = [
    subscribe(sender.onRtcp, (packet: RtcpPacket) => {
      try {
        if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC) {
          if (options.arrivalClock === 'auto') estimator.onTransportFeedback(twccClock.convert(packet.feedback), now(), twccClock.sameBase);
          else estimator.onTransportFeedback(transportFeedbackResults(packet.feedback), now(), true);
        } else if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback instanceof ReceiverEstimatedMaxBitrate) {
          estimator.onRemb(Number(packet.feedback.bitrate) / 1000, now());
        } else if (packet instanceof RtcpRrPacket) {
          onReports(packet.reports);
        }
      } catch {
        // a partner's malformed feedback must not break the call; the estimate just misses it
      }
    }),
  ];
  // Report blocks inside a Sender Report reach our receiver, not the sender (see the file comment).
  const dtls = sender.dtlsTransport as { onRtcp?: RTCRtpSender['onRtcp'] } | undefined;
  if (dtls?.onRtcp) {
    disposers.push(subscribe(dtls.onRtcp, (packet: RtcpPacket) => {
      try {
        if (packet instanceof RtcpSrPacket) onReports(packet.reports);
      } catch {
        // as above
      }
    }));
  }

  let detached = false;
  return () => {
    if (detached) return;
    detached = true;
    for (const d of disposers) d();
    if (sender.sendRtp === wrapped) {
      if (hadOwn) sender.sendRtp = original;
      else delete (sender as { sendRtp?: unknown }).sendRtp;
    }
  };
}

interface RtcpSendingTransport { sendRtcp(packets: RtcpPacket[]): Promise<unknown> }

/**
 * Makes the transport-wide feedback werift *sends* from `pc` parseable: sets the padding bit on
 * each TWCC message so werift's serializer pads it to 32-bit words (without it the message's
 * length field drops up to 3 bytes, and werift's RTCP parser rejects the whole message). Call it
 * on a peer that receives media with transport-cc negotiated, after both descriptions are set
 * (werift has made its DTLS transports by then); the returned function undoes it.
 */
export function padTransportFeedback(pc: RTCPeerConnection): () => void {
  const undo: (() => void)[] = [];
  for (const transport of pc.dtlsTransports as unknown as RtcpSendingTransport[]) {
    const original = transport.sendRtcp;
    const padded = (packets: RtcpPacket[]): Promise<unknown> => {
      for (const p of packets) {
        if (p instanceof RtcpTransportLayerFeedback && p.feedback instanceof TransportWideCC) p.feedback.header.padding = true;
      }
      return original.call(transport, packets);
    };
    transport.sendRtcp = padded;
    undo.push(() => { if (transport.sendRtcp === padded) transport.sendRtcp = original; });
  }
  return () => { for (const u of undo.splice(0)) u(); };
}
