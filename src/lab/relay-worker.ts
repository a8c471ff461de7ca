/**
 * The worker-thread side of {@link ThreadedRelay} (src/lab/threaded-relay.ts): runs an
 * {@link ImpairmentRelay} on this thread's event loop and takes its orders by message.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { raiseThisThread, type ThreadPriority } from '../peer/thread-priority.js';
import type { NetworkProfile } from './profiles.js';
import { ImpairmentRelay, type RelayOptions, type RelayUpstream } from './relay.js';

/** What the host sends. */
export type RelayOrder = { type: 'upstream'; upstream: RelayUpstream } | { type: 'profile'; profile: NetworkProfile } | { type: 'watch-lag' } | { type: 'close' };
/** What the worker answers. */
export type RelayNews =
  /** Relaying; `priority`: what became of raising this thread (below). */
  | { type: 'ready'; address: { host: string; port: number }; priority: ThreadPriority }
  | { type: 'failed'; message: string }
  /** Every 250 ms once asked (`watch-lag`): the longest this thread's event loop stalled, and the most a packet left after its due time, ms. */
  | { type: 'lag'; loopMaxMs: number; lateMaxMs: number };

const port = parentPort!;
const say = (m: RelayNews) => port.postMessage(m);
try {
  // The relay is the network: its delay line runs on this thread's timers, and a thread kept from
  // running lets packets out late, a queue no profile has, which any sender behind it reads as
  // congestion. Raised as the senders' threads are (as `connect` raises its own), so on a loaded
  // machine the CPU goes to it before the peers' encoders and browsers: packets let out late at
  // the median of 250 ms samples 5.7 ms against 8.3, p99 95 against 136, more than 100 ms late 6
  // times in 10 calls against 12 (bench:quality good beside one busy process, alternating arms).
  const priority = raiseThisThread();
  const relay = await ImpairmentRelay.start(workerData as RelayOptions);
  // Watching the lag wakes this thread every 5 ms (the loop monitor): only for a host that asks.
  let watch: { loop: IntervalHistogram; timer: NodeJS.Timeout } | null = null;
  const watchLag = () => {
    if (watch) return;
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const timer = setInterval(() => {
      say({ type: 'lag', loopMaxMs: loop.max / 1e6, lateMaxMs: relay.takeLateMaxMs() });
      loop.reset();
    }, 250);
    timer.unref();
    watch = { loop, timer };
  };
  port.on('message', (m: RelayOrder) => {
    if (m.type === 'upstream') relay.setUpstream(m.upstream);
    else if (m.type === 'profile') relay.setProfile(m.profile);
    else if (m.type === 'watch-lag') watchLag();
    // The host waits for the thread's exit, which closing the port lets happen.
    else {
      if (watch) { clearInterval(watch.timer); watch.loop.disable(); }
      void relay.close().then(() => port.close());
    }
  });
  say({ type: 'ready', address: relay.address, priority });
} catch (err) {
  say({ type: 'failed', message: (err as Error).message });
  port.close();
}
