/** Shared bits of the benchmark scripts: child processes, percentiles, tables. */
import { spawn, type ChildProcess } from 'node:child_process';

/** Children a bench started that have not exited yet: what {@link stopChildrenOnStop} stops. */
const children = new Set<ChildProcess>();
/** The bench is being stopped: a child started now (the run goes on meanwhile) is stopped at once. */
let stoppingChildren = false;

/** Keeps `proc` among the children {@link stopChildrenOnStop} stops, until it exits. Returns it. */
export function tracked<T extends ChildProcess>(proc: T): T {
  if (proc.exitCode === null && proc.signalCode === null) {
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    if (stoppingChildren) void stop(proc);
  }
  return proc;
}

/**
 * When the bench is stopped ({@link cleanUpOnStop}), stops every tracked child (the servers,
 * bots, redis-server and ffmpeg processes it started) and then runs `also` (temporary
 * directories, say): a child does not get the signal a person sent the bench alone.
 */
export function stopChildrenOnStop(also: () => void | Promise<void> = () => {}): void {
  cleanUpOnStop(async () => {
    stoppingChildren = true;
    await Promise.all([...children].map((p) => stop(p)));
    await also();
  });
}

/** Spawns a process (tracked) and resolves with its first stdout JSON line. */
export async function spawnJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<{ proc: ChildProcess; first: Record<string, unknown> }> {
  const proc = tracked(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env }));
  let buf = '';
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: no output in ${timeoutMs} ms`)), timeoutMs);
    proc.stdout!.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) { clearTimeout(t); resolve(JSON.parse(buf.slice(0, i))); }
    });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`${cmd} exited with ${code}`)); });
  });
  return { proc, first };
}

/** Kills a child and waits for it to exit. */
export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

/**
 * Runs `cleanUp` when the bench is stopped (SIGINT, SIGTERM), then exits: what its own `finally`
 * does when it ends, so a bench a person stops leaves no coturn, browser or server behind.
 * Returns the clean-up to call there: it runs once, whichever comes first, and the other call
 * waits for that run.
 */
export function cleanUpOnStop(cleanUp: () => Promise<void>): () => Promise<void> {
  let run: Promise<void> | null = null;
  const once = () => (run ??= cleanUp());
  let stopping = false;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    // (Kept, not once: a second signal, as tsx passes on the one a process group got, would end
    // the bench mid-clean-up.)
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping, cleaning up\n`);
      // A clean-up that hangs does not keep the bench alive.
      setTimeout(() => process.exit(code), 10_000).unref();
      void once().catch(() => undefined).finally(() => process.exit(code));
    });
  }
  return once;
}

/** The q-quantile (0..1) of a list of numbers. */
export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Prints rows as an aligned text table. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r, j) => {
    const line = r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    return j === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(2);
}

/** The number after `--name` on the command line, or `fallback`: above 0, or with `zeroOk` at least 0 (else it throws). */
export function numberArg(name: string, fallback: number, opts: { zeroOk?: boolean } = {}): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || (opts.zeroOk ? v < 0 : v <= 0)) throw new Error(`--${name} takes ${opts.zeroOk ? 'a number >= 0' : 'a positive number'}`);
  return v;
}
