/**
 * The lab's CLI sender ({@link labSenderOptions}: the stamped test video and a sine) on a worker
 * thread of its own, behind a lab relay. A real `chatzyo connect` has a process to itself; on the
 * event loop of a harness that also runs the server, the browser driver and the frame collector,
 * its audio and video left in bursts after each stall (10-80 ms in every 250 ms, measured with
 * `--trace`), which the viewer's jitter buffers then waited out. `bench:quality` measures the
 * CLI sender with one of these.
 */
import type { Worker } from 'node:worker_threads';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import type { ThreadPriority } from '../peer/thread-priority.js';
import { startWorker, workerEntry } from '../peer/worker-thread.js';
import { ChatzyoError, isErrorCode } from '../protocol/index.js';
import { labError } from './errors.js';
import type { ImpairmentRelay } from './relay.js';
import type { SenderNews, SenderOrder, ThreadedSenderOptions } from './sender-worker.js';

export type { ThreadedSenderOptions } from './sender-worker.js';

/** How the sender's session or thread ended without being closed. */
export interface SenderEnd { reason: string; message?: string; code?: string }

/** The relay the sender sits behind, as the host holds it (an {@link ImpairmentRelay} or a ThreadedRelay). */
export type SenderRelay = Pick<ImpairmentRelay, 'address' | 'upstream' | 'setUpstream'>;

/** A sending PeerSession on its own thread: started, watched through its adaptation, closed. */
export class ThreadedSender {
  readonly #worker: Worker;
  #adaptation: AdaptationSnapshot | null = null;
  #loopMaxMs = 0;
  #priority: ThreadPriority | null = null;
  #ended: SenderEnd | null = null;
  #exitCode: number | null = null;
  readonly #exited: Promise<number>;
  #closing: Promise<number> | null = null;

  private constructor(worker: Worker, relay: SenderRelay) {
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', (code) => {
      this.#exitCode = code;
      this.#ended ??= { reason: 'thread-exit', message: `the sender thread exited with ${code}` };
      resolve(code);
    }));
    worker.on('error', (err) => { this.#ended ??= { reason: 'thread-error', message: err.message }; });
    worker.on('message', (m: SenderNews) => {
      if (m.type === 'adaptation') {
        this.#adaptation = m.snapshot;
        this.#loopMaxMs = m.loopMaxMs;
      } else if (m.type === 'upstream' && !relay.upstream) relay.setUpstream(m.upstream);
      else if (m.type === 'ended') this.#ended ??= { reason: m.reason, ...(m.message ? { message: m.message } : {}), ...(m.code ? { code: m.code } : {}) };
    });
  }

  /**
   * Starts the thread and its session behind `relay`; resolves once the session has sent its
   * join. A session that fails to start throws its own error's code (`CHZ_ERR_SERVER_UNREACHABLE`,
   * say); `CHZ_ERR_LAB_SENDER` when it gives no code, has not started within `timeoutMs`, or the
   * thread dies. The thread is ended then.
   */
  static async start(opts: ThreadedSenderOptions, relay: SenderRelay, timeoutMs = 30_000): Promise<ThreadedSender> {
    const worker = startWorker(workerEntry(import.meta.url, 'sender-worker'), { workerData: opts });
    const sender = new ThreadedSender(worker, relay);
    let timer: NodeJS.Timeout | undefined;
    const news = await new Promise<SenderNews>((resolve) => {
      timer = setTimeout(() => resolve({ type: 'failed', message: `its session had not started after ${timeoutMs} ms` }), timeoutMs);
      const onMessage = (m: SenderNews) => {
        if (m.type !== 'started' && m.type !== 'failed') return;
        worker.off('message', onMessage);
        resolve(m);
      };
      worker.on('message', onMessage);
      void sender.#exited.then((code) => resolve({ type: 'failed', message: `the sender thread exited with ${code}` }));
    });
    clearTimeout(timer);
    if (news.type !== 'started') {
      await worker.terminate();
      const message = news.type === 'failed' ? news.message : news.type;
      const code = news.type === 'failed' ? news.code : undefined;
      if (code && isErrorCode(code)) throw new ChatzyoError(code, `The lab's sender could not start: ${message}`);
      throw labError('CHZ_ERR_LAB_SENDER', `The lab's sender thread did not start: ${message}.`);
    }
    sender.#priority = news.priority;
    worker.unref();
    return sender;
  }

  /** The sender's latest adaptation (posted every `snapshotMs`), null before the first or without the ladder. */
  get adaptation(): AdaptationSnapshot | null { return this.#adaptation; }

  /** What became of raising the sender thread's priority, as `connect` raises its own (src/peer/thread-priority.ts). */
  get priority(): ThreadPriority | null { return this.#priority; }

  /** The longest the sender thread's event loop stalled in the last snapshot interval, ms. */
  get loopMaxMs(): number { return this.#loopMaxMs; }

  /** How the session or the thread ended by itself (an error mid-call, a crash); null while it runs or once closed. */
  get ended(): SenderEnd | null { return this.#closing ? null : this.#ended; }

  /**
   * Closes the session and ends the thread (terminated if it has not ended within 5 s).
   * Resolves with the thread's exit code: 0 when the session closed and the thread ended by
   * itself, 1 when it had to be terminated. Idempotent; at once when the thread had ended.
   */
  close(): Promise<number> {
    this.#closing ??= this.#exitCode !== null ? Promise.resolve(this.#exitCode) : new Promise<number>((resolve) => {
      const t = setTimeout(() => { void this.#worker.terminate().catch(() => {}); }, 5000);
      void this.#exited.then((code) => { clearTimeout(t); resolve(code); });
      const order: SenderOrder = { type: 'close' };
      this.#worker.postMessage(order);
    });
    return this.#closing;
  }
}
