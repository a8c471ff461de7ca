#!/usr/bin/env node
// `npm run test:media`: the tests that drive browsers, werift peers, ffmpeg, coturn and network
// namespaces, in two parts.
// - Files that only compete for the CPU (each starts its own server on port 0 and its own
//   browsers and peers) run two at a time when the machine has the cores for it: 4 or more, so
//   each file still has the two cores it gets on the 2-core CI box. On 2 cores they run one at a
//   time: measured there (with other work on the machine), two at a time took 8.0 min against
//   7.5 one at a time, and five tests missed their deadlines. CHATZYO_MEDIA_WORKERS=N overrides.
// - Files that measure time (the lab's shaped links, the probe's deadlines), load the machine
//   on purpose (the soak) or change the host's network (namespaces, iptables; nginx with the
//   deploy recipe) never share a vitest run with other files (the "alone" files). Each mostly
//   waits (the 2-core box was 65% idle under lab-link, simulated-networks and readme-examples
//   alone; the two lanes side by side keep it 81% busy, CI 111's log), so two such runs go side
//   by side, each one file at a time: the host-network files
//   (test/probe, test/deploy: namespaces of their own, deadlines, no measured rates) beside the
//   lab's files whose bounds are loose (latency above a floor, frames that flow, RTX seen, a
//   freeze ratio under 0.2) and the soak. Then the files that measure closely (rates, jitter,
//   round trips to a few ms, the sender's adaptation) and the deploy test's two browsers run
//   last with the machine to themselves (QUIET).
// Every group runs even when one before fails; the exit code is non-zero if any failed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from './build-web.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const vitest = path.join(root, 'node_modules/vitest/vitest.mjs');

/** Files that compete only for the CPU. */
const SHARED = ['test/browser', 'test/peer', 'test/bots', 'test/cli/connect-', 'test/cli/help-examples'];
/** Files that time things, load the machine or touch host-wide network state: never in the shared run, one at a time in their lane. */
const ALONE = ['test/probe', 'test/lab', 'test/deploy', 'test/bots/soak.test.ts'];
/** The ALONE files that sit in a SHARED folder: the shared run leaves them out. */
const aloneInShared = ALONE.filter((f) => SHARED.some((d) => f.startsWith(`${d}/`)));
/** ALONE folders whose files touch the host's network but measure no rate or jitter: they run beside the lab's tolerant files. */
const SIDE = ['test/probe', 'test/deploy'];
/**
 * ALONE files that measure closely (a link's rate and jitter, round trips to within a few ms, the
 * probe's upload figure, the ladder's and the bots' adaptation), and the deploy test's Chromium
 * and Firefox behind nginx (beside the lab's browser calls, the two took twice their time and a
 * CLI call through the lab's TURN relay did not connect in 30 s): last, with nothing beside them.
 */
const QUIET = ['test/lab/lab-link.test.ts', 'test/lab/probe-upload.test.ts', 'test/lab/adaptation.test.ts', 'test/lab/bots-adapt.test.ts',
  'test/lab/stun-burst.test.ts', 'test/lab/probe-quality.test.ts', 'test/deploy/nginx-two-nodes.test.ts'];
/**
 * The ALONE files that are not SIDE: those not in QUIET run beside SIDE. The soak among them: it
 * loads the machine on purpose and checks delivery, order and memory, not time (it passed on a
 * 2-core box at a load average of 6).
 */
const LAB = ALONE.filter((f) => !SIDE.includes(f));

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
// alone files' output.
const reports = mkdtempSync(path.join(tmpdir(), 'chatzyo-test-media-'));

/**
 * In the lanes (the alone files: lab, side, quiet), a failed test runs again at once, in its
 * file's run: the test's own seconds, where the retry alone at the end (below) costs a vitest
 * start and the file's setup too, often more than CI has left (its whole run takes 27-29 of its
 * 30 minutes). A test that passes the second time is named FLAKY at the end, with its first
 * error; one that fails twice goes on to the retry alone. Not the shared group's files: many
 * keep pages and calls from one test to the next (a retried test's first try would leave its
 * page in the queue for the tests after it). Not a test that hit vitest's own time limit (its
 * retry would cost that long again).
 */
const IMMEDIATE_RETRY = ['--retry.count', '1', '--retry.condition', '^(?!Test timed out)'];

/**
 * Runs vitest on `files` (without `except`) with `n` files at a time. `shareProcess`: the files
 * run in one worker process each (vitest's --no-isolate), not a fresh one per file: measured on
 * the shared group, 729 s against 824 (74 files; a fresh process and its imports cost about 1.3 s
 * a file). Each file still closes what it opened. Not for the alone files, which measure time.
 * `beside`: another run goes at the same time (its lines are tagged). `retryAtOnce`:
 * {@link IMMEDIATE_RETRY}.
 */
