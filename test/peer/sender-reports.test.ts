/**
 * Our Sender Reports' NTP times (werift-seam.ts stampSenderReports): two werift peers on
 * loopback, one sending VP8-shaped frames stamped with the wall clock; the other's receiver
 * collects the reports. werift writes the decimal digits of the fractional second into the
 * binary fraction, which puts each report up to a second early; a browser's lip sync reads
 * these times.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  MediaStreamTrack, RtcpSrPacket, RTCRtpCodecParameters, useSdesMid, type RtcpPacket, type RTCRtpTransceiver,
} from 'werift';
import { ntpTimestamp, stampSenderReports, withoutThirdPartyStun, type CaptureClock } from '../../src/peer/werift-seam.js';
import { until } from '../helpers/deadline.js';
import { connectWeriftPair } from '../helpers/werift-pair.js';
import { rtpPacket, vp8Payloads } from '../helpers/rtp-packetize.js';

/** A 64-bit NTP time back to Unix ms. */
function ntpToEpochMs(ntp: bigint): number {
  return (Number(ntp >> 32n) - 2_208_988_800) * 1000 + (Number(ntp & 0xffff_ffffn) / 2 ** 32) * 1000;
}

describe('ntpTimestamp', () => {
  it('puts whole seconds since 1900 in the high word and the rest as a binary fraction', () => {
    const t = ntpTimestamp(Date.UTC(2026, 11, 2, 12, 0, 0, 250));
    expect(Number(t >> 32n)).toBe(Date.UTC(2026, 11, 2, 12, 0, 0) / 1000 + 2_208_988_800);
    expect(Number(t & 0xffff_ffffn)).toBe(2 ** 30); // a quarter second
    expect(ntpToEpochMs(ntpTimestamp(1_796_000_000_123.5))).toBeCloseTo(1_796_000_000_123.5, 3);
  });
});

describe('Sender Reports from a werift sender', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** Sends frames for as long as it takes the partner to get `reports` Sender Reports; each with the time it arrived. */
  async function reportsOf(capturedEarlyMs: number | null, reports: number): Promise<{ reports: { ntpMs: number; rtp: number; arrivedMs: number }[]; clock: CaptureClock; rttMs: number | undefined }> {
    const codecs = { video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [{ type: 'nack' }] })] };
    const config = { codecs, headerExtensions: { video: [useSdesMid()] }, iceServers: withoutThirdPartyStun([]).map((s) => ({ urls: s.urls })), bundlePolicy: 'max-bundle' as const };
    const track = new MediaStreamTrack({ kind: 'video' });
    let sending!: RTCRtpTransceiver;
    let receiving!: RTCRtpTransceiver;
    const pair = await connectWeriftPair(config, (a, b) => {
      sending = a.addTransceiver(track, { direction: 'sendonly' });
      receiving = b.addTransceiver('video', { direction: 'recvonly' });
    });
    closers.push(pair.close);
    const stamp = stampSenderReports(sending.sender);
    closers.push(stamp.dispose);
    // Frames stamped with the wall clock at 90 kHz, 30 a second, as the CLI's media source stamps them.
    const t0 = performance.now();
    const base = 123_456;
    const clock: CaptureClock = (ts) => t0 + ((ts - base) | 0) / 90 - (capturedEarlyMs ?? 0);
    if (capturedEarlyMs !== null) stamp.setCaptureClock(clock);
    const got: { ntpMs: number; rtp: number; arrivedMs: number }[] = [];
    const sub = receiving.receiver.onRtcp.subscribe((p: RtcpPacket) => {
      if (p instanceof RtcpSrPacket) got.push({ ntpMs: ntpToEpochMs(p.senderInfo.ntpTimestamp), rtp: p.senderInfo.rtpTimestamp, arrivedMs: performance.timeOrigin + performance.now() });
    });
    closers.push(() => sub.unSubscribe());
    let n = 0;
    const timer = setInterval(() => {
      const ts = (base + Math.round((performance.now() - t0) * 90)) >>> 0;
      const payloads = vp8Payloads(Buffer.alloc(900, n & 0xff), 700);
      payloads.forEach((p, k) => track.writeRtp(rtpPacket((n * 2 + k) & 0xffff, ts, k === payloads.length - 1, p)));
      n++;
    }, 1000 / 30);
    closers.push(() => clearInterval(timer));
    await until(() => got.length >= reports, 15_000, `fewer than ${reports} Sender Reports arrived`);
    clearInterval(timer);
    const rtt = (sending.sender as unknown as { rtt?: number }).rtt;
    return { reports: got, clock, rttMs: rtt === undefined ? undefined : rtt * 1000 };
  }

  it('say the time each report was sent, to the millisecond, not up to a second early', async () => {
    const { reports } = await reportsOf(null, 4);
    for (const r of reports) {
      // The report carries the last packet's time (frames come every 33 ms) and crosses loopback.
      expect(r.arrivedMs - r.ntpMs, `a report ${(r.arrivedMs - r.ntpMs).toFixed(0)} ms before it arrived`).toBeGreaterThanOrEqual(-1);
      expect(r.arrivedMs - r.ntpMs, `a report ${(r.arrivedMs - r.ntpMs).toFixed(0)} ms before it arrived`).toBeLessThan(150);
    }
  }, 30_000);

  it('map each timestamp through the capture clock when there is one, and receiver reports still give an RTT', async () => {
    const early = 40; // the frames were captured 40 ms before they were stamped
    const { reports, clock, rttMs } = await reportsOf(early, 4);
    for (const r of reports) {
      expect(Math.abs(r.ntpMs - (performance.timeOrigin + clock(r.rtp))), 'a report off its timestamp\'s capture time').toBeLessThan(1);
      expect(r.arrivedMs - r.ntpMs).toBeGreaterThan(early - 1);
    }
    expect(rttMs, 'no RTT from the receiver reports').toBeDefined();
    expect(rttMs!).toBeLessThan(500);
  }, 30_000);
});
