/**
 * `probe` runs the call-quality STUN burst when no TURN server is tested: across the lab (a
 * real coturn answering STUN behind the impairment relay) its report's `quality` finds the
 * profile's round trip, and the verdict gains a quality line that changes with the network.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImpairmentRelay, parseNetworkProfile } from '../../src/lab/index.js';
import { Probe } from '../../src/probe/probe.js';
import type { ProbeReport } from '../../src/probe/report.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';

let turn: Coturn;
beforeAll(async () => { turn = await startCoturn(); }, 30_000);
afterAll(async () => { await turn?.stop(); });

async function probeBehind(profile: string): Promise<ProbeReport> {
  const relay = await ImpairmentRelay.start({ profile: parseNetworkProfile(profile), upstream: { host: '127.0.0.1', port: turn.port } });
  try {
    const probe = new Probe({ stun: [`stun:127.0.0.1:${relay.address.port}`], ice: false, stunSamples: 2, timeouts: { stun: 3000, behaviour: 1000 } });
    return await withTimeout(probe.run(), 60_000, `probe behind ${profile}`);
  } finally {
    await relay.close();
  }
}

describe('probe: the STUN burst and its quality line', () => {
  it('good and lossy-10 give different numbers and different advice', async () => {
    const good = await probeBehind('good');
    expect(good.quality).toMatchObject({ sent: 50, received: 50, lossPercent: 0 });
    expect(Math.abs(good.quality!.rttMs!.p50 - 20)).toBeLessThanOrEqual(6);
    expect(good.advice.some((a) => a.includes('Good for calls'))).toBe(true);

    const lossy = await probeBehind('lossy-10');
    // 10% each way: about 19% of round trips lost; 50 requests read that within a wide margin.
    expect(lossy.quality!.lossPercent).toBeGreaterThan(3);
    expect(lossy.quality!.mos!).toBeLessThan(good.quality!.mos!);
    expect(lossy.advice.some((a) => a.includes('loses packets'))).toBe(true);
  }, 150_000);

  it('3g: the burst finds its round trip (within 15%)', async () => {
    const r = await probeBehind('3g');
    expect(Math.abs(r.quality!.rttMs!.p50 - 250)).toBeLessThanOrEqual(0.15 * 250 + 5);
    expect(r.advice.some((a) => a.includes('estimated call MOS'))).toBe(true);
  }, 90_000);
});
