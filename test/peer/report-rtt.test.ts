/**
 * The round trip from a reception report (src/peer/bandwidth/werift-feedback.ts attachEstimator):
 * a report whose LSR names a Sender Report older than the last one still gives the round trip.
 * werift keeps only its last Sender Report, and a report that answered the one before (we sent
 * another while it was on its way) gave none: on a long path FEC, which waits for a round trip
 * of 150 ms or more (src/peer/adaptation.ts), stayed off for a whole call.
 */
import { describe, expect, it } from 'vitest';
import { Event, RtcpReceiverInfo, RtcpRrPacket, RtpHeader, RtpPacket, type RTCRtpSender } from 'werift';
import { BandwidthEstimator } from '../../src/peer/bandwidth/estimator.js';
import { attachEstimator } from '../../src/peer/bandwidth/werift-feedback.js';

/** A werift sender as attachEstimator sees it: its RTCP events, sendRtp, and the Sender Report it sent last. */
function fakeSender() {
  const s = {
    ssrc: 1234,
    onRtcp: new Event<[unknown]>(),
    dtlsTransport: { transportSequenceNumber: 0, onRtcp: new Event<[unknown]>() },
    lastSRtimestamp: undefined as number | undefined,
    lastSentSRTimestamp: undefined as number | undefined,
    sendRtp: async (_p: unknown) => { /* werift would send it */ },
  };
  return s;
}

const media = () => new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 0, payloadType: 96, ssrc: 1234 }), Buffer.alloc(10));
const report = (lsr: number, dlsr: number) => new RtcpRrPacket({ ssrc: 99, reports: [new RtcpReceiverInfo({ ssrc: 1234, fractionLost: 0, packetsLost: 0, highestSequence: 1, jitter: 0, lsr, dlsr })] });

describe('the round trip from reception reports', () => {
  it('matches a report against any of the last Sender Reports sent, not only the last', () => {
    const sender = fakeSender();
    const estimator = new BandwidthEstimator({ startKbps: 300 });
    const detach = attachEstimator(sender as unknown as RTCRtpSender, estimator);
    const nowS = Date.now() / 1000;
    // Sender Report A went out 0.5 s ago (a packet was sent after it), then B 0.1 s ago.
    sender.lastSRtimestamp = 0xaaaa;
    sender.lastSentSRTimestamp = nowS - 0.5;
    void (sender as unknown as RTCRtpSender).sendRtp(media());
    sender.lastSRtimestamp = 0xbbbb;
    sender.lastSentSRTimestamp = nowS - 0.1;
    void (sender as unknown as RTCRtpSender).sendRtp(media());
    // The partner answers A, having held it 0.2 s (dlsr in 1/65536 s): a round trip of 0.3 s.
    const before = performance.now();
    sender.onRtcp.execute(report(0xaaaa, 0.2 * 65536));
    expect(estimator.rttMs).toBeGreaterThan(290);
    expect(estimator.rttMs).toBeLessThan(360);
    // When A left, on the clock the estimator's other inputs use (performance.now()): so the queue
    // it met in our uplink can be read off the feedback about the media sent just after it.
    expect(estimator.rttSentAtMs).toBeGreaterThan(before - 560);
    expect(estimator.rttSentAtMs).toBeLessThan(performance.now() - 490);
    // One naming a report never sent gives none.
    const other = new BandwidthEstimator({ startKbps: 300 });
    const detach2 = attachEstimator(sender as unknown as RTCRtpSender, other);
    sender.onRtcp.execute(report(0xcccc, 0));
    expect(other.rttMs).toBeUndefined();
    detach2();
    detach();
  });
});
