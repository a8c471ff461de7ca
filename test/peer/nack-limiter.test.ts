/**
 * The retransmission path of the werift sender (src/peer/nack-limiter.ts), against a stand-in
 * for werift's sender internals: what a NACK makes it send, under which transport-wide number,
 * and what the budget lets through.
 */
import { describe, expect, it } from 'vitest';
import { GenericNack, RtcpPacketConverter, RtcpReceiverInfo, RtcpRrPacket, RtcpTransportLayerFeedback, RtpHeader, RtpPacket, RTP_EXTENSION_URI, serializeTransportWideCC, unwrapRtx, type RTCRtpSender } from 'werift';
import { retransmissionOptions } from '../../src/peer/adaptation.js';
import { BandwidthEstimator } from '../../src/peer/bandwidth/estimator.js';
import { limitRetransmissions, nackedSequenceNumbers, resendInterval, type ResentPacket } from '../../src/peer/nack-limiter.js';

const TWCC_ID = 3;

/** A werift sender as the limiter sees it: a send history, the negotiated extensions, a transport that records what it sends. */
function fakeSender(packets: number, rtx?: { rtxPayloadType: number; rtxSsrc: number; rtxSequenceNumber: number }) {
  const sent: { payload: Buffer; header: RtpHeader }[] = [];
  const handled: number[][] = [];
  const transport = {
    transportSequenceNumber: 1000,
    sendRtp: async (payload: Buffer, header: RtpHeader) => { sent.push({ payload, header }); return payload.length; },
  };
  const rtpCache: { header: RtpHeader; payload: Buffer }[] = [];
  for (let seq = 0; seq < packets; seq++) {
    const header = new RtpHeader({ sequenceNumber: seq, timestamp: 90 * seq, ssrc: 42, payloadType: 96, extension: true, extensions: [{ id: TWCC_ID, payload: serializeTransportWideCC(500 + seq) }] });
    rtpCache[seq % 128] = { header, payload: Buffer.alloc(1000, seq) };
  }
  const sender = {
    rtpCache,
    headerExtensions: [{ uri: RTP_EXTENSION_URI.transportWideCC, id: TWCC_ID }],
    dtlsTransport: transport,
    handleRtcpPacket(packet: RtcpTransportLayerFeedback) { handled.push([...(packet.feedback as GenericNack).lost]); },
    ...rtx,
  };
  return { sender: sender as unknown as RTCRtpSender, sent, handled, transport };
}

const nack = (lost: number[]) => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 42, lost }) });
/** Hands `packet` to the sender's RTCP handler, as werift's transport does. */
const deliver = (sender: RTCRtpSender, packet: unknown) => (sender as unknown as { handleRtcpPacket(p: unknown): void }).handleRtcpPacket(packet);
const wideSeq = (h: RtpHeader) => h.extensions.find((e) => e.id === TWCC_ID)!.payload.readUInt16BE(0);

