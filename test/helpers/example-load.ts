/**
 * The load of a documented example (README, --help), scaled down for a test run: the example's
 * form is what is tested, load is the benchmarks' job. --duration at most 4 s, --next-every at
 * most 2 s, and --count at most `maxCount` (default: left as written).
 */
export function scaleExampleLoad(command: string, maxCount = Infinity): string {
  const cap = (flag: string, max: number) => (c: string) =>
    c.replace(new RegExp(`--${flag} (\\d+)`, 'g'), (_m, n: string) => `--${flag} ${Math.min(Number(n), max)}`);
  return [cap('count', maxCount), cap('duration', 4), cap('next-every', 2)].reduce((c, f) => f(c), command);
}
