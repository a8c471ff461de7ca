/**
 * One small helper for the explicit state machines (CONVENTIONS.md, "State is explicit"): a
 * `const` list of states, a table of allowed transitions, and a transition that throws a coded
 * error naming both states when the table does not allow it. Pure TypeScript: the server, the
 * headless peer, the bots and the browser client all use it.
 */
import { ChatzyoError, type StateErrorCode } from './errors.js';

/** For each state, the states it may move to. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

/** A state machine's current state plus the rule that guards every move. */
export class StateMachine<S extends string> {
  #state: S;

  /**
   * @param name  who owns the machine, for messages ("Call m1", "Bot 3")
   * @param table the allowed transitions
   * @param initial the first state
   * @param code  the error code thrown on a transition the table does not allow
   */
  constructor(readonly name: string, readonly table: TransitionTable<S>, initial: S, readonly code: StateErrorCode) {
    this.#state = initial;
  }

  /** The current state. */
  get state(): S { return this.#state; }

  /** Whether the table allows moving from the current state to `next`. */
  can(next: S): boolean { return this.table[this.#state].includes(next); }

  /**
   * Moves to `next` and returns the state it left. Moving to the current state is a no-op
   * (returns it) unless the table lists the state as a successor of itself, in which case it
   * is an ordinary transition. Throws a {@link ChatzyoError} with this machine's code otherwise.
   */
  to(next: S): S {
    const from = this.#state;
    if (from === next && !this.table[from].includes(next)) return from;
    if (!this.table[from].includes(next)) {
      throw new ChatzyoError(this.code, `${this.name} cannot go from state ${from} to ${next}`);
    }
    this.#state = next;
    return from;
  }
}

/**
 * Every (from, to) pair of a table, split into allowed and forbidden ones, so a test can walk
 * each machine's whole table (as Pion tests `checkNextSignalingState`).
 */
export function transitionPairs<S extends string>(states: readonly S[], table: TransitionTable<S>): { allowed: [S, S][]; forbidden: [S, S][] } {
  const allowed: [S, S][] = [];
  const forbidden: [S, S][] = [];
  for (const from of states) {
    for (const to of states) {
      if (from === to && !table[from].includes(to)) continue; // staying put is a no-op, not a transition
      (table[from].includes(to) ? allowed : forbidden).push([from, to]);
    }
  }
  return { allowed, forbidden };
}
