/**
 * The one typed event emitter of every client (browser, headless peer, bots, probe), with
 * mediasoup's split (`EnhancedEventEmitter`):
 * - {@link TypedEmitter.emit} is for internal wiring (a session acting on its signaling client,
 *   a bot on its connection): a listener that throws is a bug, and the error propagates to the
 *   code that emitted, like Node's EventEmitter;
 * - {@link TypedEmitter.safeEmit} is for observers (UIs, `--json` lines, stats, tests): a
 *   listener that throws is reported to {@link TypedEmitter.onListenerError} and the other
 *   listeners still run, so one broken view cannot stop a call, and nothing is swallowed silently.
 * Pure TypeScript: no `node:` import, no DOM (the DOM's EventTarget carries no payload types).
 */

/** An event map: event name to the tuple of its arguments (`{ chat: [string] }`). */
export type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;

/** Where a throwing observer is reported: the event's name and what it threw. */
export type ListenerErrorLogger = (event: string, error: unknown) => void;

/**
 * The logger of emitters whose owner set none: the runtime's console, the one channel that
 * exists in Node, workers and the browser alike. The CLI replaces it per emitter (it prints
 * through its own output); the browser keeps it (the page's console).
 */
const consoleListenerErrorLogger: ListenerErrorLogger = (event, error) => {
  // eslint-disable-next-line no-console -- the last-resort report for a throwing observer; see above
  console.error(`chatzyo: a listener of "${event}" threw:`, error);
};

/** A typed emitter; subclasses declare their event map. */
export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();
  /** Reports a listener that threw inside {@link safeEmit}. */
  onListenerError: ListenerErrorLogger = consoleListenerErrorLogger;

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs once; returns a function that removes it. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, ((...args: E[K]) => { off(); listener(...args); }) as Listener<E[K]>);
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Removes every listener (a `close()` that is final). */
  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Internal wiring: calls every listener of `event` in order; a throwing listener's error propagates. */
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) (l as Listener<E[K]>)(...args);
  }

  /** Observers: calls every listener of `event`; one that throws is reported and the others still run. */
  safeEmit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(...args);
      } catch (err) {
        try {
          this.onListenerError(String(event), err);
        } catch (loggerErr) {
          // The logger itself broke: fall back to the console rather than lose both errors.
          consoleListenerErrorLogger(String(event), new AggregateError([err, loggerErr], 'a listener threw, and so did onListenerError'));
        }
      }
    }
  }

  /** Resolves with the arguments of the next `event`. */
  waitFor<K extends keyof E>(event: K): Promise<E[K]> {
    return new Promise((resolve) => this.once(event, ((...args: E[K]) => resolve(args)) as Listener<E[K]>));
  }
}
