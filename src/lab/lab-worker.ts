/**
 * Starts one of the lab's worker threads (the relay's, the sender's) from the compiled .js; from
 * the .ts source (under tsx, whose loader a worker does not inherit), through a bootstrap that
 * registers tsx's loader first.
 */
import { Worker } from 'node:worker_threads';

/** `name` is the worker's module beside this one, without its extension. */
export function startLabWorker(name: string, workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, import.meta.url), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData });
}
