/**
 * Starts a real coturn (`turnserver -n`, options on the command line, never /etc/turnserver.conf)
 * on loopback with `use-auth-secret`, and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { withTimeout } from './deadline.js';

export interface Coturn {
  port: number;
  secret: string;
  realm: string;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A free UDP port on loopback. */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A loopback port free for both UDP and TCP (coturn listens on both and retries a taken TCP bind forever). */
export async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeUdpPort();
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no loopback port free for both UDP and TCP');
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
