/**
 * Starts a real coturn (`turnserver -n`, options on the command line, never /etc/turnserver.conf)
 * on loopback with `use-auth-secret`, and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withTimeout } from './deadline.js';
import { serverPort } from './ports.js';

export interface Coturn {
  port: number;
  secret: string;
  realm: string;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A free UDP port on loopback for a server another process binds (also free for TCP: see ports.ts). */
export function freeUdpPort(): Promise<number> {
  return serverPort({ udp: true });
}

/** A loopback port free for both UDP and TCP (coturn listens on both and retries a taken TCP bind forever). */
export function freeUdpTcpPort(): Promise<number> {
  return serverPort({ udp: true });
}

export async function startCoturn(opts: { secret?: string; extraArgs?: string[] } = {}): Promise<Coturn> {
  const port = await freeUdpTcpPort();
  const secret = opts.secret ?? 'chatzyo-test-secret';
  const realm = 'chatzyo.test';
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-coturn-'));
  const args = [
    '-n', '--log-file=stdout', '--no-cli', '--no-tls', '--no-dtls',
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    '--min-port=49152', '--max-port=65535',
    '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
    '--allow-loopback-peers', '--cli-password=unused', '--no-software-attribute',
    `--pidfile=${path.join(dir, 'turnserver.pid')}`, `--userdb=${path.join(dir, 'turndb')}`,
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/Total (General|UDP) servers|UDP listener opened|IPv4\. UDP listener opened/i.test(log)) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', (e) => reject(new Error(`coturn (turnserver) could not start: ${e.message}; install the coturn package`)));
    proc.once('exit', (code) => reject(new Error(`turnserver exited with ${code}:\n${log.slice(-2000)}`)));
  });
  await withTimeout(ready, 10_000, 'coturn start');
  return {
    port, secret, realm, url: `turn:127.0.0.1:${port}?transport=udp`, proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await withTimeout(exited, 5000, 'coturn stop').catch(() => proc.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
