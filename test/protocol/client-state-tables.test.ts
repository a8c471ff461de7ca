// Every client state machine's table, walked as Pion tests `checkNextSignalingState`: each allowed
// move succeeds through the shared StateMachine, each other move throws the machine's coded error
// naming both states, and the table covers exactly the machine's states.
import { describe, expect, it } from 'vitest';
import { SIGNAL_CLIENT_STATES, SIGNAL_CLIENT_TRANSITIONS } from '../../src/protocol/client/index.js';
import { ChatzyoError, type StateErrorCode } from '../../src/protocol/index.js';
import { StateMachine, transitionPairs, type TransitionTable } from '../../src/protocol/state-machine.js';
import { PEER_SESSION_STATES, PEER_SESSION_TRANSITIONS } from '../../src/peer/peer-session.js';
import { BOT_STATES, BOT_TRANSITIONS } from '../../src/bots/bot.js';
import { SESSION_STATES, SESSION_TRANSITIONS } from '../../src/web/browser-session.js';

const machines: { name: string; states: readonly string[]; table: TransitionTable<string>; code: StateErrorCode }[] = [
  { name: 'SignalClient', states: SIGNAL_CLIENT_STATES, table: SIGNAL_CLIENT_TRANSITIONS, code: 'CHZ_ERR_CLIENT_STATE' },
  { name: 'PeerSession', states: PEER_SESSION_STATES, table: PEER_SESSION_TRANSITIONS, code: 'CHZ_ERR_PEER_STATE' },
  { name: 'Bot', states: BOT_STATES, table: BOT_TRANSITIONS, code: 'CHZ_ERR_BOT_STATE' },
  { name: 'BrowserSession', states: SESSION_STATES, table: SESSION_TRANSITIONS, code: 'CHZ_ERR_CLIENT_STATE' },
];

describe.each(machines)('$name transition table', ({ name, states, table, code }) => {
  it('names exactly the machine\'s states, and has a final state that leads nowhere', () => {
    expect(Object.keys(table).sort()).toEqual([...states].sort());
    for (const next of Object.values(table).flat()) expect(states).toContain(next);
    expect(states.some((s) => table[s]!.length === 0)).toBe(true);
  });

  it('allows every move in the table', () => {
    const { allowed } = transitionPairs(states, table);
    expect(allowed.length).toBeGreaterThan(0);
    for (const [from, to] of allowed) {
      const m = new StateMachine(name, table, from, code);
      expect(m.to(to), `${from} -> ${to}`).toBe(from);
      expect(m.state).toBe(to);
    }
  });

  it('refuses every other move with its coded error naming both states', () => {
    const { forbidden } = transitionPairs(states, table);
    expect(forbidden.length).toBeGreaterThan(0);
    for (const [from, to] of forbidden) {
      const m = new StateMachine(name, table, from, code);
      let thrown: unknown = null;
      try { m.to(to); } catch (err) { thrown = err; }
      expect(thrown, `${from} -> ${to} must throw`).toBeInstanceOf(ChatzyoError);
      expect((thrown as ChatzyoError).code).toBe(code);
      expect((thrown as ChatzyoError).message).toBe(`${name} cannot go from state ${from} to ${to}`);
      expect(m.state).toBe(from);
    }
  });
});
