/**
 * The Spawner (src/peer/spawner.ts): processes started from a worker thread, reported as a
 * ChildProcess would be: pid, exit and close with code or signal and stderr's tail, a failed
 * start as an error with its code, and kill.
 */
import { describe, expect, it } from 'vitest';
import { Spawner, type SpawnedProcess } from '../../src/peer/spawner.js';
import { resolveFfmpeg } from '../../src/peer/index.js';
import { withTimeout } from '../helpers/deadline.js';

/** What became of a process: its events in order, with their arguments. */
function record(p: SpawnedProcess): { events: string[]; closed: Promise<void> } {
  const events: string[] = [];
  p.on('spawn', () => events.push(`spawn ${typeof p.pid}`));
  p.on('error', (err) => events.push(`error ${err.code ?? ''}`));
  p.on('exit', (code, signal) => events.push(`exit ${code} ${signal}`));
  const closed = new Promise<void>((resolve) => p.on('close', (code, signal) => { events.push(`close ${code} ${signal}`); resolve(); }));
  return { events, closed };
}

describe('Spawner', () => {
  it('returns before the process is started, then reports its pid, exit code and stderr\'s tail', async () => {
    const ffmpeg = resolveFfmpeg().path;
    const p = Spawner.shared().spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', '/nonexistent/chatzyo-input.webm']);
    // Started elsewhere: no pid yet when spawn() returns.
    expect(p.pid).toBeUndefined();
    const r = record(p);
    await withTimeout(r.closed, 10_000, 'ffmpeg closes');
    expect(r.events).toEqual(['spawn number', 'exit 1 null', 'close 1 null']);
    expect(p.pid).toBeGreaterThan(0);
    expect(p.exitCode).toBe(1);
    expect(p.stderr).toContain('chatzyo-input.webm');
  });

  it('kills a process on request, and says it ended by that signal', async () => {
    const ffmpeg = resolveFfmpeg().path;
    const p = Spawner.shared().spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'nullsrc=s=16x16:r=5', '-f', 'null', '-']);
    const r = record(p);
    await withTimeout(new Promise((resolve) => p.once('spawn', () => resolve(undefined))), 10_000, 'ffmpeg starts');
    expect(() => process.kill(p.pid!, 0)).not.toThrow();
    p.kill('SIGKILL');
    await withTimeout(r.closed, 10_000, 'ffmpeg closes');
    expect(p.signalCode).toBe('SIGKILL');
    expect(r.events.slice(1)).toEqual(['exit null SIGKILL', 'close null SIGKILL']);
    expect(() => process.kill(p.pid!, 0)).toThrow();
    // Once it exited, kill does nothing (its pid may be someone else's by now).
    p.kill();
  });

  it('reports a program that cannot be started as an error with its code, then a close with no exit', async () => {
    const p = Spawner.shared().spawn('/nonexistent/chatzyo-no-such-program', []);
    const r = record(p);
    await withTimeout(r.closed, 10_000, 'the failed start closes');
    expect(r.events).toEqual(['error ENOENT', 'close -2 null']);
    expect(p.pid).toBeUndefined();
  });
});
