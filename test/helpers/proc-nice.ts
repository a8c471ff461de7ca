/** Nice values of processes and threads, read from /proc (Linux): what tests of src/peer/thread-priority.ts check. */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { expect } from 'vitest';
import { readProcStat } from '../../src/peer/proc-stat.js';
import { autogroupsEnabled, SENDING_RAISE } from '../../src/peer/thread-priority.js';

/** A process's (or one of its threads') nice value; null once it has exited. Field 19 of proc(5)'s stat; the name is field 2. */
export function niceOf(pid: number, tid?: number): number | null {
  const st = readProcStat(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`);
  return st ? Number(st.fields[16]) : null;
}

/** Each thread of a process with its nice value. */
export function threadNices(pid: number): { tid: number; nice: number }[] {
  const out: { tid: number; nice: number }[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const nice = niceOf(pid, Number(t));
    if (nice !== null) out.push({ tid: Number(t), nice });
  }
  return out;
}

/** The processes whose parent is `pid`, with their command name and nice value. */
export function childNices(pid: number): { pid: number; comm: string; nice: number }[] {
  const out: { pid: number; comm: string; nice: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readProcStat(`/proc/${entry}/stat`);
    if (st && Number(st.fields[1]) === pid) out.push({ pid: Number(entry), comm: st.comm, nice: Number(st.fields[16]) });
  }
  return out;
}

/**
 * Whether this process may set a thread's nice value down to `nice` (Linux, sched(7)): with
 * CAP_SYS_NICE in its effective set (root, unless a container dropped it), or when its
 * RLIMIT_NICE allows it (the ceiling is 20 less the limit).
 */
export function mayRaiseTo(nice: number): boolean {
  const status = readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const CAP_SYS_NICE = 23n;
  if (capEff && ((BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) === 1n) return true;
  const limit = /^Max nice priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  const rlim = limit === undefined ? 0 : limit === 'unlimited' ? 40 : Number(limit);
  return nice >= 20 - rlim;
}

/**
 * What raising a thread as the sending thread is raised (src/peer/thread-priority.ts) comes to
 * here, from `ordinary` (this thread's nice value): `nice`, the value it would reach, and
 * `mayRaise`, whether this process may go there.
 */
export function sendingRaise(ordinary = os.getPriority(0)): { ordinary: number; nice: number; mayRaise: boolean } {
  const nice = Math.max(-20, ordinary - SENDING_RAISE);
  return { ordinary, nice, mayRaise: nice < ordinary && mayRaiseTo(nice) };
}

/**
 * What a thread raised as the sending thread reports (its ThreadPriority): raised to
 * {@link sendingRaise}'s value where this process may, left at `ordinary` otherwise.
 */
export function expectedSendingPriority(ordinary = os.getPriority(0)): unknown {
  const r = sendingRaise(ordinary);
  return r.mayRaise ? { nice: r.nice, raised: true } : expect.objectContaining({ nice: ordinary, raised: false });
}

/**
 * What a process raising its session as `connect` does (src/peer/thread-priority.ts,
 * raiseThisSession) reports, from a fresh session of its own (autogroup nice 0): raised as far as
 * its thread where autogroups are on and this process may, left as it was otherwise.
 */
export function expectedSessionPriority(ordinary = os.getPriority(0)): unknown {
  // Whether a fresh session gets a group, not whether this one has: the test runner may be in
  // init's session, which has none (CI's machine), while the process it starts detached has one.
  if (!autogroupsEnabled()) return { nice: null, raised: false, reason: 'no-autogroup' };
  const r = sendingRaise(ordinary);
  return r.mayRaise && r.nice < 0 ? { nice: r.nice, raised: true } : expect.objectContaining({ raised: false });
}
