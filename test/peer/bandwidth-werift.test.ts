/**
 * The estimator fed by real werift: two RTCPeerConnections on loopback with transport-wide
 * congestion control negotiated, one sending about 3 s of VP8-shaped video; and the TWCC
 * decoder on a serialized feedback packet.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  MediaStreamTrack, RecvDelta, RtcpPacketConverter, RtcpTransportLayerFeedback, RTCRtpCodecParameters,
  StatusVectorChunk, RunLengthChunk, TransportWideCC, useSdesMid, useTransportWideCC, type RtcpPacket, type RTCRtpTransceiver,
} from 'werift';
import { BandwidthEstimator } from '../../src/peer/bandwidth/estimator.js';
import { attachEstimator, padTransportFeedback, transportFeedbackResults, TwccArrivalClock } from '../../src/peer/bandwidth/werift-feedback.js';
import { withoutThirdPartyStun } from '../../src/peer/werift-seam.js';
import { withTimeout } from '../helpers/deadline.js';
import { connectWeriftPair } from '../helpers/werift-pair.js';
import { rtpPacket, vp8Payloads } from '../helpers/rtp-packetize.js';

describe('transportFeedbackResults', () => {
  it('decodes status vector and run-length chunks, losses and negative deltas across the 16-bit wrap', () => {
    const fb = new TransportWideCC({
      senderSsrc: 1, mediaSourceSsrc: 2, baseSequenceNumber: 65_534, packetStatusCount: 10, referenceTime: 10, fbPktCount: 0,
      packetChunks: [
        // two-bit symbols: small, lost, large, small, small, lost, small
        new StatusVectorChunk({ type: 1, symbolSize: 1, symbolList: [1, 0, 2, 1, 1, 0, 1] }),
        new RunLengthChunk({ packetStatus: 1, runLength: 3 }),
      ],
      recvDeltas: [1000, -8000, 2000, 250, 500, 750, 1000, 1250].map((delta) => new RecvDelta({ delta })),
    });
    fb.header.padding = true; // 29 bytes: werift pads to 32-bit words only when asked
    const [packet] = RtcpPacketConverter.deSerialize(fb.serialize());
    expect(packet).toBeInstanceOf(RtcpTransportLayerFeedback);
    const results = transportFeedbackResults((packet as RtcpTransportLayerFeedback).feedback as TransportWideCC);
    expect(results).toEqual([
      { seq: 65_534, arrivalMs: 641 },
      { seq: 65_535, arrivalMs: null },
      { seq: 0, arrivalMs: 633 },
      { seq: 1, arrivalMs: 635 },
      { seq: 2, arrivalMs: 635.25 },
      { seq: 3, arrivalMs: null },
      { seq: 4, arrivalMs: 635.75 },
      { seq: 5, arrivalMs: 636.5 },
      { seq: 6, arrivalMs: 637.5 },
      { seq: 7, arrivalMs: 638.75 },
    ]);
  });
});

describe('attachEstimator on a werift call', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('hears transport-wide feedback and acknowledges about the rate sent, without overuse', async () => {
    const codecs = {
      video: [new RTCRtpCodecParameters({
        mimeType: 'video/VP8', clockRate: 90000, payloadType: 96,
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'transport-cc' }],
      })],
    };
    const config = {
      codecs,
      headerExtensions: { video: [useSdesMid(), useTransportWideCC()] },
      iceServers: withoutThirdPartyStun([]).map((s) => ({ urls: s.urls })),
      bundlePolicy: 'max-bundle' as const,
    };
    let transceiver!: RTCRtpTransceiver;
    const track = new MediaStreamTrack({ kind: 'video' });
    const { b, close } = await connectWeriftPair(config, (a, b) => {
      transceiver = a.addTransceiver(track, { direction: 'sendonly' });
      b.addTransceiver('video', { direction: 'recvonly' });
    }, (answer) => expect(answer, 'transport-cc was not negotiated').toContain('transport-cc'));
    closers.push(close);
    closers.push(padTransportFeedback(b));

    const estimator = new BandwidthEstimator({ startKbps: 300 });
    closers.push(attachEstimator(transceiver.sender, estimator, { arrivalClock: 'auto' }));
    // a second clock on the same feedback, to see which way werift's feedback is read
    const clock = new TwccArrivalClock();
    const sub = transceiver.sender.onRtcp.subscribe((p: RtcpPacket) => {
      if (p instanceof RtcpTransportLayerFeedback && p.feedback instanceof TransportWideCC) clock.convert(p.feedback);
    });
    closers.push(() => sub.unSubscribe());

    // 30 frames a second of about 1250 bytes (300 kbit/s), two packets each, for at least 3 s
    // and until a receiver report gave an RTT (at most 6 s)
    const fps = 30;
    const frameBytes = 1250;
    let frames = 0;
    let bytes = 0;
    const started = performance.now();
    await withTimeout(new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const payloads = vp8Payloads(Buffer.alloc(frameBytes, frames & 0xff), 700);
        payloads.forEach((p, k) => {
          const packet = rtpPacket(frames * 2 + k, frames * 3000, k === payloads.length - 1, p);
          bytes += packet.length;
          track.writeRtp(packet);
        });
        frames++;
        const elapsed = performance.now() - started;
        if ((elapsed > 3000 && estimator.rttMs !== undefined) || elapsed > 6000 || frames > 6 * fps) {
          clearInterval(timer);
          resolve();
        }
      }, 1000 / fps);
      closers.push(() => clearInterval(timer));
    }), 12_000, 'the sending loop never ended');
    const sentKbps = bytes * 8 / (performance.now() - started);

    expect(estimator.feedbackCount).toBeGreaterThan(0);
    expect(estimator.ackedKbps, 'no acknowledged rate').toBeDefined();
    expect(estimator.ackedKbps!).toBeGreaterThan(0.7 * sentKbps);
    expect(estimator.ackedKbps!).toBeLessThan(1.3 * sentKbps);
    expect(estimator.delayState).toBe('normal');
    expect(estimator.lossFraction).toBeLessThan(0.05);
    expect(estimator.rttMs!).toBeLessThan(1000);
    // werift's receiver gives each message its own base: the clock noticed and chains deltas
    expect(clock.mode).toBe('chained');
    // below capacity on loopback: the estimate did not fall, and may have grown
    expect(estimator.estimateKbps).toBeGreaterThanOrEqual(300);
  });
});