function run(name, files, n, { except = [], shareProcess = false, beside = false, retryAtOnce = false } = {}) {
  const parallel = n > 1 ? ['--max-workers', String(n)] : ['--no-file-parallelism'];
  if (shareProcess) parallel.push('--no-isolate');
  if (retryAtOnce) parallel.push(...IMMEDIATE_RETRY);
  const tag = `[${name}]`;
  console.log(`\ntest:media: ${beside ? `${tag} ` : ''}${files.join(' ')}${except.length ? ` except ${except.join(' ')}` : ''} (${n} file${n > 1 ? 's' : ''} at a time)`);
  const report = path.join(reports, `${name}.json`);
  const args = [vitest, 'run', ...files, ...except.flatMap((f) => ['--exclude', f]), ...parallel,
    '--reporter', 'default', '--reporter', 'json', '--outputFile.json', report];
  return new Promise((resolve) => {
    // Runs side by side write line by line, each line tagged with its run.
    const child = spawn(process.execPath, args, { stdio: beside ? ['ignore', 'pipe', 'pipe'] : 'inherit', cwd: root });
    if (beside) {
      for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
        let rest = '';
        from.setEncoding('utf8');
        from.on('data', (d) => {
          const lines = (rest + d).split('\n');
          rest = lines.pop();
          for (const l of lines) to.write(`${tag} ${l}\n`);
        });
        from.on('end', () => { if (rest) to.write(`${tag} ${rest}\n`); });
      }
    }
    // On exit, not close: a child that a test left behind could hold the pipes open for ever.
    // What vitest wrote is in the pipes by then; a moment is left for it to be read.
    child.on('exit', (status, signal) => {
      const done = () => resolve({ name, passed: status === 0, status, signal, ...failuresIn(report) });
      if (!beside) { done(); return; }
      const grace = setTimeout(() => { child.stdout.destroy(); child.stderr.destroy(); done(); }, 2000);
      const pipes = [child.stdout, child.stderr].filter((p) => !p.closed);
      let open = pipes.length;
      if (!open) { clearTimeout(grace); done(); return; }
      for (const p of pipes) p.once('close', () => { if (--open === 0) { clearTimeout(grace); done(); } });
    });
  });
}

/**
 * The failed tests (and files that failed outside any test) in a vitest JSON report, each file's
 * duration (from its first test's start to its last one's end), the time its tests took, and
 * how many it skipped.
 */
function failuresIn(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { failures: null, durations: [], passedTests: 0, flaky: [] }; // vitest died before writing it: the exit status says so
  }
  const failures = [];
  const durations = [];
  /** Tests that failed, then passed on their immediate retry (vitest keeps the first try's errors). */
  const flaky = [];
  let passedTests = 0;
  for (const f of report.testResults ?? []) {
    const rel = path.relative(root, f.name);
    const tests = f.assertionResults ?? [];
    durations.push({
      file: rel, ms: (f.endTime ?? 0) - (f.startTime ?? 0), testsMs: tests.reduce((sum, t) => sum + (t.duration ?? 0), 0),
      // Tests that neither passed nor failed: a describe block whose beforeAll threw skips its tests (we skip none on purpose).
      skipped: tests.filter((t) => t.status !== 'passed' && t.status !== 'failed').length,
    });
    const failed = tests.filter((t) => t.status === 'failed');
    passedTests += tests.filter((t) => t.status === 'passed').length;
    // One try's time, for the retry's estimate: vitest times a test over all its tries (one failure message each).
    const entry = (t) => {
      const name = t.fullName ?? t.title;
      const messages = t.failureMessages ?? [];
      return { file: rel, name, ms: (t.duration ?? 0) / Math.max(1, messages.length), where: `${rel} > ${name}`, message: messages.join('\n') };
    };
    flaky.push(...tests.filter((t) => t.status === 'passed' && t.failureMessages?.length).map(entry));
    failures.push(...failed.map(entry));
    if (!failed.length && f.status === 'failed') failures.push({ file: rel, name: null, ms: durations.at(-1).ms, where: rel, message: f.message ?? '' });
  }
  return { failures, durations, passedTests, flaky };
}

/** Prints a failure's name and the first lines of its error. */
function printFailure(f, label = 'FAIL') {
  console.log(`  ${label} ${f.where}`);
  for (const line of f.message.split('\n').filter((l) => l.trim()).slice(0, 6)) console.log(`       ${line.trim()}`);
}

