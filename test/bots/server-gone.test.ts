// The server goes away mid-run: the bots end at once with failures counted by phase, not a hang.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { BotsProgress } from '../../src/bots/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { runBotsFor } from './helpers.js';

const RUNNER = path.resolve(fileURLToPath(import.meta.url), '../../cli/run-cli.ts');
let children: ChildProcess[] = [];
let servers: SignalServer[] = [];
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children = [];
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** `chatzyo serve` in its own process (from source), so it can be SIGKILLed. */
async function childServer(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', RUNNER, 'serve', '--host', '127.0.0.1', '--port', '0', '--stun-port', '0', '--json',
    '--log-level', 'silent', '--max-connections-per-address', '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const line = await withTimeout(new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); });
    proc.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
  }), 20_000, 'child server listening');
  return { url: (JSON.parse(line) as { url: string }).url, proc };
}

describe('the server goes away', () => {
  it('SIGKILL mid-run: media bots stop within seconds; the bot waiting for a partner fails in the match phase', async () => {
    const { url, proc } = await childServer();
    let killedAt = 0;
    // 5 bots in one hub: two pairs stream, the fifth waits alone. Then the server dies.
    const { summary, progress } = await runBotsFor({ servers: [url], count: 5, mode: 'media', rampPerSecond: 20, durationS: 120 }, 60_000, (p) => {
      if (!killedAt && p.states.streaming === 4 && p.states.queued === 1) {
        killedAt = Date.now();
        proc.kill('SIGKILL');
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(summary.endReason).toBe('server-gone');
    expect(summary.serverGone).toEqual({ server: url, code: 1006 });
    expect(summary.connected).toBe(4);
    expect(summary.failed, JSON.stringify(summary)).toEqual({ signal: 0, match: 1, exchange: 0, ice: 0, dtls: 0, media: 0 });
    expect(summary.failureCodes).toEqual({ CHZ_ERR_BOT_SERVER_LOST: 1 });
    expect(summary.passed).toBe(false);
    expect(summary.thresholds.find((t) => t.name === 'server-stayed-up')?.passed).toBe(false);
    expect(progress.at(-1)!.stopping).toBe('server-gone');
  });

  it('a shutdown (close 4005) during the ramp: bots not started are not counted as failures, bots waiting or negotiating are', async () => {
    const s = await startServer({ maxConnectionsPerAddress: 5000 });
    servers.push(s);
    let closing = false;
    const { summary } = await runBotsFor({ servers: [s.url], count: 401, mode: 'signal', rampPerSecond: 100 }, 30_000, (p: BotsProgress) => {
      if (!closing && p.connectedBots >= 100) { closing = true; void s.close(); }
    });
    expect(summary.endReason).toBe('server-gone');
    expect(summary.serverGone?.code).toBe(4005);
    expect(summary.notStarted).toBeGreaterThan(100);
    expect(summary.started + summary.notStarted).toBe(401);
    expect(summary.serverErrors.CHZ_ERR_SERVER_SHUTDOWN).toBeGreaterThan(0);
    // Every failure is in a phase a bot was in when the server left, with the code that says so.
    expect(summary.failed.ice + summary.failed.dtls + summary.failed.media).toBe(0);
    const failed = summary.failed.signal + summary.failed.match + summary.failed.exchange;
    expect(summary.attempts.failed).toBe(failed);
    expect(summary.attempts.succeeded).toBe(summary.connected);
    for (const code of Object.keys(summary.failureCodes)) expect(['CHZ_ERR_BOT_SERVER_LOST', 'CHZ_ERR_BOT_SIGNAL_FAILED', 'CHZ_ERR_BOT_REJECTED']).toContain(code);
  });
});
