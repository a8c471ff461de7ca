/**
 * The protocol rules every client follows, written once: what a close code means for
 * reconnecting, which server errors end what the client was doing, and when an error is only a
 * crossed Next that calls for a plain join. The browser, the headless peer and the bots read
 * these; none keeps its own list. Pure TypeScript.
 */
import { CLOSE_CODES, closeCodeFor, errorCodeForClose, isWireErrorCode, type CloseCode, type ErrorCode } from '../errors.js';
import type { ServerMessageOf } from '../messages.js';

/**
 * What a client does when the server closes its connection with one of our close codes:
 * - `final`: retrying gets the same answer (a protocol version the server does not speak), so
 *   the client stops and says why;
 * - `retry`: reconnect with the backoff;
 * - `retry-slowly`: reconnect with four times the backoff (the server's per-address connection
 *   cap: a quick retry only adds to the crowd it is refusing).
 * Keyed by the protocol's CLOSE_CODES, so a new close code does not compile until it has a policy;
 * it is what docs/protocol.md's close-code table tells every client to do.
 */
export const CLOSE_POLICY = {
  4000: 'retry', // too many invalid frames: a fresh connection starts with a clean count
  4001: 'final',
  4002: 'retry',
  4003: 'retry-slowly',
  4004: 'retry',
  4005: 'retry', // the server is shutting down: another node (or it, restarted) will answer
  4006: 'retry',
  4007: 'final', // an age assertion is required: a retry without one gets the same answer
} as const satisfies Record<CloseCode, 'final' | 'retry' | 'retry-slowly'>;

/** Backoff multiplier of a `retry-slowly` close. */
const SLOW_RETRY_FACTOR = 4;

/** True when a close `code` means the client must not reconnect. */
export function isFinalClose(code: number): boolean {
  return (CLOSE_POLICY as Record<number, string>)[code] === 'final';
}

/** The factor to apply to the backoff after a close with `code`. */
export function closeBackoffFactor(code: number): number {
  return (CLOSE_POLICY as Record<number, string>)[code] === 'retry-slowly' ? SLOW_RETRY_FACTOR : 1;
}

/** True for one of our own close codes (a deliberate close by a chatzyo server, with a reason). */
export function isServerClose(code: number): boolean {
  return code in CLOSE_CODES;
}

/**
 * The error code behind a close: the one the close code stands for, else, for a close in our
 * private range (4000-4999, RFC 6455 section 7.4.2), the code of the last `error` frame that
 * came before it. A transport close (1006) names no code, unless the last error frame announced
 * a close of its own (e.g. CHZ_ERR_SERVER_SHUTDOWN, close 4005): a server that gave up waiting
 * for our close reply and dropped the socket still told us why first. CHZ_ERR_RATE_LIMITED is
 * left out: the server also sends it as a warning without closing. Any other earlier error
 * frame was not why the connection ended.
 */
export function closeErrorCode(code: number, lastServerError: string | null): string | null {
  const byClose = errorCodeForClose(code);
  if (byClose) return byClose;
  if (code >= 4000 && code <= 4999) return lastServerError;
  return isWireErrorCode(lastServerError) && lastServerError !== 'CHZ_ERR_RATE_LIMITED' && closeCodeFor(lastServerError) !== undefined ? lastServerError : null;
}

/**
 * Server errors that end what the client asked for: joining again (the same hub, the same
 * private code, the same message) would get the same answer. The headless peer ends its
 * session, a bot fails its attempt, the browser goes back to idle with the message.
 */
const FATAL_SERVER_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CHZ_ERR_UNKNOWN_HUB', 'CHZ_ERR_PRIVATE_NOT_FOUND', 'CHZ_ERR_PRIVATE_FULL', 'CHZ_ERR_PRIVATE_EXPIRED', 'CHZ_ERR_BAD_MESSAGE',
  'CHZ_ERR_BANNED',
]);

/** True for an error code in {@link FATAL_SERVER_ERRORS}. */
export function isFatalServerError(code: string): boolean {
  return (FATAL_SERVER_ERRORS as ReadonlySet<string>).has(code);
}

/**
 * True when an `error` frame says our skip crossed the partner's: we sent Next (or Report) for a
 * match the partner had just ended, so the server answers CHZ_ERR_NOT_MATCHED and has already
 * put us back to ready, in no queue. A client still looking for a partner must then send a plain
 * `join`, or it waits forever. (The caller checks that it is still looking.)
 */
export function isCrossedSkip(e: Pick<ServerMessageOf<'error'>, 'code' | 'ref'>): boolean {
  return e.code === 'CHZ_ERR_NOT_MATCHED' && (e.ref === 'next' || e.ref === 'report');
}
