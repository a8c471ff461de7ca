/**
 * The CLI's sender (a werift {@link PeerSession} sending the stamped test video and a sine) on a
 * worker thread of its own, behind a lab relay. A real `chatzyo connect` has a process to itself;
 * on the event loop of a harness that also runs the server, the browser driver and the frame
 * collector, its audio and video left in bursts after each stall (10-80 ms in every 250 ms,
 * measured with `--trace`), which the viewer's jitter buffers then waited out.
 * `bench:quality` measures the CLI sender with one of these.
 */
import type { Worker } from 'node:worker_threads';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import { labError } from './errors.js';
import { startLabWorker } from './lab-worker.js';
import type { SenderNews, SenderOrder, ThreadedSenderOptions } from './sender-worker.js';

export type { ThreadedSenderOptions } from './sender-worker.js';

/** A sending PeerSession on its own thread: started, watched through its adaptation, closed. */
export class ThreadedSender {
  readonly #worker: Worker;
  #adaptation: AdaptationSnapshot | null = null;
  #closing: Promise<number> | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (m: SenderNews) => {
      if (m.type === 'adaptation') this.#adaptation = m.snapshot;
    });
  }

  /**
   * Starts the thread and its session; resolves once the session has joined the hub. Throws
   * `CHZ_ERR_LAB_SENDER` when the session does not start within `timeoutMs` or at all (with its
   * reason), or the thread dies; the thread is ended then.
   */
  static async start(opts: ThreadedSenderOptions, timeoutMs = 30_000): Promise<ThreadedSender> {
    const worker = startLabWorker('sender-worker', opts);
    let timer: NodeJS.Timeout | undefined;
    const news = await new Promise<SenderNews>((resolve) => {
      timer = setTimeout(() => resolve({ type: 'failed', message: `its session had not joined after ${timeoutMs} ms` }), timeoutMs);
      const onMessage = (m: SenderNews) => {
        if (m.type === 'adaptation') return;
        worker.off('message', onMessage);
        resolve(m);
      };
      worker.on('message', onMessage);
      worker.once('error', (err) => resolve({ type: 'failed', message: err.message }));
      worker.once('exit', (code) => resolve({ type: 'failed', message: `the sender thread exited with ${code}` }));
    });
    clearTimeout(timer);
    if (news.type !== 'started') {
      await worker.terminate();
      throw labError('CHZ_ERR_LAB_SENDER', `The lab's sender thread did not start: ${news.type === 'failed' ? news.message : news.type}.`);
    }
    worker.unref();
    return new ThreadedSender(worker);
  }

  /** The sender's latest adaptation (posted every `snapshotMs`), null before the first or without the ladder. */
  get adaptation(): AdaptationSnapshot | null { return this.#adaptation; }

  /**
   * Closes the session and ends the thread (terminated if it has not ended within 5 s).
   * Resolves with the thread's exit code: 0 when the session closed and the thread ended by
   * itself, 1 when it had to be terminated. Idempotent.
   */
  close(): Promise<number> {
    this.#closing ??= new Promise<number>((resolve) => {
      const done = (code: number) => { clearTimeout(t); resolve(code); };
      const t = setTimeout(() => { void this.#worker.terminate().then(done, () => done(1)); }, 5000);
      this.#worker.once('exit', done);
      const order: SenderOrder = { type: 'close' };
      this.#worker.postMessage(order);
    });
    return this.#closing;
  }
}
