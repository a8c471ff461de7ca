import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { BotsView, bar } from '../../src/cli/bots-view.js';
import { summaryText } from '../../src/cli/bots-text.js';
import { evaluate, noFailures, percentiles, receiveStats, type BotsProgress, type BotsSummary } from '../../src/bots/index.js';

const PROGRESS: BotsProgress = {
  mode: 'media', bots: 40, started: 30, elapsedMs: 3200, durationMs: 60_000, rampMs: 3900,
  states: { pending: 10, signaling: 1, ready: 0, queued: 3, matched: 2, connected: 1, streaming: 22, failed: 1, ended: 0 },
  matchedBots: 26, connectedBots: 22, matches: 13, succeeded: 22, failed: { ...noFailures(), ice: 1 }, failedTotal: 1,
  rolling: { match: percentiles([10, 20, 30, 40, 400]), connect: percentiles([200, 210, 250, 1500]), media: percentiles([220, 260]) },
  serverErrors: { CHZ_ERR_RATE_LIMITED: 2 }, errors: ['ice: CHZ_ERR_BOT_ICE_FAILED ICE failed again after a restart'], warnings: [],
  cpuPercent: 61.5, rssMb: 240, serverGone: null, stopping: null,
};

describe('bots screen', () => {
  it('shows the ramp as a bar, bots by state, rolling percentiles, failures by phase and errors', () => {
    const { lastFrame } = render(<BotsView progress={PROGRESS} servers={['http://localhost:8080']} />);
    const f = lastFrame()!;
    expect(f).toContain(`ramp ${bar(30, 40)} 30/40`);
    expect(f).toContain('3.2 s / 60 s');
    expect(f).toMatch(/queued 3 · matched 2 · connected 1 · streaming 22 · failed 1/);
    expect(f).toMatch(/match\s+p50\s+30ms\s+p95\s+400ms/);
    expect(f).toMatch(/connect\s+p50\s+210ms\s+p95\s+1\.50s/);
    expect(f).toMatch(/first media\s+p50\s+220ms/);
    expect(f).toMatch(/failed by phase: signal 0 · match 0 · ice 1 · dtls 0 · media 0/);
    expect(f).toContain('CHZ_ERR_RATE_LIMITED ×2');
    expect(f).toContain('CHZ_ERR_BOT_ICE_FAILED');
    expect(f).toContain('CPU 61.5% of a core');
  });

  it('signal mode shows the exchange phase instead of ice/dtls/media, and says when the server is gone', () => {
    const p: BotsProgress = { ...PROGRESS, mode: 'signal', serverGone: { server: 'http://x:1', code: 1006 }, stopping: 'server-gone' };
    const f = render(<BotsView progress={p} servers={['http://x:1', 'http://y:2']} />).lastFrame()!;
    expect(f).toMatch(/failed by phase: signal 0 · match 0 · exchange 0$/m);
    expect(f).not.toContain('first media');
    expect(f).toContain('2 servers');
    expect(f).toContain('stopping (server-gone)');
    expect(f).toContain('the server http://x:1 went away (close 1006)');
  });

  it('bar() fills in proportion', () => {
    expect(bar(0, 10, 10)).toBe('░'.repeat(10));
    expect(bar(5, 10, 10)).toBe('█'.repeat(5) + '░'.repeat(5));
    expect(bar(10, 10, 10)).toBe('█'.repeat(10));
  });
});

