// The uplink test's quality line follows the measured rate band by band and says "unknown"
// when nothing was measured; the step judge and the sustained-rate rule on made-up arrivals.
import { describe, expect, it } from 'vitest';
import type { NatResult, StunResult, UplinkResult, UplinkStep } from '../../src/probe/report.js';
import { judgeStep, rfc3550Jitter, sustainedKbps, uplinkNotMeasured } from '../../src/probe/upload-ramp.js';
import { decideVerdict, uplinkAdvice, uplinkBand, type VerdictInput } from '../../src/probe/verdict.js';

const measured = (upKbps: number, over: Partial<UplinkResult> = {}): UplinkResult => ({
  status: 'measured', server: 'turn:203.0.113.3:3478?transport=udp', upKbps, atLeast: false, rttMs: 62, jitterMs: 3.1, lossPercent: 0.5, mos: 4.33, steps: [], ...over,
});

const stunOk: StunResult = {
  url: 'stun:203.0.113.1:3478', host: '203.0.113.1', port: 3478, address: '203.0.113.1', reachable: true,
  rttMs: { min: 10, median: 12, max: 15, samples: 5 }, mapped: { address: '198.51.100.18', port: 4000 }, local: { address: '198.18.1.2', port: 4000 },
  otherAddress: { address: '203.0.113.2', port: 3479 }, rfc5780: true,
};
const nat: NatResult = {
  mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', server: stunOk.url,
  mapped: stunOk.mapped, udpBlocked: false, hairpinning: true, lifetime: null, notes: [],
};
const input = (over: Partial<VerdictInput>): VerdictInput => ({ server: null, stun: [stunOk], nat, turn: [], signal: null, ice: [], turnCredentialsFromServer: false, ...over });

