/**
 * Shared pieces of the fuzz tests: a watch on uncaught exceptions (a throw inside a socket
 * listener of the server under test), and the /healthz check every fuzz file ends with.
 *
 * The server runs inside the test process, so a throw in one of its 'message', 'upgrade' or
 * 'data' listeners does not kill anything here: it becomes an uncaught exception, and the server
 * may well go on answering. The watch turns that exception into a failure of the very fast-check
 * case that caused it, so fast-check shrinks it to the smallest input that crashes the server.
 * Vitest stops reporting uncaught errors itself while a test listens for them (its worker steps
 * aside when it is not the only listener), so each file also calls `check` in its `afterAll`:
 * an error outside any case fails the file too.
 */
import { withTimeout } from '../helpers/deadline.js';

/** Uncaught exceptions and unhandled rejections seen since {@link watchUncaught} was called. */
export interface UncaughtWatch {
  readonly errors: unknown[];
  /** Throws the first error seen since the last call, naming `what` (the input that caused it). */
  check(what: string): void;
  /**
   * Settles like `p`, or rejects as soon as an uncaught error arrives: an await on a server that
   * just threw (and so will never answer) fails at once instead of at its deadline.
   */
  guard<T>(p: Promise<T>): Promise<T>;
  dispose(): void;
}

/** Starts recording uncaught exceptions and unhandled rejections of this process. */
export function watchUncaught(): UncaughtWatch {
  const errors: unknown[] = [];
  let seen = 0;
  const waiters: ((err: unknown) => void)[] = [];
  const onError = (err: unknown) => {
    errors.push(err);
    for (const w of waiters.splice(0)) w(err);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}${'code' in err ? ` (${String(err.code)})` : ''}` : String(err));
  return {
    errors,
    check(what) {
      if (errors.length > seen) {
        const err = errors[seen];
        seen = errors.length;
        throw new Error(`the server threw an uncaught exception after ${what}: ${describe(err)}`, { cause: err });
      }
    },
    guard<T>(p: Promise<T>): Promise<T> {
      let waiter!: (err: unknown) => void;
      const crash = new Promise<never>((_, reject) => {
        waiter = (err) => { seen = errors.length; reject(new Error(`the server threw an uncaught exception: ${describe(err)}`, { cause: err })); };
        waiters.push(waiter);
      });
      return Promise.race([p, crash]).finally(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
      });
    },
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

/** GET /healthz; resolves with the status code (deadline 5 s). */
export async function healthz(baseUrl: string): Promise<number> {
  const res = await withTimeout(fetch(`${baseUrl}/healthz`), 5000, `GET ${baseUrl}/healthz`);
  await withTimeout(res.arrayBuffer(), 5000, 'reading the /healthz body');
  return res.status;
}
