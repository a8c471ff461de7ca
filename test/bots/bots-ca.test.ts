// Issue 20, item 3: `bots --ca FILE` trusts a private CA (or a self-signed certificate) for
// wss:// besides Node's roots; NODE_EXTRA_CA_CERTS works (in the worker threads too); a server
// certificate the bots would not accept stops the run at once with CHZ_ERR_TLS_UNTRUSTED (exit 3)
// and a hint, instead of every bot failing its signal phase one by one.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { CliProcess } from '../cli/cli-process.js';
import { startServer } from '../helpers/server.js';
import { certDir, type CertDir, type CertFiles } from '../helpers/tls-certs.js';

let certs: CertDir;
let own: CertFiles;
let other: CertFiles;
let server: SignalServer;
const procs: CliProcess[] = [];

beforeAll(async () => {
  certs = certDir('chatzyo-bots-ca-');
  own = certs.make('own', '127.0.0.1', ['IP:127.0.0.1']);
  other = certs.make('other', 'unrelated.test', ['DNS:unrelated.test']);
  server = await startServer({ tlsCert: own.cert, tlsKey: own.key, maxConnectionsPerAddress: 1000 });
});
afterEach(async () => { await Promise.all(procs.splice(0).map((p) => p.kill())); });
afterAll(async () => {
  await server?.close();
  certs?.remove();
});

function bots(name: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = new CliProcess(name, ['bots', '--server', `https://127.0.0.1:${server.port}`, '--count', '4', '--ramp', '100', '--json', ...args], env);
  procs.push(p);
  return p;
}

describe('chatzyo bots over TLS', () => {
  it('a self-signed certificate: without --ca exit 3 with the hint; with --ca or NODE_EXTRA_CA_CERTS every bot connects', async () => {
    const untrusted = bots('untrusted', []);
    const wrongCa = bots('--ca other', ['--ca', other.cert]);
    const withCa = bots('--ca own', ['--ca', own.cert]);
    const withEnv = bots('NODE_EXTRA_CA_CERTS', [], { NODE_EXTRA_CA_CERTS: own.cert });
    const [c1, c2, c3, c4] = await Promise.all([untrusted.exitCode(30_000), wrongCa.exitCode(30_000), withCa.exitCode(60_000), withEnv.exitCode(60_000)]);

    expect(c1, untrusted.stderr).toBe(3);
    expect(untrusted.stdout).toBe(''); // no run, no summary
    expect(untrusted.stderr).toMatch(/The TLS certificate of wss:\/\/127\.0\.0\.1:\d+\/ws was not accepted: the certificate is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)\. \[CHZ_ERR_TLS_UNTRUSTED\]/);
    expect(untrusted.stderr).toMatch(/chatzyo: hint: trust the server's certificate or its CA with --ca FILE \(PEM\), or NODE_EXTRA_CA_CERTS=FILE/);
    expect(c2, wrongCa.stderr).toBe(3);

    expect(c3, withCa.stderr).toBe(0);
    expect(JSON.parse(withCa.stdout)).toMatchObject({ bots: 4, matched: 4, connected: 4, passed: true, failed: { signal: 0 } });
    expect(c4, withEnv.stderr).toBe(0);
    expect(JSON.parse(withEnv.stdout)).toMatchObject({ bots: 4, matched: 4, connected: 4, passed: true, failed: { signal: 0 } });
  }, 90_000);
});