describe('uplinkAdvice', () => {
  it('each band says what video to expect, why, and what to do', () => {
    expect(uplinkAdvice(measured(100))).toMatch(/^Your upload sustains about 100 kbit\/s \(measured up to the TURN server and back down, so the smaller of your upload and download\): expect audio only.*\(audio needs about 40 kbit\/s.*close other uploads/);
    expect(uplinkAdvice(measured(280))).toMatch(/about 280 kbit\/s.*: expect low-resolution video \(video stays at about 320x240.*\); close other uploads/);
    expect(uplinkAdvice(measured(700))).toMatch(/about 700 kbit\/s.*: expect standard-definition video \(640x480 needs about 600 kbit\/s.*\); close other uploads for HD\./);
    expect(uplinkAdvice(measured(2400))).toMatch(/about 2400 kbit\/s.*: enough for HD video \(HD needs about 1 Mbit\/s\)\./);
    expect(uplinkAdvice(measured(2400))).not.toMatch(/close other uploads/);
  });

  it('"at least" (no limit found within the steps or the time) tells nobody to close their uploads', () => {
    const line = uplinkAdvice(measured(300, { atLeast: true }));
    expect(line).toMatch(/at least 300 kbit\/s/);
    expect(line).not.toMatch(/close other uploads/);
  });

  it('band edges: 150, 400 and 1000 kbit/s start the next band', () => {
    expect([149, 150, 399, 400, 999, 1000].map((k) => uplinkBand(k).code)).toEqual(['audio-only', 'low', 'low', 'standard', 'standard', 'hd']);
  });

  it('the call\'s own numbers follow: round trip, jitter, loss, MOS', () => {
    expect(uplinkAdvice(measured(700))).toMatch(/On that call: round trip 62 ms, jitter 3.1 ms, 0.5% lost: estimated call MOS 4.3\.$/);
    expect(uplinkAdvice(measured(700, { rttMs: null, mos: null }))).not.toMatch(/On that call/);
  });

  it('a ramp that never failed is a lower bound', () => {
    expect(uplinkAdvice(measured(5000, { atLeast: true }))).toMatch(/sustains at least 5000 kbit\/s/);
  });

  it('not measured: the upload is unknown, and the line says why', () => {
    expect(uplinkAdvice(null)).toBe('Upload speed for video: unknown (not measured: the uplink test did not run).');
    expect(uplinkAdvice(uplinkNotMeasured('it needs a TURN server, and none is configured'))).toBe('Upload speed for video: unknown (not measured: it needs a TURN server, and none is configured).');
    const failed: UplinkResult = { ...uplinkNotMeasured(''), status: 'failed', error: { code: 'CHZ_ERR_ICE_FAILED', message: 'the relayed test call for the uplink test did not connect' } };
    expect(uplinkAdvice(failed)).toMatch(/unknown \(not measured: the relayed test call .* did not connect\)/);
  });
});

describe('decideVerdict with the uplink test', () => {
  it('adds the quality line when the uplink is given, and the line changes with the rate', () => {
    const low = decideVerdict(input({ uplink: measured(280) })).advice;
    const hd = decideVerdict(input({ uplink: measured(2400) })).advice;
    expect(low.filter((a) => a.includes('kbit/s'))).toHaveLength(1);
    expect(low.join('\n')).toMatch(/low-resolution video/);
    expect(hd.join('\n')).toMatch(/HD video/);
    expect(low).not.toEqual(hd);
  });

  it('says unknown when the probe did not measure it, and nothing when the caller does not consider it', () => {
    expect(decideVerdict(input({ uplink: null })).advice).toContain('Upload speed for video: unknown (not measured: the uplink test did not run).');
    expect(decideVerdict(input({})).advice.join('\n')).not.toMatch(/Upload speed|sustains/);
  });

  it('does not change the verdict itself', () => {
    expect(decideVerdict(input({ uplink: measured(100) })).verdict).toEqual(decideVerdict(input({})).verdict);
  });
});

/** Made-up arrivals of one step: `n` packets sent every `gapMs`, one-way delay `owd(i)`, lost where `lost(i)`. */
function arrivals(n: number, gapMs: number, owd: (i: number) => number, lost: (i: number) => boolean = () => false) {
  const xs = [];
  for (let i = 0; i < n; i++) if (!lost(i)) xs.push({ index: i, sentAt: 1000 + i * gapMs, recvAt: 1000 + i * gapMs + owd(i), wire: 1200 });
  return xs;
}

describe('judgeStep', () => {
  it('a steady delay with a little noise passes, and the rate that arrived is read', () => {
    const s = judgeStep(600, 44, arrivals(44, 16, (i) => 60 + ((i * 7) % 5)), 60);
    expect(s).toMatchObject({ ok: true, received: 44, lossPercent: 0 });
    expect(s.receivedKbps!).toBeGreaterThan(550);
    expect(s.receivedKbps!).toBeLessThan(650);
  });

  it('a delay that grows (a queue filling at the bottleneck) fails as delay', () => {
    // Offered twice the path's rate: the delay grows by 1 ms per ms sent.
    const s = judgeStep(600, 44, arrivals(44, 16, (i) => 60 + i * 16), 60);
    expect(s).toMatchObject({ ok: false, why: 'delay' });
    expect(s.delayGrowthMs!).toBeGreaterThan(300);
  });

  it('loss above 5% fails as loss; one lost packet of a small step does not', () => {
    expect(judgeStep(600, 44, arrivals(44, 16, () => 60, (i) => i % 10 === 0), 60)).toMatchObject({ ok: false, why: 'loss' });
    expect(judgeStep(150, 11, arrivals(11, 64, () => 60, (i) => i === 5), 60)).toMatchObject({ ok: true, lossPercent: 9.1 });
  });

  it('a standing queue far above the first step\'s delay fails as queue', () => {
    expect(judgeStep(1200, 60, arrivals(60, 8, () => 500), 60)).toMatchObject({ ok: false, why: 'queue' });
  });
});

describe('sustainedKbps', () => {
  const step = (offeredKbps: number, ok: boolean, receivedKbps: number | null = offeredKbps): UplinkStep => ({
    offeredKbps, sent: 50, received: 50, receivedKbps, lossPercent: 0, delayGrowthMs: 0, ok, ...(ok ? {} : { why: 'delay' as const }),
  });

  it('the rate that arrived during the first failing step, between the last step that passed and it', () => {
    expect(sustainedKbps([step(150, true), step(300, true), step(600, true), step(1200, false, 760)])).toEqual({ kbps: 760, atLeast: false });
  });

  it('clamped to the last passing step and the failing one', () => {
    expect(sustainedKbps([step(150, true), step(300, true), step(600, false, 200)])).toEqual({ kbps: 300, atLeast: false });
    expect(sustainedKbps([step(150, true), step(300, false, 900)])).toEqual({ kbps: 300, atLeast: false });
  });

  it('a small delay growth confirmed by the next step: the higher of the two arrival rates', () => {
    expect(sustainedKbps([step(150, true), step(300, true), step(600, false, 557), step(1200, false, 714)])).toEqual({ kbps: 714, atLeast: false });
  });

  it('every step passed: the top, as a lower bound; the first failed: what arrived', () => {
    expect(sustainedKbps([step(150, true), step(300, true)])).toEqual({ kbps: 300, atLeast: true });
    expect(sustainedKbps([step(150, false, 90)])).toEqual({ kbps: 90, atLeast: false });
    expect(sustainedKbps([])).toBeNull();
  });
});

describe('rfc3550Jitter', () => {
  it('two steps at different constant delays, each numbered from 0, have no jitter (send order, not index order)', () => {
    // Step 0: one-way delay 20 ms; step 1 (sent after step 0) sits 30 ms higher. No packet varies.
    const step = (first: number, owd: number) => Array.from({ length: 20 }, (_, index) => ({ index, sentAt: first + index * 10, recvAt: first + index * 10 + owd, wire: 1200 }));
    const both = [...step(0, 20), ...step(1000, 50)];
    expect(rfc3550Jitter(both)).toBeLessThan(2.5); // one jump of 30 ms at the step boundary, decayed over 19 packets
    // Interleaving by index (the old order) would have made nearly every pair a 30 ms jump.
    const constant = step(0, 20);
    expect(rfc3550Jitter(constant)).toBe(0);
  });
});
