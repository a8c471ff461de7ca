/**
 * Starts child processes from a worker thread, so that starting one does not block this thread.
 * Node's spawn returns only once the child has exec'd: the calling thread waits for the fork and
 * for the child to be scheduled. A rung encoder replaced mid-call (src/peer/media-source.ts: at
 * every new partner, rung change and PLI) blocked the thread that sends the call's audio and
 * video 5-10 ms on an idle machine and 55-107 ms under the load of a call's start (traced in
 * bench:connect with a CPU profile), and the partner's audio jitter buffer grew behind each
 * burst that followed.
 *
 * A process started here has no stdin or stdout (its input comes another way: a rung encoder
 * reads its frames from a Unix socket, src/peer/rung-encoders.ts); its stderr's tail comes with
 * its close. {@link SpawnedProcess} reports what a ChildProcess would: `spawn`,
 * `error`, `exit`, `close` (with the same arguments), and kills it on request.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { ordinaryNice } from './thread-priority.js';
import { startWorker, workerEntry } from './worker-thread.js';

/** What the worker is asked to do. */
export type SpawnerOrder =
  | { type: 'spawn'; id: number; file: string; args: string[] }
  | { type: 'kill'; id: number; signal: NodeJS.Signals };

/** What the worker says of a process. */
export type SpawnerNews =
  | { type: 'spawn'; id: number; pid: number }
  | { type: 'error'; id: number; message: string; code?: string }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'close'; id: number; code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** Events of a {@link SpawnedProcess}, as a ChildProcess has them. */
type SpawnedEvents = {
  spawn: [];
  error: [NodeJS.ErrnoException];
  exit: [number | null, NodeJS.Signals | null];
  close: [number | null, NodeJS.Signals | null];
};

/** A process a {@link Spawner} started. */
export class SpawnedProcess extends EventEmitter<SpawnedEvents> {
  pid: number | undefined = undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** The tail of its stderr, once it closed. */
  stderr = '';
  readonly #kill: (signal: NodeJS.Signals) => void;

  constructor(kill: (signal: NodeJS.Signals) => void) {
    super();
    this.#kill = kill;
  }

  /** Sends it `signal` (SIGTERM by default); nothing once it exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitCode === null && this.signalCode === null) this.#kill(signal);
  }

  /** @internal */
  news(m: SpawnerNews): void {
    switch (m.type) {
      case 'spawn': this.pid = m.pid; this.emit('spawn'); break;
      case 'error': this.emit('error', Object.assign(new Error(m.message), m.code ? { code: m.code } : {})); break;
      case 'exit': this.exitCode = m.code; this.signalCode = m.signal; this.emit('exit', m.code, m.signal); break;
      case 'close': this.stderr = m.stderr; this.emit('close', m.code, m.signal); break;
    }
  }
}

/**
 * The worker thread that starts processes. One per process ({@link shared}), started on first
 * use; it keeps this process alive only while a process it started runs.
 */
export class Spawner {
  static #shared: Spawner | null = null;
  /** The spawner of this process. */
  static shared(): Spawner {
    Spawner.#shared ??= new Spawner();
    return Spawner.#shared;
  }

  readonly #worker: Worker;
  readonly #procs = new Map<number, SpawnedProcess>();
  #nextId = 1;

  private constructor() {
    // Its processes run at the ordinary priority, not at a raised sending thread's (src/peer/thread-priority.ts).
    this.#worker = startWorker(workerEntry(import.meta.url, 'spawner-worker'), { workerData: { nice: ordinaryNice() } });
    this.#worker.on('message', (m: SpawnerNews) => {
      const p = this.#procs.get(m.id);
      if (!p) return;
      if (m.type === 'close') this.#forget(m.id);
      p.news(m);
    });
    // The thread died (it should not): every process it ran is as good as gone to us.
    this.#worker.on('error', (err) => this.#lost(err));
    this.#worker.on('exit', () => this.#lost(new Error('the spawner thread exited')));
    // After the listeners (adding a 'message' listener refs the thread's port again): it keeps
    // this process alive only while a process it started runs, as a ChildProcess does.
    this.#worker.unref();
  }

  #forget(id: number): void {
    this.#procs.delete(id);
    if (this.#procs.size === 0) this.#worker.unref();
  }

  /** Starts `file` with `args` (no stdin, no stdout; stderr's tail at close). */
  spawn(file: string, args: string[]): SpawnedProcess {
    const id = this.#nextId++;
    const p = new SpawnedProcess((signal) => this.#worker.postMessage({ type: 'kill', id, signal } satisfies SpawnerOrder));
    this.#procs.set(id, p);
    this.#worker.ref();
    this.#worker.postMessage({ type: 'spawn', id, file, args } satisfies SpawnerOrder);
    return p;
  }

  #lost(err: Error): void {
    if (Spawner.#shared === this) Spawner.#shared = null;
    for (const [id, p] of this.#procs) {
      this.#forget(id);
      p.news({ type: 'error', id, message: err.message });
      p.news({ type: 'close', id, code: null, signal: null, stderr: '' });
    }
  }
}
