/**
 * Worker-thread entry of the bots: runs a {@link WorkerHost} for the plan in `workerData` and
 * talks to the controller by messages. The controller terminates the thread after `done`,
 * which also ends timers werift leaves behind after a call closes (see src/probe/ice-worker.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WorkerHost, type ControllerMessage, type WorkerMessage, type WorkerPlan } from './worker-host.js';

const plan = workerData as WorkerPlan;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const host = new WorkerHost(plan, post);

parentPort!.on('message', (m: ControllerMessage) => {
  if (m.type === 'go') host.go(m.t0);
  else if (m.type === 'stop') void host.stop(m.serverGone);
});

try {
  await host.prepare();
  post({ type: 'ready', index: plan.index });
} catch (err) {
  post({ type: 'fatal', index: plan.index, code: (err as { code?: string }).code ?? 'CHZ_ERR_BOT_INTERNAL', message: (err as Error).message });
}
