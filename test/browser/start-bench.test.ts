// bench:start (bench/start.ts), small: two Start clicks against a waiting demo bot, each phase
// measured from the page's own performance marks, in the order a call goes through them.
import { describe, expect, it } from 'vitest';
import { PHASES, runStartBench } from '../../bench/start.js';

describe('bench:start', () => {
  it('measures every phase of two Start clicks, in order, and the in-page baseline call', async () => {
    const r = await runStartBench({ runs: 2, warmup: 0, timeLimitMs: 90_000, maxFailures: 1 });
    expect(r.failures).toEqual([]);
    expect(r.timedOut).toBe(false);
    expect(r.runs).toHaveLength(2);
    for (const run of r.runs) {
      // The page answers the bot, which waited first and so offers: every phase is there.
      for (const p of PHASES) expect(run.at[p.key], `${p.key} measured`).toBeGreaterThan(0);
      const a = run.at as Required<typeof run.at>;
      expect(a.join).toBeGreaterThanOrEqual(Math.max(a.camera, a.landmarks));
      expect(a.match).toBeGreaterThan(a.join);
      expect(a.offer).toBeGreaterThan(a.match);
      expect(a.answer).toBeGreaterThan(a.offer);
      expect(a.ice).toBeGreaterThan(a.answer);
      expect(a.dtls).toBeGreaterThanOrEqual(a.ice);
      // Not after the DTLS mark: that event can reach the page after the first frame is shown.
      expect(a.frame).toBeGreaterThan(a.ice);
      // The socket opened while the page loaded, before Start.
      expect(run.wsOpenBeforeStartMs).toBeGreaterThan(0);
      expect(run.warmupCameraMs).toBeGreaterThan(0);
      expect(run.baseline.iceMs).toBeGreaterThan(0);
      expect(run.baseline.connectedMs).toBeGreaterThanOrEqual(run.baseline.iceMs);
      expect(run.baseline.firstFrameMs).toBeGreaterThan(run.baseline.iceMs);
      // The bot's test-pattern clip.
      expect([run.frame.width, run.frame.height]).toEqual([320, 240]);
    }
  }, 120_000);
});
