/**
 * Every state machine's transition table, walked whole (as Pion tests checkNextSignalingState):
 * each allowed move succeeds and lands in the new state, each other move throws the machine's
 * coded CHZ_ERR_*_STATE error naming both states and leaves the state as it was. The machines
 * come from the same factories the classes use, so a table or code changed in a class is the
 * one tested here.
 */
import { describe, expect, it } from 'vitest';
import { ChatzyoError, SAFETY_STATES, SAFETY_TRANSITIONS, safetyStateMachine, SafetyExchange, STATE_ERROR_CODES, type StateErrorCode } from '../../src/protocol/index.js';
import { transitionPairs, type StateMachine, type TransitionTable } from '../../src/protocol/state-machine.js';
import { Call, CALL_STATES, CALL_TRANSITIONS, callStateMachine } from '../../src/peer/call.js';
import { withTimeout } from '../helpers/deadline.js';
import {
  CALL_STATES as WEB_CALL_STATES, CALL_TRANSITIONS as WEB_CALL_TRANSITIONS, callStateMachine as webCallStateMachine,
} from '../../src/web/peer-call.js';
import { SESSION_STATES, SESSION_TRANSITIONS, sessionStateMachine } from '../../src/signal/session.js';

interface Table<S extends string> {
  name: string;
  states: readonly S[];
  table: TransitionTable<S>;
  initial: S;
  code: StateErrorCode;
  make: (initial: S) => StateMachine<S>;
}

const tables = [
  { name: 'peer Call', states: CALL_STATES, table: CALL_TRANSITIONS, initial: 'new', code: 'CHZ_ERR_CALL_STATE', make: (s) => callStateMachine('Call m1', s) } satisfies Table<(typeof CALL_STATES)[number]>,
  { name: 'browser PeerCall', states: WEB_CALL_STATES, table: WEB_CALL_TRANSITIONS, initial: 'new', code: 'CHZ_ERR_CALL_STATE', make: (s) => webCallStateMachine(s) } satisfies Table<(typeof WEB_CALL_STATES)[number]>,
  { name: 'server ClientSession', states: SESSION_STATES, table: SESSION_TRANSITIONS, initial: 'connected', code: 'CHZ_ERR_SESSION_STATE', make: (s) => sessionStateMachine('session s1', s) } satisfies Table<(typeof SESSION_STATES)[number]>,
  { name: 'SafetyExchange', states: SAFETY_STATES, table: SAFETY_TRANSITIONS, initial: 'new', code: 'CHZ_ERR_SAFETY_STATE', make: (s) => safetyStateMachine(s) } satisfies Table<(typeof SAFETY_STATES)[number]>,
] as Table<string>[];

/** The states reachable from `initial` through the table. */
function reachable(t: Table<string>): Set<string> {
  const seen = new Set([t.initial]);
  const todo = [t.initial];
  for (let s = todo.pop(); s !== undefined; s = todo.pop()) {
    for (const n of t.table[s] ?? []) if (!seen.has(n)) { seen.add(n); todo.push(n); }
  }
  return seen;
}

describe.each(tables)('$name transition table', (t) => {
  const { allowed, forbidden } = transitionPairs(t.states, t.table);

  it('has a row for every state, names only its own states, and reaches every state from the first', () => {
    expect(Object.keys(t.table).sort()).toEqual([...t.states].sort());
    for (const next of Object.values(t.table).flat()) expect(t.states).toContain(next);
    expect([...reachable(t)].sort()).toEqual([...t.states].sort());
    expect(t.make(t.initial).state).toBe(t.initial);
    expect(STATE_ERROR_CODES[t.code]).toMatch(/transition table/);
  });

  it('allows every transition in the table', () => {
    expect(allowed.length).toBeGreaterThan(0);
    for (const [from, to] of allowed) {
      const m = t.make(from);
      expect(m.can(to)).toBe(true);
      expect(m.to(to), `${from} -> ${to}`).toBe(from);
      expect(m.state).toBe(to);
    }
  });

  it('refuses every other transition with its coded error naming both states', () => {
    expect(forbidden.length).toBeGreaterThan(0);
    for (const [from, to] of forbidden) {
      const m = t.make(from);
      expect(m.can(to)).toBe(false);
      let thrown: unknown;
      try { m.to(to); } catch (err) { thrown = err; }
      expect(thrown, `${from} -> ${to} was allowed`).toBeInstanceOf(ChatzyoError);
      expect((thrown as ChatzyoError).code).toBe(t.code);
      expect((thrown as ChatzyoError).message).toContain(`from state ${from} to ${to}`);
      expect(m.state).toBe(from);
    }
  });

  it('treats staying in a state the table does not loop on as a no-op', () => {
    for (const s of t.states) {
      if (t.table[s]!.includes(s)) continue;
      const m = t.make(s);
      expect(m.to(s)).toBe(s);
      expect(m.state).toBe(s);
    }
  });
});

describe('a machine in use', () => {
  it('a peer Call moves through its machine and refuses a second start with CHZ_ERR_CALL_STATE', async () => {
    const call = new Call({
      matchId: 'm1', role: 'answerer', iceServers: [], relayOnly: false, videoCodec: 'vp8', sendVideo: false, sendAudio: false,
      sendSignal: () => {}, matchedAt: Date.now(),
    });
    const states: string[] = [];
    call.on('state', (s) => states.push(s));
    try {
      expect(call.state).toBe('new');
      call.start();
      expect(call.state).toBe('negotiating');
      expect(() => call.start()).toThrow(expect.objectContaining({ code: 'CHZ_ERR_CALL_STATE', message: expect.stringContaining('state negotiating') }));
    } finally {
      await withTimeout(call.close(), 5000, 'the call never closed');
    }
    expect(call.state).toBe('closed');
    expect(states).toEqual(['negotiating', 'closed']);
  });

  it('SafetyExchange refuses a second start with CHZ_ERR_SAFETY_STATE naming its state', async () => {
    const ex = new SafetyExchange({ localIdentity: 'sha-256 AA', remoteIdentity: 'sha-256 BB', send: () => {} });
    await ex.start();
    expect(ex.state).toBe('commit-sent');
    await expect(ex.start()).rejects.toMatchObject({ code: 'CHZ_ERR_SAFETY_STATE', message: expect.stringContaining('state commit-sent') });
  });
});
