/**
 * The probe's STUN burst across the lab: Binding requests to a real coturn through the
 * impairment relay find the profile's round trip and loss, and the MOS a call would get falls
 * with them.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImpairmentRelay, parseNetworkProfile } from '../../src/lab/index.js';
import { burstAdvice, stunBurst, type StunBurstResult } from '../../src/probe/stun-burst.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';

let turn: Coturn;
const results = new Map<string, StunBurstResult>();

beforeAll(async () => { turn = await startCoturn(); }, 30_000);
afterAll(async () => {
  await turn?.stop();
  console.log(JSON.stringify(Object.fromEntries(results)));
});

async function burst(profile: string, count = 50, intervalMs = 20): Promise<StunBurstResult> {
  const relay = await ImpairmentRelay.start({ profile: parseNetworkProfile(profile), upstream: { host: '127.0.0.1', port: turn.port } });
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const r = await withTimeout(stunBurst(sock, '127.0.0.1', relay.address.port, { count, intervalMs }), 30_000, `STUN burst across ${profile}`);
    results.set(profile, r);
    return r;
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
    await relay.close();
  }
}

describe('STUN burst across the lab', () => {
  it('good: every answer comes back, RTT about 20 ms, MOS about 4.4', async () => {
    const r = await burst('good');
    expect(r).toMatchObject({ sent: 50, received: 50, lossPercent: 0 });
    expect(Math.abs(r.rttMs!.p50 - 20)).toBeLessThanOrEqual(5);
    expect(r.mos).toBeGreaterThan(4.3);
    expect(burstAdvice(r)).toMatch(/Good for calls\.$/);
  });

  it('3g: RTT about 250 ms (within 15%), jitter visible, MOS lower than good', async () => {
    const r = await burst('3g');
    expect(Math.abs(r.rttMs!.p50 - 250)).toBeLessThanOrEqual(0.15 * 250 + 5);
    expect(r.jitterMs!).toBeGreaterThan(5);
    expect(r.mos!).toBeLessThan(results.get('good')!.mos!);
  });

  it('low-upload: RTT about 60 ms plus serialization at 300 kbit/s', async () => {
    const r = await burst('low-upload');
    expect(Math.abs(r.rttMs!.p50 - 62)).toBeLessThanOrEqual(0.15 * 62 + 3);
  });

  it('lossy-5: about 10% of round trips lost (5% each way), and the MOS drops', async () => {
    // 400 requests: loss needs a sample that size to be read within a few points.
    const r = await burst('lossy-5', 400, 5);
    const expected = 100 * (1 - 0.95 * 0.95);
    expect(Math.abs(r.lossPercent - expected)).toBeLessThanOrEqual(3 * 100 * Math.sqrt((0.0975 * 0.9025) / 400));
    expect(r.mos!).toBeLessThan(results.get('good')!.mos! - 0.2);
    expect(burstAdvice(r)).toContain('loses packets');
  });

  it('the advice follows the numbers', () => {
    const base = { sent: 50, received: 50, lossPercent: 0, rttMs: { p50: 40, p95: 50 }, jitterMs: 2, mos: 4.4 };
    expect(burstAdvice({ ...base, rttMs: { p50: 600, p95: 650 }, mos: 3.4 })).toContain('delay in conversation');
    expect(burstAdvice({ ...base, jitterMs: 45, mos: 4.1 })).toContain('delays vary');
    expect(burstAdvice({ ...base, received: 0, rttMs: null, jitterMs: null, mos: null, lossPercent: 100 })).toBeNull();
  });
});
