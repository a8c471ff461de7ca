/**
 * Which certificates a client trusts for wss:// (`connect --ca`, `bots --ca`), and what to say
 * when the server's certificate is not accepted.
 *
 * Node trusts its built-in roots plus `NODE_EXTRA_CA_CERTS` (read once at startup). An explicit
 * `ca` option replaces that whole store, extra certificates included, so `--ca FILE` hands
 * `tls.connect` the roots, the `NODE_EXTRA_CA_CERTS` file and FILE together: the given PEM is
 * trusted in addition, never instead.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ChatzyoError } from '../protocol/index.js';
import { peerError } from './errors.js';

/** OpenSSL/Node error codes that mean the server's certificate was not accepted, with what each means. */
const CERT_FAILURES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a self-signed CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate was issued by a CA that is not trusted (or the chain is incomplete)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate was issued by a CA that is not trusted here',
  UNABLE_TO_GET_ISSUER_CERT: 'the issuer of the certificate is unknown',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is for another name',
};

/**
 * The CA list for `tls.connect`/`ws` when `caPem` (the contents of `--ca FILE`) is given: Node's
 * roots, the `NODE_EXTRA_CA_CERTS` file and `caPem`. Undefined without `caPem`: Node's own store.
 */
export function trustedCas(caPem: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (!caPem) return undefined;
  const list = [...tls.rootCertificates];
  const extra = env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try { list.push(readFileSync(extra, 'utf8')); } catch { /* Node warned about it at startup already */ }
  }
  list.push(caPem);
  return list;
}

/**
 * Reads `--ca FILE`; a file that cannot be read, or holds no PEM certificate, is a usage error
 * (exit code 2).
 */
export function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ChatzyoError('CHZ_ERR_USAGE', `--ca: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ChatzyoError('CHZ_ERR_USAGE', `--ca: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}

/** The certificate failure code in `err` or its `cause` chain, if there is one. */
function certFailureCode(err: unknown): string | null {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 6; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code in CERT_FAILURES) return e.code;
  }
  return null;
}

/** What to do about a certificate failure: the words of `CHZ_ERR_TLS_UNTRUSTED`'s hint. */
function certHint(failure: string): string {
  if (failure === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return 'use the name on the certificate in --server (https://NAME:PORT; the address you gave is not on it), or trust a certificate that names this address with --ca FILE';
  }
  if (failure === 'CERT_HAS_EXPIRED' || failure === 'CERT_NOT_YET_VALID') {
    return 'renew the server\'s certificate (or check this machine\'s clock); --ca cannot make an expired certificate valid';
  }
  return 'trust the server\'s certificate or its CA with --ca FILE (PEM), or NODE_EXTRA_CA_CERTS=FILE for every Node program';
}

/** A {@link ChatzyoError} with a hint for the CLI to print. */
export interface HintedError extends ChatzyoError {
  hint?: string;
}

/**
 * `CHZ_ERR_TLS_UNTRUSTED` for an error whose cause chain holds a certificate failure (null for
 * any other error). Its `hint` says what to do.
 */
export function tlsTrustError(err: unknown, url: string): HintedError | null {
  const failure = certFailureCode(err);
  if (!failure) return null;
  const e: HintedError = peerError('CHZ_ERR_TLS_UNTRUSTED', `The TLS certificate of ${url} was not accepted: ${CERT_FAILURES[failure]} (${failure}).`, err);
  e.hint = certHint(failure);
  return e;
}
