/**
 * A process's (or thread's) /proc stat file, read the one way (Linux; see proc(5)): what the bots
 * and the benchmarks measure CPU time with, and what the tests read nice values from.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * A stat file's command name and its fields from field 3 (the state) on; null when it cannot
 * be read (the process has exited, or no /proc). The name is in parentheses and may hold spaces
 * or parentheses itself: the fields start after the last ')'.
 */
export function readProcStat(path: string): { comm: string; fields: string[] } | null {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  return { comm: text.slice(text.indexOf('(') + 1, close), fields: text.slice(close + 2).trim().split(' ') };
}

/** CPU time (user + system, fields 14 and 15) of a live process, ms; null once it is gone or elsewhere than Linux. */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const st = readProcStat(`/proc/${pid}/stat`);
  const ticks = st ? Number(st.fields[11]) + Number(st.fields[12]) : NaN;
  return Number.isFinite(ticks) ? (ticks * 1000) / USER_HZ : null;
}

/** The parent's pid of a live process (field 4); null once it is gone. */
export function parentPid(pid: number): number | null {
  const st = readProcStat(`/proc/${pid}/stat`);
  return st ? Number(st.fields[1]) : null;
}