// The browser client, bundled once for every file (test/helpers/browsers.ts buildWebClient):
// each file bundling its own cost about 2.5 s on the 2-core CI box, 27 files.
const started = Date.now();
const webDir = path.join(reports, 'web');
try {
  await buildWeb(webDir);
} catch (err) {
  console.error(`test:media: bundling the browser client failed: ${err instanceof Error ? err.message : String(err)}`);
  rmSync(reports, { recursive: true, force: true });
  process.exit(1);
}
process.env.CHATZYO_TEST_WEB_DIR = webDir;

const groups = [await run('shared', SHARED, workers, { except: aloneInShared, shareProcess: true })];
const lane = { except: QUIET, beside: true, retryAtOnce: true };
groups.push(...await Promise.all([run('lab', LAB, 1, lane), run('side', SIDE, 1, lane)]));
groups.push(await run('quiet', QUIET, 1, { retryAtOnce: true }));
const minutes = (ms) => (ms / 60_000).toFixed(1);
console.log(`\ntest:media: ${minutes(Date.now() - started)} min (${workers} shared file${workers > 1 ? 's' : ''} at a time on ${availableParallelism()} cores)`);
console.log('test:media: the slowest files:');
for (const d of groups.flatMap((g) => g.durations).sort((a, b) => b.ms - a.ms).slice(0, 8)) console.log(`  ${(d.ms / 1000).toFixed(0).padStart(4)} s  ${d.file}`);

// These tests measure real media on real networks on a shared 2-core machine: a test whose
// deadline a busy moment made it miss (in the lanes twice: IMMEDIATE_RETRY) is run
// again, alone, once (the failed tests alone; the whole file only if they fail again and it
// fits). A test that fails that too fails the run; one that passes is named in the log as FLAKY, so it is seen and
// fixed rather than hidden. Not retried: a group whose vitest died (no report), more than
// MAX_RETRIED failed tests (that is not bad luck), or a retry that would take the run past the
// budget: under .ci/run (which sets CHATZYO_CI_STARTED_MS) 29.5 minutes into the whole CI run,
// whose limit is 30; elsewhere CHATZYO_MEDIA_BUDGET_MIN (default 26) minutes of test:media.
const MAX_RETRIED = 6;
const budgetMs = (Number(process.env.CHATZYO_MEDIA_BUDGET_MIN) || 26) * 60_000;
const ciStarted = Number(process.env.CHATZYO_CI_STARTED_MS);
const underCi = Number.isFinite(ciStarted) && ciStarted > 0;
// 29.5, not 30: the estimates (wholeMs, onlyMs) have a margin of their own. Without the retry a flaky
// failure fails CI for certain; with it, CI passes if the retry passes in time.
const CI_DEADLINE_MS = 29.5 * 60_000;
const deadline = underCi ? ciStarted + CI_DEADLINE_MS : started + budgetMs;
const budgetText = underCi ? `CI's ${CI_DEADLINE_MS / 60_000}-minute` : `${budgetMs / 60_000}-minute`;
const failed = groups.filter((g) => !g.passed);
const all = failed.flatMap((g) => g.failures ?? []);
const fileRuns = new Map(groups.flatMap((g) => g.durations).map((d) => [d.file, d]));
/**
 * A retry's time: its first run plus 10% and vitest's start (the first run was often slower,
 * beside another lane: browser-quality took 95 s there and 77 s alone). For the failed tests
 * alone, those tests and OWN_MS for the file's imports, beforeAll and afterAll (vitest's report
 * times a file from its first test to its last: a Chromium, coturn and a server took 5-8 s of
 * browser-quality's beforeAll); for the whole file, all of it.
 */
const OWN_MS = 20_000;
const wholeMs = (file) => Math.max(fileRuns.get(file)?.ms ?? 0, 20_000) * 1.1 + 10_000 + OWN_MS;
const onlyMs = (fs) => (OWN_MS + fs.reduce((sum, f) => sum + f.ms, 0)) * 1.1 + 10_000;
/** Files whose later tests compare with an earlier one's result (the good case): retried whole. */
const BUILD_ON_EARLIER = ['test/lab/call-quality.test.ts', 'test/lab/stun-burst.test.ts', 'test/lab/bots-network.test.ts'];
const byFile = new Map();
for (const f of all) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
/**
 * The failed tests alone, when every failure in the file was a test's, none of its tests was
 * skipped (a describe block whose beforeAll threw: run alone, the failed test would pass without
 * it), and its tests stand alone.
 */
