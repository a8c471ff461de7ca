// Run by thread-priority.test.ts in a session of its own (`detached`: raising the test runner's
// session would raise everything it starts): raises its thread and its session as `connect`
// does, starts a process in the same session, prints one JSON line, and exits, which must put
// the session back.
import { spawn } from 'node:child_process';
import { autogroupNice, raiseThisSession, raiseThisThread, thisSessionPriority } from '../../src/peer/thread-priority.js';

const before = autogroupNice();
const asked = thisSessionPriority();
raiseThisThread();
const result = raiseThisSession();
// A second ask is the first one's answer (a raise again would go further).
const again = raiseThisSession();
const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
await new Promise<void>((resolve, reject) => { sleeper.once('spawn', () => resolve()); sleeper.once('error', reject); });
sleeper.unref();
process.stdout.write(JSON.stringify({ before, askedBefore: asked, result, again, now: autogroupNice(), sleeper: sleeper.pid, sleeperNow: autogroupNice(sleeper.pid!) }) + '\n');
process.exit(0);
