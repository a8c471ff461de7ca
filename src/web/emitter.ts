/**
 * A small typed event emitter for the browser client (the DOM's EventTarget carries no payload
 * types). A listener that throws is reported to the console, never to the emitter's caller, so
 * one broken view cannot stop the call logic (mediasoup `safeEmit`).
 */

/** Event name -> argument tuple, e.g. `{ state: [CallState]; chat: [string] }`. */
export type EventMap = Record<string, unknown[]>;

type AnyListener = (...args: unknown[]) => void;

/** Typed `on`/`off`/`emit`. */
export class Emitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<AnyListener>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
    return () => this.off(event, listener);
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as unknown as AnyListener);
  }

  /** Calls every listener of `event`; a throwing listener is logged and the rest still run. */
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (err) {
        console.error(`chatzyo: a "${String(event)}" listener threw`, err);
      }
    }
  }

  /** Drops every listener (used by `close()`). */
  removeAll(): void {
    this.#listeners.clear();
  }
}
