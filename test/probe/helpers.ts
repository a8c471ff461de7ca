/**
 * Helpers for the probe tests: a coturn with TLS (self-signed certificate made with openssl),
 * optionally inside a network namespace, and output capture for runProbe.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { withTimeout } from '../helpers/deadline.js';

/** A self-signed certificate for an IP address (PEM files in a temp dir). */
export function makeCert(ip: string): { dir: string; cert: string; key: string; pem: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-probe-cert-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`, '-keyout', key, '-out', cert,
  ], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate (install openssl): ${r.stderr || r.error?.message}`);
  return { dir, cert, key, pem: readFileSync(cert, 'utf8'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running coturn. */
export interface TestCoturn {
  ip: string;
  port: number;
  tlsPort: number | null;
  secret: string;
  realm: string;
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts `turnserver -n` (options on the command line only) with use-auth-secret on `ip`;
 * with `tls`, also TURN over TLS on `tlsPort`. With `netns`, inside that namespace.
 */
export async function startTestCoturn(opts: {
  ip: string; port: number; tlsPort?: number; tls?: { cert: string; key: string }; netns?: string; secret?: string; allowLoopbackPeers?: boolean; extraArgs?: string[];
}): Promise<TestCoturn> {
  const secret = opts.secret ?? 'chatzyo-probe-secret';
  const realm = 'chatzyo.test';
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-probe-coturn-'));
  const args = [
    '-n', '--log-file=stdout', '--no-cli', '--no-dtls', ...(opts.tls ? [`--cert=${opts.tls.cert}`, `--pkey=${opts.tls.key}`, `--tls-listening-port=${opts.tlsPort}`] : ['--no-tls']),
    `--listening-ip=${opts.ip}`, `--relay-ip=${opts.ip}`, `--listening-port=${opts.port}`,
    '--min-port=49152', '--max-port=65535',
    '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
    ...(opts.allowLoopbackPeers ? ['--allow-loopback-peers'] : []), '--cli-password=unused', '--no-software-attribute',
    `--pidfile=${path.join(dir, 'turnserver.pid')}`, `--userdb=${path.join(dir, 'turndb')}`,
    ...(opts.extraArgs ?? []),
  ];
  const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, 'turnserver', ...args]] : ['turnserver', args];
  const proc = spawn(cmd, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/Total (General|UDP) servers|UDP listener opened/i.test(log)) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', (e) => reject(new Error(`turnserver could not start: ${e.message}; install the coturn package`)));
    proc.once('exit', (code) => reject(new Error(`turnserver exited with ${code}:\n${log.slice(-2000)}`)));
  });
  await withTimeout(ready, 10_000, 'coturn start');
  return {
    ip: opts.ip, port: opts.port, tlsPort: opts.tls ? opts.tlsPort ?? null : null, secret, realm, proc,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await withTimeout(exited, 5000, 'coturn stop').catch(() => proc.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A writable stream that keeps what was written. */
export function capture(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => { text += d.toString(); });
  return { stream, text: () => text };
}
