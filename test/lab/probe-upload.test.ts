/**
 * The probe's uplink test across the lab: two werift peers relay-only through a real coturn
 * behind the impairment relay (each peer its own shaped flow, so A's packets cross the uplink
 * and B's downlink), A ramping its RTP rate. The rate the path sustains is found within 25% of
 * the narrower of the profile's upload and download (low-upload, 3g, two custom links),
 * an unlimited link carries the ramp's top, and the advice changes with the number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImpairmentRelay, iceServersThroughRelay, parseNetworkProfile } from '../../src/lab/index.js';
import { Probe } from '../../src/probe/probe.js';
import type { UplinkResult } from '../../src/probe/report.js';
import { UplinkWorker } from '../../src/probe/upload-ramp.js';
import { uplinkAdvice } from '../../src/probe/verdict.js';
import { turnCredentials } from '../../src/signal/turn-credentials.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';

let turn: Coturn;
const measured = new Map<string, UplinkResult>();

beforeAll(async () => { turn = await startCoturn(); }, 30_000);
afterAll(async () => {
  await turn?.stop();
  for (const [profile, r] of measured) console.log(`${profile}: ${brief(r)}`);
});

function creds(): { username: string; credential: string } {
  const { username, credential } = turnCredentials(turn.secret, 'probe-upload', 600);
  return { username, credential };
}

/** The uplink test with both peers behind a relay shaped by `profile`. */
async function rampBehind(profile: string): Promise<UplinkResult> {
  const relay = await ImpairmentRelay.start({ profile: parseNetworkProfile(profile) });
  const worker = new UplinkWorker();
  try {
    const iceServers = iceServersThroughRelay([{ urls: turn.url, ...creds() }], relay);
    const r = await withTimeout(worker.run({ iceServers, server: String(iceServers[0]!.urls) }), 30_000, `uplink test behind ${profile}`);
    measured.set(profile, r);
    return r;
  } finally {
    await worker.terminate();
    await relay.close();
  }
}

/** The result in one line, for a failing assertion's message. */
const brief = (r: UplinkResult | null | undefined) => JSON.stringify(r && { ...r, steps: r.steps.map((s) => `${s.offeredKbps}:${s.receivedKbps}:${s.lossPercent}%:${s.delayGrowthMs}ms:${s.ok ? 'ok' : s.why}`) });

const within25 = (r: UplinkResult | null | undefined, want: number) => {
  expect(r?.upKbps, `the uplink test measured nothing: ${brief(r)}`).toEqual(expect.any(Number));
  expect(Math.abs(r!.upKbps! - want), `measured ${r!.upKbps} kbit/s, profile ${want} kbit/s: ${brief(r)}`).toBeLessThanOrEqual(0.25 * want);
};

describe('probe: the uplink test across the lab', () => {
  it('low-upload (300 kbit/s up): about 300 kbit/s, and a low-resolution advice line', async () => {
    const r = await rampBehind('low-upload');
    expect(r.status).toBe('measured');
    within25(r, 300);
    expect(r.atLeast).toBe(false);
    // The ramp stopped at a step the path could not carry, and none below the link rate failed
    // (the 300 step offers exactly the link rate: it may fail tentatively, confirmed by the next).
    expect(r.steps.at(-1)!.ok).toBe(false);
    expect(r.steps.find((s) => !s.ok)!.offeredKbps).toBeGreaterThanOrEqual(300);
    expect(uplinkAdvice(r)).toMatch(/low-resolution video/);
  }, 60_000);

  // 3g's rates, jitter and loss at a 60 ms round trip: what the ramp finds is the rate.
  it('3g rates (750 kbit/s up, 1500 down, jitter 20 ms, 0.5% loss): about 750 kbit/s', async () => {
    const r = await rampBehind('custom:rtt=60ms,jitter=20ms,loss=0.5%,up=750kbit,down=1500kbit');
    within25(r, 750);
    expect(r.rttMs!).toBeGreaterThan(50);
    expect(r.jitterMs!).toBeGreaterThan(5);
    expect(uplinkAdvice(r)).toMatch(/standard-definition video/);
  }, 60_000);

  // 3g itself: 250 ms round trip each way to the relay, so the two peers' DTLS handshake and
  // connectivity checks cross a 500 ms path (before werift-seam.ts's fixes for long paths the
  // call failed about half the time and the probe reported the uplink as failed). Quiet runs
  // measured 721-786 kbit/s; on a loaded 2-core CI box the 600 step lost 7% once (546 arrived),
  // so here only: it connects, it measures, and the number is in the profile's range.
  it('3g itself (250 ms round trip): the test connects and measures', async () => {
    const r = await rampBehind('3g');
    expect(r.status, brief(r)).toBe('measured');
    // The profile's 250 ms with 20 ms of jitter either way (CI measured 247.9 once): above 200
    // shows the delay is there (without it, loopback's round trip is a millisecond).
    expect(r.rttMs!, brief(r)).toBeGreaterThan(200);
    expect(r.upKbps!, brief(r)).toBeGreaterThanOrEqual(300);
    expect(r.upKbps!, brief(r)).toBeLessThanOrEqual(750 * 1.25);
  }, 60_000);

  it('custom (1800 kbit/s up, 3000 down): about 1800 kbit/s, between two steps', async () => {
    const r = await rampBehind('custom:rtt=40ms,up=1800kbit,down=3mbit');
    within25(r, 1800);
    expect(uplinkAdvice(r)).toMatch(/HD video/);
  }, 60_000);

  it('custom (3000 kbit/s up, 600 down): the narrower direction, the download, bounds it', async () => {
    const r = await rampBehind('custom:rtt=40ms,up=3mbit,down=600kbit');
    within25(r, 600);
  }, 60_000);

  it('good (unlimited): more than 2 Mbit/s, and the advice differs from low-upload', async () => {
    const r = await rampBehind('good');
    expect(r.upKbps!).toBeGreaterThan(2000);
    expect(r.lossPercent!).toBeLessThan(5);
    expect(uplinkAdvice(r)).toMatch(/HD video/);
    expect(uplinkAdvice(r)).not.toBe(uplinkAdvice(measured.get('low-upload')!));
  }, 60_000);

  it('the whole probe behind low-upload: the report has the uplink, and the advice has its line', async () => {
    const relay = await ImpairmentRelay.start({ profile: parseNetworkProfile('low-upload'), upstream: { host: '127.0.0.1', port: turn.port } });
    try {
      const { username, credential } = creds();
      // Generous timeouts: on a loaded 2-core machine the relay-only test call, which must connect
      // before the uplink test runs, can take longer than the defaults allow.
      const probe = new Probe({
        turn: [`turn:127.0.0.1:${relay.address.port}?transport=udp`], turnUser: username, turnPass: credential, stunSamples: 1, relayPings: 1,
        timeouts: { turn: 10_000, ice: 30_000 },
      });
      const report = await withTimeout(probe.run(), 80_000, 'probe behind low-upload');
      expect(report.uplink?.status, `${brief(report.uplink)}; the relay-only call: ${JSON.stringify(report.ice)}`).toBe('measured');
      within25(report.uplink, 300);
      expect(report.advice.join('\n')).toMatch(/sustains about \d+ kbit\/s.*low-resolution video/);
    } finally {
      await relay.close();
    }
  }, 90_000);
});
