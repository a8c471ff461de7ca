/**
 * Our transport-wide feedback (src/peer/twcc-feedback.ts) as a partner reads it: werift's RTCP
 * parser takes the bytes (werift's own generator's messages made it throw), and the packet
 * statuses and arrival times come back as they were, lost packets included.
 */
import { RtcpPacketConverter, RtcpTransportLayerFeedback, TransportWideCC } from 'werift';
import { describe, expect, it } from 'vitest';
import { transportFeedbackResults } from '../../src/peer/bandwidth/werift-feedback.js';
import { QueueDelayMeter } from '../../src/peer/queue-delay.js';
import { buildTwccFeedback, type ArrivedPacket } from '../../src/peer/twcc-feedback.js';

function parse(buf: Buffer): TransportWideCC {
  const [packet] = RtcpPacketConverter.deSerialize(buf);
  expect(packet).toBeInstanceOf(RtcpTransportLayerFeedback);
  const fb = (packet as RtcpTransportLayerFeedback).feedback;
  expect(fb).toBeInstanceOf(TransportWideCC);
  return fb as TransportWideCC;
}

describe('transport-wide feedback we send', () => {
  it('parses in werift, padded to 32-bit words, with every status and arrival time (small, large and negative deltas)', () => {
    // 65534..65535, 0..9 (a 16-bit wrap): 65535 and 3 lost, a 100 ms gap (two-byte delta), one
    // packet that arrived before the one numbered before it (negative delta).
    const seqs = [65534, 65535, ...Array.from({ length: 10 }, (_, i) => i)];
    const arrivals = new Map<number, number>([
      [65534, 1000.25], [0, 1005], [1, 1010.5], [2, 1110.5], [4, 1108], [5, 1120], [6, 1121], [7, 1122], [8, 1123], [9, 1124],
    ]);
    const buf = buildTwccFeedback({
      senderSsrc: 1, mediaSsrc: 0xdeadbeef, baseSeq: 65534, count: seqs.length, fbCount: 7,
      packets: [...arrivals].map(([seq, arrivalMs]): ArrivedPacket => ({ seq, arrivalMs })),
    });
    expect(buf.length % 4).toBe(0);
    const fb = parse(buf);
    expect(fb.mediaSourceSsrc).toBe(0xdeadbeef);
    expect(fb.baseSequenceNumber).toBe(65534);
    expect(fb.packetStatusCount).toBe(12);
    expect(fb.fbPktCount).toBe(7);
    const results = transportFeedbackResults(fb);
    expect(results.map((r) => r.seq)).toEqual(seqs);
    for (const r of results) {
      const want = arrivals.get(r.seq);
      if (want === undefined) expect(r.arrivalMs, `seq ${r.seq}`).toBeNull();
      else expect(r.arrivalMs!, `seq ${r.seq}`).toBeCloseTo(want, 0);
    }
  });

  it('a queue that grows shows in the meter; a keyframe burst alone does not', () => {
    const m = new QueueDelayMeter();
    let seq = 0;
    // 2 s at a steady 20 ms one-way delay, then packets that wait ever longer (a standing queue).
    for (let t = 0; t < 2000; t += 20) { m.onSent(seq, t); m.onFeedback([{ seq, arrivalMs: t + 20 }], t + 40); seq++; }
    expect(m.queueMs(2040)).toBeLessThan(5);
    // A burst of 10 packets queued behind each other for a moment: the smallest delay of the window stays low.
    for (let i = 0; i < 10; i++) { m.onSent(seq, 2040); m.onFeedback([{ seq, arrivalMs: 2060 + i * 15 }], 2200); seq++; }
    m.onSent(seq, 2220); m.onFeedback([{ seq, arrivalMs: 2240 }], 2260); seq++;
    expect(m.queueMs(2260)).toBeLessThan(5);
    for (let t = 2300; t < 3300; t += 20) { m.onSent(seq, t); m.onFeedback([{ seq, arrivalMs: t + 20 + (t - 2300) * 0.3 }], t + 40); seq++; }
    expect(m.queueMs(3340)).toBeGreaterThan(100);
    // Losses count once there are a few of them, not one among a handful.
    m.onSent(seq, 3400); m.onFeedback([{ seq, arrivalMs: null }], 3420); seq++;
    expect(m.lossFraction(3420)).toBe(0);
    for (let i = 0; i < 5; i++) { m.onSent(seq, 3440); m.onFeedback([{ seq, arrivalMs: null }], 3460); seq++; }
    expect(m.lossFraction(3460)).toBeGreaterThan(0.05);
  });
});
