/** Starts a real redis-server on a free loopback port (no persistence) and stops it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { withTimeout } from './deadline.js';
import { serverPort } from './ports.js';

export interface RedisServer {
  port: number;
  url: string;
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port (after stop). */
  restart(): Promise<void>;
  flush(): Promise<void>;
}

/** A free loopback TCP port. */
/** A free loopback TCP port for a server another process binds (see ports.ts). */
export function freeTcpPort(): Promise<number> {
  return serverPort();
}

function launch(port: number, dir: string, persistent: boolean): Promise<ChildProcess> {
  // persistent: an append-only file, so a restart (SIGTERM flushes it) keeps the streams, cursors and matches.
  const aof = persistent ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...aof, '--dir', dir, '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return withTimeout(new Promise<ChildProcess>((resolve, reject) => {
    proc.stdout!.on('data', (d) => { log += d; if (/Ready to accept connections/.test(log)) resolve(proc); });
    proc.once('error', (e) => reject(new Error(`redis-server could not start (${e.message}); install redis-server`)));
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${log.slice(-1000)}`)));
  }), 10_000, 'redis-server start');
}

/** Sends one inline command and resolves with the reply's first line. */
function command(port: number, cmd: string): Promise<string> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`${cmd}\r\n`));
    s.once('data', (d) => { resolve(d.toString().split('\r\n')[0]!); s.end(); });
    s.once('error', reject);
  }), 5000, `redis ${cmd}`);
}

/** Starts redis-server on a free loopback port; `persistent` keeps its data across restart(). */
export async function startRedis(opts: { persistent?: boolean } = {}): Promise<RedisServer> {
  const persistent = opts.persistent ?? false;
  const port = await freeTcpPort();
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-redis-'));
  const r: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    proc: await launch(port, dir, persistent),
    async stop(signal = 'SIGTERM') {
      const p = r.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((res) => p.once('exit', res));
      p.kill(signal);
      await withTimeout(exited, 5000, 'redis stop');
    },
    async restart() {
      r.proc = await launch(port, dir, persistent);
    },
    async flush() {
      const reply = await command(port, 'FLUSHALL');
      if (reply !== '+OK') throw new Error(`FLUSHALL: ${reply}`);
    },
  };
  const stop = r.stop;
  r.stop = async (signal) => { await stop(signal); };
  process.once('exit', () => { try { r.proc.kill('SIGKILL'); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); });
  return r;
}

/**
 * A redis-server for the file's tests (started before them, stopped after) and an admin client
 * to look inside it. Read `redis` and `admin` inside tests, not at registration.
 */
export function useRedisWithAdmin(): { readonly redis: RedisServer; readonly admin: Redis } {
  let redis: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });
  return {
    get redis() { if (!redis) throw new Error('redis-server is not started yet'); return redis; },
    get admin() { if (!admin) throw new Error('redis-server is not started yet'); return admin; },
  };
}
