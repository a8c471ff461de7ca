/**
 * Error codes a probe check reports. A failed check does not throw out of the probe: its
 * result carries `{ code, message }`, and the verdict reads the codes, never the messages.
 */
import { messagesOf, type AnyErrorCode, type CodeOf } from '../protocol/index.js';

/**
 * A check that did not produce a result: the stable code and a message a person can act on.
 * Defined here, beside the codes and the builders below, so report.ts imports errors.ts and
 * never the other way round (errors -> report -> ice-url -> errors was the cycle).
 */
export interface CheckError { code: ProbeErrorCode; message: string }

/** Every code a probe check may report (its own and the shared client codes), with the default message. */
const PROBE_ERROR_CODES = { ...messagesOf('probe'), ...messagesOf('client') };

/** A probe error code. */
export type ProbeErrorCode = CodeOf<'probe'> | CodeOf<'client'>;

/** A probe that cannot start as asked (nothing to probe, a bad URL): a usage error. */
export class ProbeUsageError extends Error {
  override readonly name: string = 'ProbeUsageError';
  readonly code: AnyErrorCode = 'CHZ_ERR_USAGE';
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
  if (typeof e?.code === 'string' && e.code in PROBE_ERROR_CODES) return { code: e.code as ProbeErrorCode, message: String(e.message ?? e.code) };
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
