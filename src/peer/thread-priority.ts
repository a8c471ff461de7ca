/**
 * The sending thread's scheduling priority. A call's audio leaves every 20 ms from the thread
 * that runs werift (the `connect` process's main thread; the lab sender's worker thread), and a
 * packet the thread sends late reaches the partner late: its jitter buffer, and lip sync with it,
 * grows by what the thread was kept from running. On a busy machine the thread shares the CPUs
 * with its own encoders (one ffmpeg per rung, plus the spare each keeps warm) and whatever else
 * runs there. Chromium raises its WebRTC worker-and-network thread to nice -8 ("display"
 * priority) when the system lets it (root, or CAP_SYS_NICE, or an RLIMIT_NICE that allows it),
 * and its audio threads further; chatzyo asks the same for its sending thread ({@link SENDING_RAISE}
 * steps above the priority it was started with: -8 from the ordinary 0), and goes on at the
 * priority it had when it may not.
 *
 * On Linux the nice value belongs to each thread: `os.setPriority(0, n)` (setpriority with pid 0)
 * sets the calling thread's, and a thread or process started from it inherits it. So everything
 * the raised thread starts afterwards is put back at the ordinary priority: the encoders and the
 * other ffmpeg processes ({@link lowerChild}, and the spawner's thread, which lowers itself to
 * {@link ordinaryNice}), so that the thread whose timing matters is the only one raised. Other
 * systems set a whole process's priority with that call, so nothing is raised there.
 *
 * A thread's nice value ranks it only among the threads of its own session where Linux's
 * autogroups are on (`kernel.sched_autogroup_enabled`, the default of most kernels): the CPUs are
 * shared fairly between sessions first, each session's group weighted by its own nice value
 * (sched(7), "The autogroup feature"). Raised to -8 but in a session of ordinary weight, the lab's
 * sender stood runnable and not running for 50-150 ms at a time, a few times in every call on a
 * loaded machine, whenever its session as a whole had had its share (its run-queue wait, read from
 * /proc's schedstat: 0.5-1.4 s a call in all, in stalls of 12 ms or more); a browser is a session
 * of its own. So the sender raises its session's group as far ({@link raiseThisSession}), with the
 * same permission, and puts it back as the process exits: the session may be the shell's it was
 * started from, which would otherwise keep the weight after it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/**
 * How far the thread is raised: 8 steps above the priority the process was started with, to nice
 * -8 from the ordinary 0 (Chromium's for its WebRTC thread, "display" priority). Relative, so a
 * peer started with `nice -n 19` stays below ordinary work, as its user asked.
 */
export const SENDING_RAISE = 8;
/** The lowest nice value there is (the highest priority). */
const HIGHEST = -20;

/** What became of the ask. */
export interface ThreadPriority {
  /** The thread's nice value now. */
  nice: number;
  /** It was raised (false: it may not be, on this system or for this user, or it already ran at the highest priority). */
  raised: boolean;
  /** Why not, when not: the system's error code (EACCES, EPERM), `platform` off Linux, or `highest`. */
  reason?: string;
}

/** This thread's nice value before it was raised (null: not raised). Module state: one per thread, as the nice value is. */
let ordinary: number | null = null;
/** What the first {@link raiseThisThread} on this thread came to (null: never asked). */
let asked: ThreadPriority | null = null;

/**
 * Raises the calling thread `by` steps (default {@link SENDING_RAISE}) above its priority, at
 * most to the highest, when the system lets it. Never throws: not allowed, it stays as it was.
 * Once per thread: a second call returns what the first came to (it would raise again).
 */
export function raiseThisThread(by = SENDING_RAISE): ThreadPriority {
  asked ??= tryRaise(by);
  return asked;
}

/** What {@link raiseThisThread} came to on this thread; null when it was never asked. */
export function thisThreadPriority(): ThreadPriority | null {
  return asked;
}

