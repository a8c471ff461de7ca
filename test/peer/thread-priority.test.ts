/**
 * The sending thread's priority (src/peer/thread-priority.ts): raised as a browser raises its
 * WebRTC thread when the system lets it, that thread alone, and what it starts afterwards (the
 * encoders, through the Spawner's thread or directly) back at the ordinary priority. Its session
 * (its autogroup) raised as far where autogroups are on, and put back as the process exits.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { autogroupNice, SENDING_RAISE } from '../../src/peer/thread-priority.js';
import { mayRaiseTo } from '../helpers/proc-nice.js';
import { withTimeout } from '../helpers/deadline.js';

const CHILD = path.resolve(fileURLToPath(import.meta.url), '../thread-priority-child.ts');
const SESSION_CHILD = path.resolve(fileURLToPath(import.meta.url), '../session-priority-child.ts');

/** Runs a child script to its end; its one JSON line. `detached`: in a session of its own. */
async function runChild(script = CHILD, detached = false): Promise<Record<string, unknown>> {
  const p = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], detached });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await withTimeout(new Promise<number | null>((resolve) => p.once('exit', resolve)), 30_000, 'the child exits');
  expect(code, err).toBe(0);
  return JSON.parse(out.trim()) as Record<string, unknown>;
}

describe('raising the sending thread', () => {
  it('raises the calling thread alone; a child it starts inherits it unless lowered, and the Spawner\'s children run at the ordinary priority', async () => {
    const r = await runChild();
    expect(r.askedBefore).toBeNull();
    const ordinary = r.before as number;
    const raised = Math.max(-20, ordinary - SENDING_RAISE);
    // A process with CAP_SYS_NICE (root, as CI runs) or a generous RLIMIT_NICE may raise a thread; another, by default, may not.
    if (raised < ordinary && mayRaiseTo(raised)) {
      expect(r.result).toEqual({ nice: raised, raised: true });
      expect(r.thisThread).toBe(raised);
      expect(r.otherThreads).toBeGreaterThan(0);
      expect(r.otherThreadsChanged).toBe(0);
      // Inherited by a child as it is: why the encoders must be put back.
      expect(r.inherited).toBe(raised);
      expect(r.lowered).toBe(ordinary);
      expect(r.spawner).toBe(ordinary);
    } else {
      expect(r.result).toMatchObject({ nice: ordinary, raised: false, reason: expect.stringMatching(/^(EACCES|EPERM|highest)$/) });
      expect(r.thisThread).toBe(ordinary);
      expect([r.inherited, r.lowered, r.spawner]).toEqual([ordinary, ordinary, ordinary]);
    }
  });

  it('raises its session as far where autogroups are on, once, and puts it back as the process exits', async () => {
    const r = await runChild(SESSION_CHILD, true);
    const sleeper = r.sleeper as number;
    try {
      expect(r.askedBefore).toBeNull();
      expect(r.again).toEqual(r.result);
      // A fresh session: its autogroup is at 0, or there are no autogroups here at all.
      if (r.before === null) {
        expect(r.result).toEqual({ nice: null, raised: false, reason: 'no-autogroup' });
        return;
      }
      expect(r.before).toBe(0);
      const target = Math.max(-20, os.getPriority(0) - SENDING_RAISE);
      if (mayRaiseTo(target) && target < 0) {
        expect(r.result).toEqual({ nice: target, raised: true });
        // The whole session's group: what runs beside it in the session shares it.
        expect(r.now).toBe(target);
        expect(r.sleeperNow).toBe(target);
        // The process has exited: the session (the sleeper is still in it) is as it was.
        expect(autogroupNice(sleeper)).toBe(0);
      } else {
        expect(r.result).toMatchObject({ nice: 0, raised: false, reason: expect.stringMatching(/^(EACCES|EPERM|already)$/) });
        expect(autogroupNice(sleeper)).toBe(0);
      }
    } finally {
      try { process.kill(sleeper); } catch { /* gone already */ }
    }
  });
});