const testsOnly = (file, fs) => fs.every((f) => f.name !== null) && !fileRuns.get(file)?.skipped && !BUILD_ON_EARLIER.includes(file);
const firstTryMs = (file, fs) => (testsOnly(file, fs) ? onlyMs(fs) : wholeMs(file));
const estimateMs = [...byFile].reduce((sum, [file, fs]) => sum + firstTryMs(file, fs), 0);
const retryable = failed.length > 0 && failed.every((g) => g.failures?.length) && all.length <= MAX_RETRIED
  && Date.now() + estimateMs < deadline;
// The first run's failures are printed before any retry: a retry that CI cuts off leaves them in the log.
for (const g of failed) {
  console.log(`\ntest:media: the ${g.name} group failed its first run (exit ${g.status ?? g.signal})`);
  for (const f of g.failures ?? []) printFailure(f);
  if (g.failures && !g.failures.length) console.log('  (no test failed: vitest itself failed; see its output above)');
}

/** Runs `file` again, alone; `names`: only the tests of these full names (vitest's -t). */
function runAgain(file, names) {
  const report = path.join(reports, `retry-${retryRuns++}.json`);
  // vitest matches -t against the file's name, the describe blocks and the test's, space-separated.
  const only = names ? ['-t', `(^| )(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`] : [];
  console.log(`\ntest:media: ${file}${names ? `, ${names.length} test${names.length > 1 ? 's' : ''}: ${names.join('; ')}` : ', the whole file'}`);
  const r = spawnSync(process.execPath, [vitest, 'run', file, ...only, '--no-file-parallelism',
    '--reporter', 'default', '--reporter', 'json', '--outputFile.json', report], { stdio: 'inherit', cwd: root });
  const again = failuresIn(report);
  // Passed means the tests ran and passed (a file whose tests were all skipped also exits 0).
  const ran = again.passedTests >= Math.max(1, names?.length ?? 1);
  if (!ran && !again.failures?.length) console.log(`\ntest:media: ${file}: the retry ran ${again.passedTests} of the ${names?.length ?? 'file\'s'} tests (none failed)`);
  return { passed: r.status === 0 && ran, again: again.failures?.length ? again.failures : null };
}

let retryRuns = 0;
let retried = null;
if (retryable) {
  console.log(`\ntest:media: running the ${all.length} failed test${all.length > 1 ? 's' : ''} again, alone, once`);
  retried = [];
  for (const [file, fs] of byFile) {
    // Each file's retry must still fit: the ones before it may have run long.
    if (Date.now() + firstTryMs(file, fs) >= deadline) {
      console.log(`\ntest:media: ${file} not run again: past the ${budgetText} budget`);
      retried.push({ file, first: fs, passed: false, again: null, whole: true });
      continue;
    }
    // The failed tests alone first: a few seconds where the whole file can take two minutes,
    // which is what lets a retry fit in CI's time at all.
    const only = testsOnly(file, fs);
    retried.push({ file, first: fs, ...runAgain(file, only ? fs.map((f) => f.name) : null), whole: !only });
  }
  // The failed tests that failed again alone: their whole files, when all of them still fit (the
  // run fails unless every one passes), since a test may need what ran before it.
  const again = retried.filter((r) => !r.passed && !r.whole);
  if (again.length && Date.now() + again.reduce((sum, r) => sum + wholeMs(r.file), 0) < deadline) {
    for (const r of again) Object.assign(r, runAgain(r.file, null), { whole: true });
  }
}
rmSync(reports, { recursive: true, force: true });

if (failed.length && !retried) console.log(`\ntest:media: not run again (${all.length} failed; more than ${MAX_RETRIED}, no report, or past the ${budgetText} budget)`);
const flaky = retried?.filter((r) => r.passed) ?? [];
const broken = retried?.filter((r) => !r.passed) ?? [];
const flakyAtOnce = groups.flatMap((g) => g.flaky ?? []);
if (flakyAtOnce.length) {
  console.log('\ntest:media: FLAKY: failed, then passed when run again at once (fix these):');
  for (const f of flakyAtOnce) printFailure(f, 'FLAKY');
}
if (flaky.length) {
  console.log('\ntest:media: FLAKY: failed, passed when run again alone (fix these):');
  for (const r of flaky) for (const f of r.first) printFailure(f, 'FLAKY');
}
if (broken.length) {
  console.log('\ntest:media: FAILED again when run alone:');
  for (const r of broken) for (const f of r.again ?? r.first) printFailure(f);
}
const ok = failed.length === 0 || (retried !== null && broken.length === 0);
console.log(`\ntest:media: ${ok ? 'passed' : 'FAILED'} in ${minutes(Date.now() - started)} min`);
process.exit(ok ? 0 : 1);
