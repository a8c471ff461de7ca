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

/** Where tsx's ESM loader API is (only needed when running from TypeScript source). */
function tsxApi(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return 'tsx/esm/api'; // resolved from the working directory
  }
}

/** Starts a worker on `entry` ({@link workerEntry}); a .ts entry through tsx's loader. */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.href.endsWith('.ts')) return new Worker(entry, options);
  return new Worker(`import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, { ...options, eval: true });
}

/**
 * Forks a Node process on `entry` ({@link workerEntry}), with an IPC channel; a .ts entry
 * through tsx's loader (`--import`), which a child does not inherit either.
 */
export function forkEntry(entry: URL, args: string[], options: ForkOptions = {}): ChildProcess {
  const execArgv = entry.href.endsWith('.ts') ? ['--import', tsxLoader()] : [];
  return fork(fileURLToPath(entry), args, { ...options, execArgv: [...execArgv, ...(options.execArgv ?? [])] });
}

/** tsx's loader, for `node --import` (only needed when running from TypeScript source). */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx'; // resolved from the working directory
  }
}
