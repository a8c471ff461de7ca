/** Self-signed certificates made with openssl for tests of TLS trust (--ca, NODE_EXTRA_CA_CERTS, nginx). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A certificate and its key, as files. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** A temporary folder of certificates; `remove()` deletes it. */
export interface CertDir {
  dir: string;
  /** A self-signed certificate for `cn`, with `altNames` (e.g. `IP:127.0.0.1`, `DNS:localhost`) as subjectAltName. */
  make(name: string, cn: string, altNames?: string[]): CertFiles;
  remove(): void;
}

/** Makes a temporary folder for self-signed certificates (openssl req -x509, one day, RSA 2048). */
export function certDir(prefix = 'chatzyo-certs-'): CertDir {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return {
    dir,
    make(name, cn, altNames = []) {
      const cert = path.join(dir, `${name}.pem`);
      const key = path.join(dir, `${name}.key`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`,
        ...(altNames.length ? ['-addext', `subjectAltName=${altNames.join(',')}`] : []),
        '-keyout', key, '-out', cert], { stdio: 'ignore' });
      return { cert, key };
    },
    remove() { rmSync(dir, { recursive: true, force: true }); },
  };
}
