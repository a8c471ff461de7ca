/**
 * The worker-thread side of {@link ThreadedSender} (src/lab/threaded-sender.ts): runs the lab's
 * sender ({@link labSenderOptions}) on this thread's event loop, its TURN pointed at the host's
 * relay, and tells the host what it does.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import { PeerSession } from '../peer/peer-session.js';
import { raiseThisThread, type ThreadPriority } from '../peer/thread-priority.js';
import { iceServersThroughRelay } from './ice.js';
import { labSenderOptions, type LabSenderSpec } from './lab-sender.js';
import type { RelayUpstream } from './relay.js';

/** What the sender is (all of it can cross a thread). */
export interface ThreadedSenderOptions extends LabSenderSpec {
  /** The lab relay its TURN goes through (its address; the host sets its upstream, told by an `upstream` message). */
  relay: { host: string; port: number };
  /** Post the adaptation snapshot this often, ms (default 250). */
  snapshotMs?: number;
}

/** What the host sends. */
export type SenderOrder = { type: 'close' };
/** What the worker answers. */
export type SenderNews =
  /** The session started; `priority`: what became of raising this thread, as `connect` raises its own (src/peer/thread-priority.ts). */
  | { type: 'started'; priority: ThreadPriority }
  | { type: 'failed'; message: string; code?: string }
  /** The TURN server the relay must forward to (the first UDP one the server handed out). */
  | { type: 'upstream'; upstream: RelayUpstream }
  /** Every `snapshotMs`: the adaptation, and the longest this thread's event loop stalled since the last. */
  | { type: 'adaptation'; snapshot: AdaptationSnapshot | null; loopMaxMs: number }
  /** The session ended by itself (not closed by the host): the thread exits next. */
  | { type: 'ended'; reason: string; message?: string; code?: string };

const port = parentPort!;
const o = workerData as ThreadedSenderOptions;
const say = (m: SenderNews) => port.postMessage(m);
// The relay lives on the host's side: this stand-in has its address and asks the host to point it.
const relay = {
  address: o.relay,
  upstream: null as RelayUpstream | null,
  setUpstream(upstream: RelayUpstream) { relay.upstream = upstream; say({ type: 'upstream', upstream }); },
};
// As `chatzyo connect` raises the thread that sends (src/cli/main.ts): before the session starts its encoders.
const priority = raiseThisThread();
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
// Once the session has closed, the thread ends (process.exit in a worker ends the thread alone):
// werift leaves a TURN refresh timer behind that would keep it alive for minutes.
const end = () => {
  stopReporting();
  void session.close().finally(() => {
    port.close();
    process.exit(0);
  });
};
port.on('message', (m: SenderOrder) => {
  if (m.type === 'close') end();
});
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
  say({ type: 'started', priority });
} catch (err) {
  // The host ends the thread once it has read this (an exit now could overtake the message).
  const e = err as Error & { code?: unknown };
  stopReporting();
  say({ type: 'failed', message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) });
  void session.close();
}
