/** Nice values of processes and threads, read from /proc (Linux): what tests of src/peer/thread-priority.ts check. */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat (or /proc/PID/task/TID/stat) after the command's name. */
function statFields(path: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null; // exited
  }
  // The name is in parentheses and may hold spaces or parentheses itself: the fields start after the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
}

/** A process's (or one of its threads') nice value; null once it has exited. Field 19 of proc(5)'s stat; the name is field 2. */
export function niceOf(pid: number, tid?: number): number | null {
  const f = statFields(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`);
  return f ? Number(f[16]) : null;
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
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    const f = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
    if (Number(f[1]) === pid) out.push({ pid: Number(entry), comm, nice: Number(f[16]) });
  }
  return out;
}
