// Issue 20, item 3: `connect --ca FILE` trusts a private CA (or a self-signed certificate) for
// wss:// besides Node's roots; NODE_EXTRA_CA_CERTS works as for any Node program; and a
// certificate that is not accepted is CHZ_ERR_TLS_UNTRUSTED (exit 3) with a hint that says what to do.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { trustedCas } from '../../src/peer/index.js';
import { startServer } from '../helpers/server.js';
import { certDir, type CertDir, type CertFiles } from '../helpers/tls-certs.js';
import { CliProcess } from './cli-process.js';

let certs: CertDir;
let own: CertFiles;
let other: CertFiles;
let named: CertFiles;
let server: SignalServer;
let namedServer: SignalServer;
const procs: CliProcess[] = [];

beforeAll(async () => {
  certs = certDir('chatzyo-connect-ca-');
  own = certs.make('own', '127.0.0.1', ['IP:127.0.0.1']);
  other = certs.make('other', 'unrelated.test', ['DNS:unrelated.test']);
  named = certs.make('named', 'chat.example.test', ['DNS:chat.example.test']);
  server = await startServer({ tlsCert: own.cert, tlsKey: own.key });
  namedServer = await startServer({ tlsCert: named.cert, tlsKey: named.key });
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await server?.close();
  await namedServer?.close();
  certs?.remove();
});

function connect(name: string, url: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = new CliProcess(name, ['connect', '--json', '--server', url, '--room', 'global', '--no-video', '--no-audio', ...args], env);
  procs.push(p);
  return p;
}

/** The run reached the server over WSS (welcome), then quits cleanly. */
async function welcomedThenQuit(p: CliProcess): Promise<number | null> {
  await p.next('welcome', 20_000);
  p.say('/quit');
  return p.exitCode(20_000);
}

describe('chatzyo connect over TLS', () => {
  it('https:// with a self-signed certificate: without --ca exit 3 with the hint; with --ca, with NODE_EXTRA_CA_CERTS, and with both it connects', async () => {
    const url = `https://127.0.0.1:${server.port}`;
    expect(server.url).toMatch(/^https:/);
    const untrusted = connect('untrusted', url, []);
    const withCa = connect('with --ca', url, ['--ca', own.cert]);
    const withEnv = connect('NODE_EXTRA_CA_CERTS', url, [], { NODE_EXTRA_CA_CERTS: own.cert });
    // --ca adds to the store: an unrelated --ca does not drop the certificate NODE_EXTRA_CA_CERTS brought.
    const both = connect('--ca other + NODE_EXTRA_CA_CERTS own', url, ['--ca', other.cert], { NODE_EXTRA_CA_CERTS: own.cert });
    const wrongCa = connect('--ca other only', url, ['--ca', other.cert]);

    const [c1, c2, c3, c4, c5] = await Promise.all([
      untrusted.exitCode(20_000), welcomedThenQuit(withCa), welcomedThenQuit(withEnv), welcomedThenQuit(both), wrongCa.exitCode(20_000),
    ]);
    expect(c1, untrusted.stderr).toBe(3);
    expect(untrusted.stderr).toMatch(/The TLS certificate of wss:\/\/127\.0\.0\.1:\d+\/ws was not accepted: the certificate is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)\. \[CHZ_ERR_TLS_UNTRUSTED\]/);
    expect(untrusted.stderr).toMatch(/chatzyo: hint: trust the server's certificate or its CA with --ca FILE \(PEM\), or NODE_EXTRA_CA_CERTS=FILE/);
    const error = untrusted.lines.find((l) => l.event === 'error');
    expect(error).toMatchObject({ code: 'CHZ_ERR_TLS_UNTRUSTED', hint: expect.stringContaining('--ca FILE') });
    expect(untrusted.lines.at(-1)).toMatchObject({ event: 'closed', reason: 'error', exitCode: 3 });
    expect([c2, c3, c4]).toEqual([0, 0, 0]);
    expect(c5, wrongCa.stderr).toBe(3);
    expect(wrongCa.stderr).toMatch(/CHZ_ERR_TLS_UNTRUSTED/);
  }, 60_000);

  it('a certificate for another name: the hint says to use the name on the certificate', async () => {
    const p = connect('altname', `https://127.0.0.1:${namedServer.port}`, ['--ca', named.cert]);
    expect(await p.exitCode(20_000), p.stderr).toBe(3);
    expect(p.stderr).toMatch(/the certificate is for another name \(ERR_TLS_CERT_ALTNAME_INVALID\)\. \[CHZ_ERR_TLS_UNTRUSTED\]/);
    expect(p.stderr).toMatch(/chatzyo: hint: use the name on the certificate in --server/);
  }, 30_000);

  it('--ca with a file that is not a PEM certificate is a usage error (exit 2)', async () => {
    const p = connect('bad --ca', `https://127.0.0.1:${server.port}`, ['--ca', own.key.replace(/own\.key$/, 'missing.pem')]);
    expect(await p.exitCode(20_000)).toBe(2);
    expect(p.stderr).toMatch(/--ca: cannot read .*missing\.pem \(ENOENT\)/);
  }, 30_000);

  it('the trusted list is Node\'s roots, then NODE_EXTRA_CA_CERTS, then the --ca file', () => {
    const pem = readFileSync(own.cert, 'utf8');
    const list = trustedCas(pem, { NODE_EXTRA_CA_CERTS: other.cert })!;
    expect(list.slice(0, tls.rootCertificates.length)).toEqual([...tls.rootCertificates]);
    expect(list.slice(-2)).toEqual([readFileSync(other.cert, 'utf8'), pem]);
    expect(trustedCas(undefined)).toBeUndefined();
  });
});
