/**
 * The one aggregation of a bots run (src/bots/tally.ts), across the worker boundary: what a
 * worker records per tick arrives in the controller's totals once, counts add up over
 * workers, and the summary counts final reports the way a worker counts live bots.
 */
import { describe, expect, it } from 'vitest';
import { addBotCounts, countBots, noBotCounts, RunTally, TickTally } from '../../src/bots/tally.js';

describe('bots tally', () => {
  it('a worker tick carries what happened since the last one, and the run folds ticks together', () => {
    const worker = new TickTally();
    const run = new RunTally();
    worker.sample('match', 12.34);
    worker.succeeded();
    for (let i = 0; i < 7; i++) worker.failed('ice', 'CHZ_ERR_ICE', `attempt ${i}`);
    worker.matched();
    worker.serverError('CHZ_ERR_RATE_LIMITED');
    worker.serverError('CHZ_ERR_RATE_LIMITED');
    worker.lost({ server: 'ws://a', code: 1006, serverCode: null });
    worker.warning('slow clip');
    worker.warning('slow clip');

    const first = worker.take();
    expect(first.samples.match).toEqual([12.3]);
    expect(first.failures).toHaveLength(7);
    expect(first.errors).toHaveLength(5); // a person needs the first few, not all of them
    expect(first.serverErrors).toEqual({ CHZ_ERR_RATE_LIMITED: 2 });
    expect(first.lost).toEqual([{ server: 'ws://a', code: 1006, serverCode: null }]);
    expect(first.warnings).toEqual(['slow clip']);
    run.add(first);

    worker.warning('slow clip'); // said once per worker, not once per tick
    worker.failed('match', 'CHZ_ERR_MATCH_TIMEOUT', 'nobody came');
    worker.serverError('CHZ_ERR_RATE_LIMITED');
    const second = worker.take();
    expect(second.warnings).toEqual([]);
    expect(second.succeeded).toBe(0);
    run.add(second);

    expect(run.succeeded).toBe(1);
    expect(run.matches).toBe(1);
    expect(run.failed.ice).toBe(7);
    expect(run.failed.match).toBe(1);
    expect(run.failedTotal).toBe(8);
    expect(run.failureCodes).toEqual({ CHZ_ERR_ICE: 7, CHZ_ERR_MATCH_TIMEOUT: 1 });
    expect(run.serverErrors).toEqual({ CHZ_ERR_RATE_LIMITED: 3 });
    expect(run.samples.match).toEqual([12.3]);
    expect(run.errors).toEqual([...first.errors, 'match: CHZ_ERR_MATCH_TIMEOUT nobody came']);
  });

  it('keeps only the latest 20 failure messages of a run', () => {
    const run = new RunTally();
    const worker = new TickTally();
    for (let t = 0; t < 6; t++) {
      for (let i = 0; i < 5; i++) worker.failed('dtls', 'CHZ_ERR_X', `t${t} #${i}`);
      run.add(worker.take());
    }
    expect(run.errors).toHaveLength(20);
    expect(run.errors.at(-1)).toBe('dtls: CHZ_ERR_X t5 #4');
    expect(run.failedTotal).toBe(30);
  });

  it('counts live bots and final reports alike, and adds workers up', () => {
    const live = countBots([
      { matches: 2, successes: 1, settled: true, signalsSent: 5, signalsReceived: 4 },
      { matches: 1, successes: 0, settled: false, signalsSent: 3, signalsReceived: 3 },
      { matches: 0, successes: 0, settled: false, signalsSent: 1, signalsReceived: 0 },
    ]);
    expect(live).toEqual({ settled: 1, matchedBots: 2, connectedBots: 1, signalsSent: 9, signalsReceived: 7 });
    const reports = countBots([{ matches: 1, successes: 1 }, { matches: 0, successes: 0 }]);
    expect(reports).toMatchObject({ matchedBots: 1, connectedBots: 1 });

    const a = { ...noBotCounts(), ...live, started: 3, childCpuMs: 10 };
    a.states.matched = 2;
    a.states.pending = 1;
    const b = { ...noBotCounts(), started: 2, settled: 2, matchedBots: 2, connectedBots: 2, signalsSent: 1, signalsReceived: 1, childCpuMs: 5 };
    b.states.streaming = 2;
    const total = addBotCounts(addBotCounts(noBotCounts(), a), b);
    expect(total).toMatchObject({ started: 5, settled: 3, matchedBots: 4, connectedBots: 3, signalsSent: 10, signalsReceived: 8, childCpuMs: 15 });
    expect(total.states).toMatchObject({ matched: 2, pending: 1, streaming: 2 });
  });
});
