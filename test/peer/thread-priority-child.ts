// Run by thread-priority.test.ts in a process of its own (raising a thread of the test runner would
// leak into everything it starts): raises its main thread, starts processes three ways, and
// prints one JSON line with the nice values /proc shows.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { lowerChild, raiseThisThread, thisThreadPriority } from '../../src/peer/thread-priority.js';
import { Spawner } from '../../src/peer/spawner.js';
import { childNices, threadNices } from '../helpers/proc-nice.js';

const before = os.getPriority(0);
// The threads Node runs beside the main one (V8's platform workers, libuv's): they must keep their priority.
const earlier = threadNices(process.pid).map((t) => t.tid).filter((tid) => tid !== process.pid);
const asked = thisThreadPriority();
const result = raiseThisThread();
const started = (p: ChildProcess) => new Promise<number>((resolve, reject) => { p.once('spawn', () => resolve(p.pid!)); p.once('error', reject); });
// A child started from the raised thread, as it is.
const inherited = spawn('sleep', ['30'], { stdio: 'ignore' });
// One put back by lowerChild, as media-source.ts, stamp-reader.ts and fidelity.ts do.
const lowered = spawn('sleep', ['30'], { stdio: 'ignore' });
lowerChild(lowered.pid);
// One started by the Spawner's thread, as the rung encoders are.
const viaSpawner = Spawner.shared().spawn('sleep', ['30']);
const [inheritedPid, loweredPid, spawnerPid] = await Promise.all([
  started(inherited), started(lowered),
  new Promise<number>((resolve, reject) => { viaSpawner.once('spawn', () => resolve(viaSpawner.pid!)); viaSpawner.once('error', reject); }),
]);
const kids = childNices(process.pid);
const niceOfKid = (pid: number) => kids.find((k) => k.pid === pid)?.nice ?? null;
process.stdout.write(JSON.stringify({
  before,
  askedBefore: asked,
  result,
  thisThread: os.getPriority(0),
  otherThreads: earlier.length,
  otherThreadsChanged: threadNices(process.pid).filter((t) => earlier.includes(t.tid) && t.nice !== before).length,
  inherited: niceOfKid(inheritedPid),
  lowered: niceOfKid(loweredPid),
  spawner: niceOfKid(spawnerPid),
}) + '\n');
inherited.kill();
lowered.kill();
viaSpawner.kill('SIGTERM');
await new Promise<void>((resolve) => viaSpawner.once('close', () => resolve()));
process.exit(0);
