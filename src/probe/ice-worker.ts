/**
 * Worker-thread entry of the end-to-end check: waits for the calls' options, runs them with
 * {@link checkIce} at once and posts the results. The probe runs the two werift peers here, not in its own thread,
 * because werift leaves a TURN refresh timer running after a relayed peer connection closes
 * (its `refresh` loop awaits a 5/6-of-lifetime `setTimeout` that close() does not cancel),
 * which would keep a finished `chatzyo probe` alive for minutes; terminating the worker ends
 * every such timer.
 */
import { parentPort } from 'node:worker_threads';
import { checkIce, type IceCheckOptions } from './ice-check.js';

parentPort!.once('message', (calls: IceCheckOptions[]) => {
  void Promise.all(calls.map((c) => checkIce(c))).then((results) => parentPort!.postMessage(results));
});
