/**
 * /proc stat reading (src/peer/proc-stat.ts), which the bots' CPU figures, the benchmarks and the
 * thread-priority tests rest on: a command name with spaces and parentheses does not shift the
 * fields, CPU time grows with work, and a process that is gone reads as null.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parentPid, processCpuMs, readProcStat } from '../../src/peer/proc-stat.js';
import { withTimeout } from '../helpers/deadline.js';

describe('/proc stat', () => {
  it('reads the fields after a command name holding ") (" and spaces', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chz-stat-'));
    const bin = path.join(dir, 'a) (b c');
    copyFileSync('/bin/sleep', bin);
    const child = spawn(bin, ['30'], { stdio: 'ignore' });
    try {
      await withTimeout(new Promise((resolve) => child.once('spawn', resolve)), 5_000, 'the child starts');
      const st = readProcStat(`/proc/${child.pid}/stat`)!;
      expect(st.comm).toBe('a) (b c');
      expect(st.fields[0]).toMatch(/^[RSD]$/); // field 3, the state
      expect(parentPid(child.pid!)).toBe(process.pid);
      expect(processCpuMs(child.pid)).toBeGreaterThanOrEqual(0);
    } finally {
      child.kill('SIGKILL');
      await withTimeout(new Promise((resolve) => child.once('exit', resolve)), 5_000, 'the child exits');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(readProcStat(`/proc/${child.pid}/stat`)).toBeNull();
    expect(processCpuMs(child.pid)).toBeNull();
    expect(processCpuMs(undefined)).toBeNull();
  });

  it("counts this process's CPU time as it works", () => {
    const before = processCpuMs(process.pid)!;
    const t0 = process.cpuUsage();
    let x = 0;
    // Busy for 150 ms of CPU (bounded by the CPU clock, not by wall time).
    while ((process.cpuUsage(t0).user + process.cpuUsage(t0).system) < 150_000) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(processCpuMs(process.pid)! - before).toBeGreaterThanOrEqual(100);
  });
});