function tryRaise(by: number): ThreadPriority {
  if (process.platform !== 'linux') return { nice: safeGetPriority(), raised: false, reason: 'platform' };
  const before = safeGetPriority();
  const nice = Math.max(HIGHEST, before - by);
  if (nice >= before) return { nice: before, raised: false, reason: 'highest' };
  try {
    os.setPriority(0, nice);
  } catch (err) {
    // Node's SystemError: `code` is ERR_SYSTEM_ERROR, the system's own (EACCES, EPERM) is in `info`.
    const e = err as NodeJS.ErrnoException & { info?: { code?: string } };
    return { nice: before, raised: false, reason: e.info?.code ?? e.code ?? 'error' };
  }
  ordinary ??= before;
  return { nice: safeGetPriority(), raised: true };
}

/** The nice value helper threads and child processes should run at: this thread's before it was raised. */
export function ordinaryNice(): number {
  return ordinary ?? safeGetPriority();
}

/**
 * Puts a child process this thread started back at {@link ordinaryNice} (it inherited the raised
 * value). Nothing when this thread was not raised; a child that has already exited is no error.
 */
export function lowerChild(pid: number | undefined): void {
  if (ordinary === null || pid === undefined) return;
  try {
    os.setPriority(pid, ordinary);
  } catch {
    // Exited already (ESRCH): nothing to lower.
  }
}

/** Sets the calling thread to `nice` when it runs above it (a helper thread started from a raised one). */
export function lowerThisThread(nice: number): void {
  if (process.platform !== 'linux' || safeGetPriority() >= nice) return;
  try {
    os.setPriority(0, nice);
  } catch {
    // Lowering is always allowed; a failure leaves the thread as it was.
  }
}

function safeGetPriority(): number {
  try {
    return os.getPriority(0);
  } catch {
    return 0;
  }
}

/** What became of raising this process's session (its autogroup). */
export interface SessionPriority {
  /** The session's autogroup nice value now; null without autogroups. */
  nice: number | null;
  /** It was raised (false: autogroups are off here, or it may not be, or it already ran at or above the target). */
  raised: boolean;
  /** Why not, when not: `no-autogroup` (autogroups off, or this process is in init's session), the system's error code (EACCES, EPERM), or `already` (at or above the target). */
  reason?: string;
}

const AUTOGROUP = '/proc/self/autogroup';
/** What the first {@link raiseThisSession} of this process came to (null: never asked). */
let sessionAsked: SessionPriority | null = null;

/**
 * Raises this process's session (its autogroup, see the module's comment) to `by` steps
 * (default {@link SENDING_RAISE}) above this thread's ordinary priority, when autogroups are on
 * and the system lets it, and puts the session back as this process exits. Never throws. Once per
 * process; a session another process raised as far already is left as it is.
 */
export function raiseThisSession(by = SENDING_RAISE): SessionPriority {
  sessionAsked ??= tryRaiseSession(by);
  return sessionAsked;
}

/** What {@link raiseThisSession} came to in this process; null when it was never asked. */
export function thisSessionPriority(): SessionPriority | null {
  return sessionAsked;
}

/** Whether Linux's autogroups are on (`kernel.sched_autogroup_enabled`): a new session gets a group of its own. */
export function autogroupsEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * The session's autogroup nice value (proc(5): "/autogroup-N nice V"); null without autogroups,
 * and for a process in init's session, which has no group of its own (its file reads empty): a
 * process a supervisor starts without a session of its own runs there, its threads each weighed
 * against whole sessions, so its thread's raise holds as it is.
 */
export function autogroupNice(pid: number | 'self' = 'self'): number | null {
  if (!autogroupsEnabled()) return null;
  try {
    const m = / nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function tryRaiseSession(by: number): SessionPriority {
  const before = autogroupNice();
  if (before === null) return { nice: null, raised: false, reason: 'no-autogroup' };
  const target = Math.max(HIGHEST, ordinaryNice() - by);
  if (before <= target) return { nice: before, raised: false, reason: 'already' };
  try {
    writeFileSync(AUTOGROUP, String(target));
  } catch (err) {
    return { nice: before, raised: false, reason: (err as NodeJS.ErrnoException).code ?? 'error' };
  }
  // Synchronously on the way out (an 'exit' listener may not wait): the session is as it was.
  process.once('exit', () => {
    try {
      writeFileSync(AUTOGROUP, String(before));
    } catch {
      // The session's group is as it was left; nothing more to do on the way out.
    }
  });
  return { nice: target, raised: true };
}
