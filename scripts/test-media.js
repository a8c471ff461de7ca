#!/usr/bin/env node
// `npm run test:media`: the tests that drive browsers, werift peers, ffmpeg, coturn and network
// namespaces, in two groups.
// - Files that only compete for the CPU (each starts its own server on port 0 and its own
//   browsers and peers) run two at a time when the machine has the cores for it: 4 or more, so
//   each file still has the two cores it gets on the 2-core CI box. On 2 cores they run one at a
//   time: measured there (with other work on the machine), two at a time took 8.0 min against
//   7.5 one at a time, and five tests missed their deadlines. CHATZYO_MEDIA_WORKERS=N overrides.
// - Files that measure time (the lab's shaped links, the probe's deadlines), load the machine
//   on purpose (the soak) or change the host's network (namespaces, iptables; nginx with the
//   deploy recipe) always run alone.
// Both groups run even when the first fails; the exit code is non-zero if either failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const vitest = path.join(root, 'node_modules/vitest/vitest.mjs');

/** Files that compete only for the CPU. */
const SHARED = ['test/browser', 'test/peer', 'test/bots', 'test/cli/connect-', 'test/cli/help-examples'];
/** Files that time things, load the machine or touch host-wide network state: one at a time, always. */
const ALONE = ['test/probe', 'test/lab', 'test/deploy', 'test/bots/soak.test.ts'];
/** The ALONE files that sit in a SHARED folder: the shared run leaves them out. */
const aloneInShared = ALONE.filter((f) => SHARED.some((d) => f.startsWith(`${d}/`)));

// test:fast leaves out exactly these files (its --exclude list): a folder added to one list and
// not the other would run twice or never.
const fast = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts['test:fast'];
const excluded = [...fast.matchAll(/--exclude '([^']+)'/g)].map((m) => m[1].replace(/\/\*\*$|\*$/, '')).sort();
const folders = [...SHARED, ...ALONE.filter((f) => !aloneInShared.includes(f))].sort();
if (JSON.stringify(excluded) !== JSON.stringify(folders)) {
  console.error(`test:media runs ${folders.join(' ')} but test:fast excludes ${excluded.join(' ')}: make them the same.`);
  process.exit(1);
}

const asked = Number(process.env.CHATZYO_MEDIA_WORKERS);
const workers = Number.isInteger(asked) && asked > 0 ? asked : availableParallelism() >= 4 ? 2 : 1;

// Each group also writes vitest's JSON report, so the failures can be repeated at the very end:
// a CI log is often read from its tail, and the shared group's failures scroll away under the
// alone group's output.
const reports = mkdtempSync(path.join(tmpdir(), 'chatzyo-test-media-'));

/** Runs vitest on `files` (without `except`) with `n` files at a time. */
function run(name, files, n, except = []) {
  const parallel = n > 1 ? ['--max-workers', String(n)] : ['--no-file-parallelism'];
  console.log(`\ntest:media: ${files.join(' ')}${except.length ? ` except ${except.join(' ')}` : ''} (${n} file${n > 1 ? 's' : ''} at a time)`);
  const report = path.join(reports, `${name}.json`);
  const args = [vitest, 'run', ...files, ...except.flatMap((f) => ['--exclude', f]), ...parallel,
    '--reporter', 'default', '--reporter', 'json', '--outputFile.json', report];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  return { name, passed: r.status === 0, status: r.status, signal: r.signal, failures: failuresIn(report) };
}

/** The failed tests (and files that failed outside any test) in a vitest JSON report. */
function failuresIn(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null; // vitest died before writing it: the exit status says so
  }
  const out = [];
  for (const f of report.testResults ?? []) {
    const rel = path.relative(root, f.name);
    const failed = (f.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failed) out.push({ where: `${rel} > ${t.fullName ?? t.title}`, message: (t.failureMessages ?? []).join('\n') });
    if (!failed.length && f.status === 'failed') out.push({ where: rel, message: f.message ?? '' });
  }
  return out;
}

const started = Date.now();
const groups = [run('shared', SHARED, workers, aloneInShared), run('alone', ALONE, 1)];
rmSync(reports, { recursive: true, force: true });
console.log(`\ntest:media: ${((Date.now() - started) / 60_000).toFixed(1)} min (${workers} shared file${workers > 1 ? 's' : ''} at a time on ${availableParallelism()} cores)`);
for (const g of groups) {
  if (g.passed) continue;
  console.log(`\ntest:media: the ${g.name} group FAILED (exit ${g.status ?? g.signal})`);
  for (const f of g.failures ?? []) {
    console.log(`  FAIL ${f.where}`);
    for (const line of f.message.split('\n').filter((l) => l.trim()).slice(0, 6)) console.log(`       ${line.trim()}`);
  }
  if (g.failures && !g.failures.length) console.log('  (no test failed: vitest itself failed; see its output above)');
}
process.exit(groups.every((g) => g.passed) ? 0 : 1);