describe('summary numbers', () => {
  it('percentiles are nearest-rank; per-bot bitrate p5 and loss p95 come from each bot\'s own totals', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    expect(percentiles([])).toBeNull();
    const bot = (kbps: number, lost: number) => ({
      id: 0, server: 's', state: 'ended', matches: 1, successes: 1, failures: 0,
      recv: { videoBytes: (kbps * 1000 * 10) / 8, audioBytes: 0, packets: 1000 - lost, lost, frames: 150, keyframes: 5, mediaMs: 10_000 },
    });
    const r = receiveStats([...Array.from({ length: 19 }, () => bot(300, 0)), bot(100, 100)]);
    expect(r.recvBitrateKbps).toMatchObject({ bots: 20, p50: 300, p5: 100, min: 100 });
    expect(r.lossPercent).toMatchObject({ p50: 0, max: 10, overall: 0.5 });
  });

  it('thresholds: each one that fails is named, and a run where the server went away does not pass', () => {
    const base = {
      mode: 'media', connected: 10, failRate: 0.1, attempts: { succeeded: 9, failed: 1, unfinished: 0 }, serverGone: null,
      timeToConnectMs: percentiles([100, 200, 3500]), timeToMatchMs: percentiles([5, 6]), recvBitrateKbps: { bots: 10, p50: 340, p5: 120, min: 90 },
    } as unknown as Omit<BotsSummary, 'thresholds' | 'passed'>;
    const r = evaluate(base, { maxFailRate: 0.05, maxP95ConnectMs: 3000, maxP95MatchMs: 10, minBitrateKbps: 250 });
    expect(r.map((t) => [t.name, t.passed])).toEqual([
      ['max-fail-rate', false], ['max-p95-connect-ms', false], ['max-p95-match-ms', true], ['min-bitrate-kbps', false],
    ]);
    expect(r[3]!.message).toBe('p5 receive bitrate 120 kbit/s < 250 kbit/s');
    const gone = evaluate({ ...base, serverGone: { server: 'http://x', code: 1006 } }, {});
    expect(gone).toEqual([expect.objectContaining({ name: 'server-stayed-up', passed: false })]);
  });

  it('the summary table has a row per phase, failures by phase and the verdict', () => {
    const s = {
      mode: 'media', source: 'clip', servers: ['http://localhost:8080'], bots: 2, started: 2, notStarted: 0, matched: 2, connected: 2, matches: 1,
      attempts: { succeeded: 2, failed: 0, unfinished: 0 }, failRate: 0, failed: noFailures(), failureCodes: {},
      timeToSignalMs: percentiles([3]), timeToMatchMs: percentiles([4]), timeToIceMs: percentiles([20]), timeToDtlsMs: percentiles([180]),
      timeToConnectMs: percentiles([180]), timeToFirstMediaMs: percentiles([1200]),
      recvBitrateKbps: { bots: 2, p50: 350, p5: 349, min: 349 }, recvVideoKbps: { p50: 300, p5: 299 }, lossPercent: { p50: 0, p95: 0, max: 0, overall: 0 },
      signals: { sent: 10, received: 10 }, serverErrors: {}, serverGone: null,
      cpu: { userMs: 1, systemMs: 1, childrenMs: 0, percentOfCore: 10, steadyPercentOfCore: 8, steadySeconds: 5, perBotPercent: 4 },
      memory: { rssMb: 100, peakRssMb: 120, perBotKb: 900 }, clip: { width: 320, height: 240, fps: 15, videoKbps: 295, audioKbps: 49 },
      workers: 1, durationMs: 6000, endReason: 'settled', warnings: [],
      thresholds: [{ name: 'max-fail-rate', limit: 0.01, value: 0, passed: true, message: 'fail rate 0.00% (0 of 2 attempts) <= 1.00%' }], passed: true,
    } as BotsSummary;
    const t = summaryText(s);
    expect(t).toMatch(/^\s+ice\s+20 ms\s+20 ms\s+20 ms\s+20 ms\s+1$/m);
    expect(t).toMatch(/^\s+first media\s+1\.20 s/m);
    expect(t).toContain('failed by phase: signal 0 · match 0 · ice 0 · dtls 0 · media 0');
    expect(t).toContain('receive per bot: 350 kbit/s median, 349 p5');
    expect(t).toContain('✔ fail rate 0.00%');
    expect(t.trimEnd().endsWith('PASSED')).toBe(true);
  });
});
