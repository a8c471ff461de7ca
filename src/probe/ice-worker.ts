/**
 * Worker-thread entry of the end-to-end check: waits for its options, runs {@link checkIce}
 * and posts the result. The probe runs the two werift peers here, not in its own thread,
 * because werift leaves a TURN refresh timer running after a relayed peer connection closes
 * (its `refresh` loop awaits a 5/6-of-lifetime `setTimeout` that close() does not cancel),
 * which would keep a finished `chatzyo probe` alive for minutes; terminating the worker ends
 * every such timer.
 */
import { parentPort } from 'node:worker_threads';
import { checkIce, type IceCheckOptions } from './ice-check.js';

parentPort!.once('message', (opts: IceCheckOptions) => {
  void checkIce(opts).then((result) => parentPort!.postMessage(result));
});