describe('limitRetransmissions', () => {
  it('resends a NACKed packet under a new transport-wide number, and tells the estimate it was sent', async () => {
    const { sender, sent, handled, transport } = fakeSender(10);
    const resent: ResentPacket[] = [];
    let t = 0;
    limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => t, onResent: (p) => resent.push(p) });
    deliver(sender, nack([3, 5]));
    await Promise.resolve();
    expect(sent.map((s) => s.header.sequenceNumber)).toEqual([3, 5]);
    expect(sent[0]!.payload.equals(Buffer.alloc(1000, 3))).toBe(true);
    // Not the original's number (503): a number of its own, as if it were a new packet.
    expect(sent.map((s) => wideSeq(s.header))).toEqual([1001, 1002]);
    expect(transport.transportSequenceNumber).toBe(1002);
    expect(resent.map((r) => r.seq)).toEqual([1001, 1002]);
    expect(resent[0]!.sizeBytes).toBeGreaterThan(1000);
    // The cached original keeps its number (a later NACK of it gets another new one).
    expect(wideSeq((sender as unknown as { rtpCache: { header: RtpHeader }[] }).rtpCache[3]!.header)).toBe(503);
    // werift still sees the NACK (its counters) but has nothing left to resend.
    expect(handled).toEqual([[]]);
    // The same packet again within 150 ms (no round trip known yet) is not resent; after, it is.
    t = 100;
    deliver(sender, nack([3]));
    t = 200;
    deliver(sender, nack([3]));
    expect(sent.map((s) => wideSeq(s.header))).toEqual([1001, 1002, 1003]);
  });

  it('once the round trip is known, resends a packet again a round trip and 5 ms after its last resend, not sooner', () => {
    const { sender, sent } = fakeSender(10);
    let t = 0;
    let rtt: number | undefined = 40;
    limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => t, rttMs: () => rtt });
    const ask = (at: number) => { t = at; deliver(sender, nack([3])); };
    // The partner asks each round trip while the resend is lost (Chromium's NACK module does).
    ask(0);
    ask(44); // the first resend may still be on its way
    ask(45);
    ask(89);
    ask(90);
    expect(sent.map((s) => s.header.sequenceNumber)).toEqual([3, 3, 3]);
    // A longer path waits longer.
    rtt = 300;
    ask(200);
    ask(394);
    expect(sent).toHaveLength(3);
    ask(395);
    expect(sent).toHaveLength(4);
    expect([resendInterval(undefined), resendInterval(Number.NaN), resendInterval(-1), resendInterval(0), resendInterval(40)]).toEqual([150, 150, 150, 5, 45]);
    // One report from a moment of deep queue holds a resend back a second at most.
    expect(resendInterval(60_000)).toBe(1005);
  });

  it('a call\'s adaptation times resends by its estimate\'s round trip, from the first receiver report on', () => {
    const { sender, sent } = fakeSender(10);
    const estimator = new BandwidthEstimator({ startKbps: 1000 });
    let t = 0;
    limitRetransmissions(sender, { ...retransmissionOptions(estimator, true), now: () => t });
    const ask = (at: number) => { t = at; deliver(sender, nack([3])); };
    ask(0);
    ask(60); // no round trip yet: 150 ms
    expect(sent).toHaveLength(1);
    estimator.onReceiverReport({ fractionLost: 0, rttMs: 40 }, 100);
    ask(100); // 100 ms after the last resend, over 40 + 5
    ask(140);
    ask(145);
    expect(sent).toHaveLength(3);
  });

  it('with RTX negotiated, resends on the RTX stream: its payload type, SSRC and numbers, the original number first (RFC 4588)', () => {
    const { sender, sent } = fakeSender(10, { rtxPayloadType: 97, rtxSsrc: 4242, rtxSequenceNumber: 65535 });
    const resent: ResentPacket[] = [];
    limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => 0, onResent: (p) => resent.push(p) });
    deliver(sender, nack([3, 5]));
    expect(sent.map((s) => [s.header.payloadType, s.header.ssrc, s.header.sequenceNumber])).toEqual([[97, 4242, 65535], [97, 4242, 0]]);
    // The original sequence number, then the original payload; the media timestamp is kept.
    expect(sent.map((s) => s.payload.readUInt16BE(0))).toEqual([3, 5]);
    expect(sent[0]!.payload.subarray(2).equals(Buffer.alloc(1000, 3))).toBe(true);
    expect(sent.map((s) => s.header.timestamp)).toEqual([270, 450]);
    // Still a transport-wide number of its own, and the estimate counts the two bytes more.
    expect(sent.map((s) => wideSeq(s.header))).toEqual([1001, 1002]);
    expect(resent[0]!.sizeBytes).toBeGreaterThan(1002);
    expect((sender as unknown as { rtxSequenceNumber: number }).rtxSequenceNumber).toBe(1);
  });

  it('with RTX, a resent padding-only packet stays padding: the partner unwraps it to an empty packet of the original number', () => {
    const { sender, sent } = fakeSender(10, { rtxPayloadType: 97, rtxSsrc: 4242, rtxSequenceNumber: 7 });
    // Packet 4 was a probe's padding (as media-source.ts sends it: the P bit, 200 bytes of padding).
    const padding = Buffer.alloc(200);
    padding[199] = 200;
    const cache = (sender as unknown as { rtpCache: { header: RtpHeader; payload: Buffer }[] }).rtpCache;
    cache[4] = { header: new RtpHeader({ ...cache[4]!.header, padding: true, paddingSize: 200 }), payload: padding };
    limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => 0 });
    deliver(sender, nack([4]));
    expect(sent).toHaveLength(1);
    // On the wire (werift's SRTP writes the header, then the payload as given), then as the
    // partner reads it: padding stripped, the original number, no media.
    const h = sent[0]!.header;
    const wire = Buffer.concat([h.serialize(h.serializeSize), sent[0]!.payload]);
    const rtx = RtpPacket.deSerialize(wire);
    expect([rtx.header.padding, rtx.header.ssrc, rtx.header.payloadType]).toEqual([true, 4242, 97]);
    const media = unwrapRtx(rtx, 96, 42);
    expect(media.header.sequenceNumber).toBe(4);
    expect(media.payload.length).toBe(0);
  });

  it('resends within a budget of the estimate, and nothing no longer in the history', () => {
    const { sender, sent } = fakeSender(200);
    const t = 0;
    const limited = limitRetransmissions(sender, { estimateKbps: () => 100, now: () => t });
    // Packets 0-71 left the 128-packet history (72-199 are in it); the burst allowance is 12 KB.
    deliver(sender, nack([5, ...Array.from({ length: 30 }, (_, i) => 100 + i)]));
    expect(limited.counts.requested).toBe(31);
    expect(sent.every((s) => s.header.sequenceNumber >= 100)).toBe(true);
    expect(sent.length).toBe(11); // 11 x 1012 bytes fit 12,000
  });

  it("takes only the NACK's own numbers from a compound packet, where werift reads on into what follows it", () => {
    const { sender, sent } = fakeSender(10);
    const limited = limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => 0 });
    // A NACK of 3 and 5 (one FCI), then a receiver report from an SSRC whose upper half reads as
    // PID 7: werift's reading of the NACK goes on into the report and lists 7 too.
    const nackWire = new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 42, lost: [3, 5] }).serialize();
    const rrWire = new RtcpRrPacket({ ssrc: 7 << 16, reports: [new RtcpReceiverInfo({ ssrc: 8 << 16, fractionLost: 0, packetsLost: 0, highestSequence: 9, jitter: 0, lsr: 0, dlsr: 0 })] }).serialize();
    const [packet] = RtcpPacketConverter.deSerialize(Buffer.concat([nackWire, rrWire]));
    const werift = (packet as RtcpTransportLayerFeedback).feedback as GenericNack;
    expect(werift.lost.slice(0, 2)).toEqual([3, 5]);
    expect(werift.lost).toContain(7); // werift's own reading: made-up numbers after the FCI
    deliver(sender, packet);
    expect(limited.counts.requested).toBe(2);
    expect(sent.map((x) => x.header.sequenceNumber)).toEqual([3, 5]);
  });

  it("reads a NACK's FCIs as RFC 4585 packs them: each PID with the 16 after it, wrapped at 65536", () => {
    // Two FCIs (length 4): 65535 with the next two, then 40; what follows is not the NACK's.
    expect(nackedSequenceNumbers([65535, 65536, 65537, 40, 900, 901], 4)).toEqual([65535, 0, 1, 40]);
    // A PID more than 16 after the last starts an FCI of its own.
    expect(nackedSequenceNumbers([10, 27, 28], 3)).toEqual([10]);
    expect(nackedSequenceNumbers([10, 26, 28], 3)).toEqual([10, 26]);
    // No length (built in code, not read off the wire): every number.
    expect(nackedSequenceNumbers([10, 27, 28], undefined)).toEqual([10, 27, 28]);
  });

  it('answers nothing when told not to (what retransmission buys is measured against that)', () => {
    const { sender, sent, handled } = fakeSender(10);
    const limited = limitRetransmissions(sender, { estimateKbps: () => 1000, now: () => 0, answer: false });
    deliver(sender, nack([3, 5]));
    expect(sent).toEqual([]);
    expect(handled).toEqual([[]]);
    expect(limited.counts).toEqual({ requested: 2, allowed: 0 });
  });
});
