/**
 * Worker threads from this package's own modules, from the compiled .js (dist/) or from the .ts
 * source under tsx (tests, development, benchmarks), whose loader a worker does not inherit: the
 * worker then runs a bootstrap that registers tsx's loader before it imports the entry. The bots'
 * workers, the probe's test peers and the lab's relay thread start here, and the lab's sender
 * process ({@link forkEntry}).
 */
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The URL of a worker entry next to `base` (an `import.meta.url`): `name.ts` from source, `name.js` from dist/. */
export function workerEntry(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * Where a module of tsx is (only needed when running from TypeScript source): `tsx/esm/api`, the
 * loader API a worker's bootstrap registers, or `tsx`, the loader `node --import` takes.
 */
function tsxModule(specifier: 'tsx' | 'tsx/esm/api'): string {
  try {
    return import.meta.resolve(specifier);
  } catch {
    return specifier; // resolved from the working directory
  }
}

/** Starts a worker on `entry` ({@link workerEntry}); a .ts entry through tsx's loader. */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.href.endsWith('.ts')) return new Worker(entry, options);
  return new Worker(`import(${JSON.stringify(tsxModule('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, { ...options, eval: true });
}

/**
 * Forks a Node process on `entry` ({@link workerEntry}), with an IPC channel; a .ts entry
 * through tsx's loader (`--import`), which a child does not inherit either.
 */
export function forkEntry(entry: URL, args: string[], options: ForkOptions = {}): ChildProcess {
  const execArgv = entry.href.endsWith('.ts') ? ['--import', tsxModule('tsx')] : [];
  return fork(fileURLToPath(entry), args, { ...options, execArgv: [...execArgv, ...(options.execArgv ?? [])] });
}
