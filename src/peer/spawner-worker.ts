/**
 * The thread behind {@link Spawner} (src/peer/spawner.ts): it starts processes when asked, and
 * reports what becomes of them. Its own event loop is the one a spawn blocks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parentPort, workerData } from 'node:worker_threads';
import type { SpawnerNews, SpawnerOrder } from './spawner.js';
import { lowerThisThread } from './thread-priority.js';

/** Of a process's stderr, the tail kept for its error message, characters. */
const STDERR_TAIL = 2000;

// Started from a raised sending thread, this thread inherited its priority, and every process it
// starts would: back to the ordinary one first (src/peer/thread-priority.ts).
lowerThisThread((workerData as { nice?: number } | null)?.nice ?? 0);

const port = parentPort!;
const say = (m: SpawnerNews) => port.postMessage(m);
const procs = new Map<number, ChildProcess>();

port.on('message', (m: SpawnerOrder) => {
  if (m.type === 'kill') {
    procs.get(m.id)?.kill(m.signal);
    return;
  }
  let p: ChildProcess;
  try {
    p = spawn(m.file, m.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    say({ type: 'error', id: m.id, message: e.message, ...(e.code ? { code: e.code } : {}) });
    say({ type: 'close', id: m.id, code: null, signal: null, stderr: '' });
    return;
  }
  procs.set(m.id, p);
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-STDERR_TAIL); });
  p.once('spawn', () => say({ type: 'spawn', id: m.id, pid: p.pid! }));
  p.on('error', (err: NodeJS.ErrnoException) => say({ type: 'error', id: m.id, message: err.message, ...(err.code ? { code: err.code } : {}) }));
  p.once('exit', (code, signal) => say({ type: 'exit', id: m.id, code, signal }));
  p.once('close', (code, signal) => {
    procs.delete(m.id);
    say({ type: 'close', id: m.id, code, signal, stderr });
  });
});
