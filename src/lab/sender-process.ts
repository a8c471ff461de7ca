/**
 * The lab's CLI sender ({@link labSenderOptions}: the stamped test video and a sine) in a process
 * of its own, in a session of its own, behind a lab relay: what `chatzyo connect` is, a process
 * started from a shell. `bench:quality` measures the CLI sender with one of these.
 *
 * Not a thread of the harness: on the harness's event loop (the server, the browser driver, the
 * frame collector) its audio and video left in bursts after each stall (10-80 ms in every 250 ms,
 * measured with `--trace`). On a worker thread of the harness, raised to nice -8, it still stood
 * runnable but not running for 50-150 ms at a time (its run-queue wait, /proc's schedstat), a few
 * times in every call on a loaded machine: Linux's autogroups (sched_autogroup_enabled, on by
 * default) share the CPUs fairly between sessions first, and a thread's nice value only ranks it
 * inside its own session, so the sender waited whenever the harness's session as a whole (its
 * main thread, the relay, the encoders) had had its share. A Chromium sender is a browser process
 * in a session of its own, and a `connect` is a process of its own that raises its session as it
 * raises its thread (src/peer/thread-priority.ts); so is this one (`detached`: setsid), and so
 * does it.
 */
import type { ChildProcess } from 'node:child_process';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import type { SessionPriority, ThreadPriority } from '../peer/thread-priority.js';
import { forkEntry, workerEntry } from '../peer/worker-thread.js';
import { ChatzyoError, isErrorCode } from '../protocol/index.js';
import { labError } from './errors.js';
import type { ImpairmentRelay } from './relay.js';
import type { SenderNews, SenderOrder, SenderProcessOptions } from './sender-main.js';

export type { SenderProcessOptions } from './sender-main.js';

/** How the sender's session or process ended without being closed. */
export interface SenderEnd { reason: string; message?: string; code?: string }

/** The relay the sender sits behind, as the host holds it (an {@link ImpairmentRelay} or a ThreadedRelay). */
export type SenderRelay = Pick<ImpairmentRelay, 'address' | 'upstream' | 'setUpstream'>;

/** A sending PeerSession in its own process: started, watched through its adaptation, closed. */
export class SenderProcess {
  readonly #child: ChildProcess;
  #adaptation: AdaptationSnapshot | null = null;
  #loopMaxMs = 0;
  #priority: ThreadPriority | null = null;
  #session: SessionPriority | null = null;
  #ended: SenderEnd | null = null;
  #exitCode: number | null = null;
  readonly #exited: Promise<number>;
  #closing: Promise<number> | null = null;

  private constructor(child: ChildProcess, relay: SenderRelay) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      // Killed (by close's deadline, or by anyone): 1, as a terminated thread was.
      const exit = code ?? 1;
      this.#exitCode = exit;
      this.#ended ??= { reason: 'process-exit', message: `the sender process exited with ${code ?? signal}` };
      resolve(exit);
    }));
    child.on('error', (err) => { this.#ended ??= { reason: 'process-error', message: err.message }; });
    child.on('message', (m: SenderNews) => {
      if (m.type === 'adaptation') {
        this.#adaptation = m.snapshot;
        this.#loopMaxMs = m.loopMaxMs;
      } else if (m.type === 'upstream' && !relay.upstream) relay.setUpstream(m.upstream);
      else if (m.type === 'ended') this.#ended ??= { reason: m.reason, ...(m.message ? { message: m.message } : {}), ...(m.code ? { code: m.code } : {}) };
    });
  }

  /**
   * Starts the process and its session behind `relay`; resolves once the session has sent its
   * join. A session that fails to start throws its own error's code (`CHZ_ERR_SERVER_UNREACHABLE`,
   * say); `CHZ_ERR_LAB_SENDER` when it gives no code, has not started within `timeoutMs`, or the
   * process dies. The process is ended then.
   */
  static async start(opts: SenderProcessOptions, relay: SenderRelay, timeoutMs = 30_000): Promise<SenderProcess> {
    const child = forkEntry(workerEntry(import.meta.url, 'sender-main'), [JSON.stringify(opts)], {
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const sender = new SenderProcess(child, relay);
    let timer: NodeJS.Timeout | undefined;
    const news = await new Promise<SenderNews>((resolve) => {
      timer = setTimeout(() => resolve({ type: 'failed', message: `its session had not started after ${timeoutMs} ms` }), timeoutMs);
      const onMessage = (m: SenderNews) => {
        if (m.type !== 'started' && m.type !== 'failed') return;
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      void sender.#exited.then((code) => resolve({ type: 'failed', message: `the sender process exited with ${code}` }));
    });
    clearTimeout(timer);
    if (news.type !== 'started') {
      await sender.#kill();
      const message = news.type === 'failed' ? news.message : news.type;
      const code = news.type === 'failed' ? news.code : undefined;
      if (code && isErrorCode(code)) throw new ChatzyoError(code, `The lab's sender could not start: ${message}`);
      throw labError('CHZ_ERR_LAB_SENDER', `The lab's sender process did not start: ${message}.`);
    }
    sender.#priority = news.priority;
    sender.#session = news.session;
    // The host may exit with the sender still running: its IPC channel closing ends it (sender-main.ts).
    child.unref();
    child.channel?.unref();
    return sender;
  }

  /** Kills the process (SIGKILL) and resolves once it has exited. */
  #kill(): Promise<number> {
    if (this.#exitCode === null) this.#child.kill('SIGKILL');
    return this.#exited;
  }

  /** The sender's latest adaptation (posted every `snapshotMs`), null before the first or without the ladder. */
  get adaptation(): AdaptationSnapshot | null { return this.#adaptation; }

  /** What became of raising the sender's thread's priority, as `connect` raises its own (src/peer/thread-priority.ts). */
  get priority(): ThreadPriority | null { return this.#priority; }

  /** What became of raising the sender's session (its autogroup), as `connect` raises its own. */
  get sessionPriority(): SessionPriority | null { return this.#session; }

  /** The child's process id. */
  get pid(): number | undefined { return this.#child.pid; }

  /** The longest the sender's event loop stalled in the last snapshot interval, ms. */
  get loopMaxMs(): number { return this.#loopMaxMs; }

  /** How the session or the process ended by itself (an error mid-call, a crash); null while it runs or once closed. */
  get ended(): SenderEnd | null { return this.#closing ? null : this.#ended; }

  /**
   * Closes the session and ends the process (killed if it has not ended within 5 s).
   * Resolves with its exit code: 0 when the session closed and the process ended by itself, 1
   * when it had to be killed. Idempotent; at once when the process had ended.
   */
  close(): Promise<number> {
    this.#closing ??= this.#exitCode !== null ? Promise.resolve(this.#exitCode) : new Promise<number>((resolve) => {
      const t = setTimeout(() => { void this.#kill(); }, 5000);
      void this.#exited.then((code) => { clearTimeout(t); resolve(code); });
      const order: SenderOrder = { type: 'close' };
      if (this.#child.connected) this.#child.send(order);
      else void this.#kill();
    });
    return this.#closing;
  }
}
