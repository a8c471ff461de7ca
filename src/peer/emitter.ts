/**
 * A small typed event emitter: event maps are tuples (`{ chat: [string] }`). A listener that
 * throws is reported to `onListenerError` and never breaks the emitter (mediasoup `safeEmit`).
 */

/** An event map: event name to the tuple of its arguments. */
export type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;

/** A typed emitter; subclasses declare their event map. */
export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();
  /** Called when a listener throws; by default the error is written to stderr by the CLI only. */
  onListenerError: (event: string, error: unknown) => void = () => { /* swallowed: observers never decide */ };

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs once. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, ((...args: E[K]) => { off(); listener(...args); }) as Listener<E[K]>);
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Removes every listener. */
  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Calls every listener of `event`; a throwing listener is reported, the others still run. */
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(...args);
      } catch (err) {
        try { this.onListenerError(String(event), err); } catch { /* nothing left to tell */ }
      }
    }
  }

  /** Resolves with the arguments of the next `event`. */
  waitFor<K extends keyof E>(event: K): Promise<E[K]> {
    return new Promise((resolve) => this.once(event, ((...args: E[K]) => resolve(args)) as Listener<E[K]>));
  }
}
