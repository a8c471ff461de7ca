/**
 * Error codes a probe check reports. A failed check does not throw out of the probe: its
 * result carries `{ code, message }`, and the verdict reads the codes, never the messages.
 */
import type { CheckError } from './report.js';

/** Every code a probe check may report, with the default message a person can act on. */
export const PROBE_ERROR_CODES = {
  CHZ_ERR_PROBE_BAD_URL: 'A STUN/TURN URL could not be parsed.',
  CHZ_ERR_PROBE_DNS: 'The host name did not resolve; check the spelling and your DNS.',
  CHZ_ERR_PROBE_TIMEOUT: 'The check did not finish within its deadline.',
  CHZ_ERR_STUN_TIMEOUT: 'No answer from the STUN server over UDP: it is down, or UDP to it is blocked.',
  CHZ_ERR_STUN_ERROR: 'The STUN server answered with an error.',
  CHZ_ERR_STUN_UNSUPPORTED: 'The STUN server does not support this RFC 5780 test.',
  CHZ_ERR_TURN_AUTH: 'The TURN server refused the credentials (wrong user/password, or an expired TURN REST credential).',
  CHZ_ERR_TURN_REJECTED: 'The TURN server refused the allocation for another reason (quota, forbidden peer, capacity).',
  CHZ_ERR_TURN_UNREACHABLE: 'The TURN server could not be reached over this transport.',
  CHZ_ERR_TURN_TLS: 'The TLS handshake with the TURN server failed (certificate not trusted, wrong name, or not TLS).',
  CHZ_ERR_SERVER_UNREACHABLE: 'Cannot reach the chatzyo server; check --server and that `chatzyo serve` is running there.',
  CHZ_ERR_SERVER_REJECTED: 'The chatzyo server refused this client (protocol version, too many connections).',
  CHZ_ERR_ICE_FAILED: 'The two test peers could not connect.',
  CHZ_ERR_PROBE_INTERNAL: 'The check failed unexpectedly; the message says where.',
} as const;

/** A probe error code. */
export type ProbeErrorCode = keyof typeof PROBE_ERROR_CODES;

/** A probe that cannot start as asked (nothing to probe, a bad URL): a usage error. */
export class ProbeUsageError extends Error {
  override readonly name: string = 'ProbeUsageError';
  readonly code: string = 'CHZ_ERR_USAGE';
}

/** Builds a check error with a stable code. */
export function checkError(code: ProbeErrorCode, message?: string): CheckError {
  return { code, message: message ?? PROBE_ERROR_CODES[code] };
}

/** A typed failure inside a check, turned into a {@link CheckError} by the check. */
export class ProbeCheckError extends Error {
  override readonly name = 'ProbeCheckError';
  constructor(readonly code: ProbeErrorCode, message?: string) {
    super(message ?? PROBE_ERROR_CODES[code]);
  }
}

/** The CheckError for anything a check caught. */
export function toCheckError(err: unknown): CheckError {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && e.code in PROBE_ERROR_CODES) return { code: e.code, message: String(e.message ?? e.code) };
  return checkError('CHZ_ERR_PROBE_INTERNAL', err instanceof Error ? err.message : String(err));
}

/**
 * Races `p` against a deadline: on timeout rejects with CHZ_ERR_PROBE_TIMEOUT naming `what`.
 * `p` keeps running; callers clean up through their own `finally`.
 */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProbeCheckError('CHZ_ERR_PROBE_TIMEOUT', `${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}
