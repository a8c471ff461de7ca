/**
 * The child-process side of {@link SenderProcess} (src/lab/sender-process.ts): runs the lab's
 * sender ({@link labSenderOptions}) on this process's main thread, as `chatzyo connect` runs its
 * session, its TURN pointed at the host's relay, and tells the host what it does over the IPC
 * channel. Its options come as JSON in the first argument.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import { PeerSession } from '../peer/peer-session.js';
import { raiseThisSession, raiseThisThread, type SessionPriority, type ThreadPriority } from '../peer/thread-priority.js';
import { iceServersThroughRelay } from './ice.js';
import { labSenderOptions, type LabSenderSpec } from './lab-sender.js';
import type { RelayUpstream } from './relay.js';

/** What the sender is (all of it can cross to the child as JSON). */
export interface SenderProcessOptions extends LabSenderSpec {
  /** The lab relay its TURN goes through (its address; the host sets its upstream, told by an `upstream` message). */
  relay: { host: string; port: number };
  /** Post the adaptation snapshot this often, ms (default 250). */
  snapshotMs?: number;
}

/** What the host sends. */
export type SenderOrder = { type: 'close' };
/** What the child answers. */
export type SenderNews =
  /**
   * The session started; `priority`: what became of raising its thread, and `session`, of raising
   * its session's autogroup, as `connect` raises its own (src/peer/thread-priority.ts).
   */
  | { type: 'started'; priority: ThreadPriority; session: SessionPriority }
  | { type: 'failed'; message: string; code?: string }
  /** The TURN server the relay must forward to (the first UDP one the server handed out). */
  | { type: 'upstream'; upstream: RelayUpstream }
  /** Every `snapshotMs`: the adaptation, and the longest its event loop stalled since the last. */
  | { type: 'adaptation'; snapshot: AdaptationSnapshot | null; loopMaxMs: number }
  /** The session ended by itself (not closed by the host): the process exits next. */
  | { type: 'ended'; reason: string; message?: string; code?: string };

const o = JSON.parse(process.argv[2] ?? '{}') as SenderProcessOptions;
const say = (m: SenderNews) => { if (process.connected) process.send!(m); };
// The relay lives on the host's side: this stand-in has its address and asks the host to point it.
const relay = {
  address: o.relay,
  upstream: null as RelayUpstream | null,
  setUpstream(upstream: RelayUpstream) { relay.upstream = upstream; say({ type: 'upstream', upstream }); },
};
// As `chatzyo connect` raises the thread that sends and its session (src/cli/main.ts): before the
// session starts its encoders.
const priority = raiseThisThread();
const sessionPriority = raiseThisSession();
const session = new PeerSession(labSenderOptions(o, (s) => iceServersThroughRelay(s, relay)));
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
const snapshots = setInterval(() => {
  say({ type: 'adaptation', snapshot: session.adaptation, loopMaxMs: loop.max / 1e6 });
  loop.reset();
}, o.snapshotMs ?? 250);
let closing = false;
const stopReporting = () => {
  closing = true;
  clearInterval(snapshots);
  loop.disable();
};
// Once the session has closed, the process exits: werift leaves a TURN refresh timer behind
// that would keep it alive for minutes.
let ending = false;
const end = () => {
  if (ending) return;
  ending = true;
  stopReporting();
  void session.close().finally(() => {
    process.disconnect?.();
    process.exit(0);
  });
};
process.on('message', (m: SenderOrder) => {
  if (m.type === 'close') end();
});
// The host went away (it crashed, or was killed): nothing is left to report to.
process.on('disconnect', end);
let started = false;
void session.done.then((r) => {
  // Before it started, the start's own failure says why (below).
  if (closing || !started) return;
  say({ type: 'ended', reason: r.reason, ...(r.error ? { message: r.error.message, code: r.error.code } : {}) });
  end();
});
try {
  await session.start();
  started = true;
  say({ type: 'started', priority, session: sessionPriority });
} catch (err) {
  // The host ends the process once it has read this (an exit now could overtake the message).
  const e = err as Error & { code?: unknown };
  stopReporting();
  say({ type: 'failed', message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) });
  void session.close();
}
