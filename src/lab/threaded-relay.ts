/**
 * An {@link ImpairmentRelay} on a worker thread of its own. The relay's delay line runs on
 * timers: on the event loop of a process that also encodes, encrypts and paces a werift
 * sender's media, each stall of that loop (30-50 ms, a few times a second, on two busy cores)
 * was a queue and a burst the profile does not have, on the CLI sender's path only.
 * `bench:quality` shapes every sender with one of these, so the link is the profile's.
 */
import type { Worker } from 'node:worker_threads';
import { labError } from './errors.js';
import type { ThreadPriority } from '../peer/thread-priority.js';
import { startWorker, workerEntry } from '../peer/worker-thread.js';
import type { NetworkProfile } from './profiles.js';
import type { RelayOptions, RelayUpstream } from './relay.js';
import type { RelayNews, RelayOrder } from './relay-worker.js';

/** A relay on its own thread, with the members the lab's ICE rewrite uses. */
export class ThreadedRelay {
  readonly #worker: Worker;
  readonly address: { host: string; port: number };
  /** The relay thread's scheduling priority: raised as the senders' threads are, when the system lets it (src/peer/thread-priority.ts). */
  readonly priority: ThreadPriority;
  #upstream: RelayUpstream | null;
  #closing: Promise<void> | null = null;
  #lag: { loopMaxMs: number; lateMaxMs: number } | null = null;
  #watching = false;

  private constructor(worker: Worker, address: { host: string; port: number }, priority: ThreadPriority, upstream: RelayUpstream | null) {
    this.#worker = worker;
    this.address = address;
    this.priority = priority;
    this.#upstream = upstream;
  }

  /**
   * From {@link watchLag} on, the relay thread's last 250 ms: its event loop's longest stall and
   * the most a packet left after its due time, ms; what the link added beyond the profile, for a
   * trace. Null before the first report.
   */
  get lag(): { loopMaxMs: number; lateMaxMs: number } | null { return this.#lag; }

  /** Asks the relay thread to report its lag ({@link lag}) every 250 ms. Idempotent. */
  watchLag(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#worker.on('message', (m: RelayNews) => { if (m.type === 'lag') this.#lag = { loopMaxMs: m.loopMaxMs, lateMaxMs: m.lateMaxMs }; });
    this.#order({ type: 'watch-lag' });
  }

  /** Starts the thread and its relay. Throws `CHZ_ERR_LAB_RELAY` when it cannot. */
  static async start(opts: RelayOptions): Promise<ThreadedRelay> {
    const worker = startWorker(workerEntry(import.meta.url, 'relay-worker'), { workerData: opts });
    const news = await new Promise<RelayNews>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (err) => resolve({ type: 'failed', message: err.message }));
      worker.once('exit', (code) => resolve({ type: 'failed', message: `the relay thread exited with ${code}` }));
    });
    if (news.type !== 'ready') {
      await worker.terminate();
      throw labError('CHZ_ERR_LAB_RELAY', `The impairment relay thread did not start: ${news.type === 'failed' ? news.message : `it said ${news.type} first`}.`);
    }
    worker.unref();
    return new ThreadedRelay(worker, news.address, news.priority, opts.upstream ?? null);
  }

  get upstream(): RelayUpstream | null { return this.#upstream; }

  setUpstream(upstream: RelayUpstream): void {
    this.#upstream = upstream;
    this.#order({ type: 'upstream', upstream });
  }

  setProfile(profile: NetworkProfile): void {
    this.#order({ type: 'profile', profile });
  }

  /** Closes the relay and ends the thread (terminated if it does not answer within 2 s). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const done = () => { clearTimeout(t); resolve(); };
      const t = setTimeout(() => { void this.#worker.terminate().then(done, done); }, 2000);
      this.#worker.once('exit', done);
      this.#order({ type: 'close' });
    });
    return this.#closing;
  }

  #order(m: RelayOrder): void {
    this.#worker.postMessage(m);
  }
}
