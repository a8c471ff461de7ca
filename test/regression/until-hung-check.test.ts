// A poll whose check never returns (a hung page's evaluate) used to wait for the whole test's
// timeout (screens.test.ts once sat at 180 s); it must fail at its own deadline.
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/deadline.js';

describe('until', () => {
  it('fails at its deadline, plus a second at most, when a check never returns', async () => {
    const started = Date.now();
    await expect(until(() => new Promise<boolean>(() => {}), 200, 'a hung check')).rejects.toThrow('timeout after 200 ms: a hung check (the last check had not returned');
    // 1.2 s by design; a loaded box may add some, but a hang would take the test's own timeout.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('resolves once a check says yes, and keeps a check\'s own error', async () => {
    let n = 0;
    await until(() => ++n === 3, 1000, 'the third check', 1);
    expect(n).toBe(3);
    await expect(until(() => { throw new Error('broken check'); }, 1000, 'x')).rejects.toThrow('broken check');
  });

  it('says what the message function says at the timeout, not at the start', async () => {
    let n = 0;
    await expect(until(() => { n++; return false; }, 100, () => `${n} checks`, 5)).rejects.toThrow(/timeout after 100 ms: ([2-9]|\d\d+) checks$/);
  });
});
