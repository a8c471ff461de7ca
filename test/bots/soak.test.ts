// The 20-second version of `npm run soak` (issue 18; 30 s until the CI run had to be shorter: a 20 s run still sees ~1,200 matches and ~6,400 signals): three `chatzyo serve` nodes and a real
// redis-server, churning signal bots and a media bot pair, every fault of the schedule once.
// It runs in test:media's lab lane (scripts/test-media.js): one at a time, beside the
// host-network files; it checks delivery, order and memory, not time.
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../scripts/soak.js';
import { withTimeout } from '../helpers/deadline.js';

describe('soak with faults (20 s)', () => {
  it('loses, duplicates and reorders no signal, matches nobody twice, leaves no ghost, and memory returns after a 2,000-client burst', async () => {
    const lines: string[] = [];
    // runSoak stops every process it started in its own finally, also when a check fails.
    const report = await withTimeout(runSoak({ durationS: 20, bots: 150, burst: 2000, mediaPairs: 1, nodeTtlMs: 3000, log: (l) => lines.push(l) }),
      240_000, 'the soak run');
    // The failures first: a CI log shows only the first lines of a failed test's message.
    const summary = `${report.failures.join('\n')}\n${JSON.stringify(report.figures)}\n${lines.join('\n')}`;
    expect(report.failures, summary).toEqual([]);
    // It was a real run: matches, cross-node traffic, replays after the reader was cut, all faults.
    expect(report.figures.matchesSeen as number, summary).toBeGreaterThan(200);
    expect(report.figures.signalsDelivered as number, summary).toBeGreaterThan(1000);
    expect(report.figures.crossNodeReplayed as number, summary).toBeGreaterThan(0);
    expect(report.figures.faults, summary).toBe(5);
  }, 260_000);
});
