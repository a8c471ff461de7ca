/**
 * Stable error codes shared by the server, the headless peer and the browser client.
 *
 * Code matches on `error.code`, never on message text. Every code here is documented in
 * README.md ("Error codes"); `test/docs-error-codes.test.ts` fails when one is missing.
 */

/** Every wire error code, with the default message a person can act on. */
export const ERROR_CODES = {
  CHZ_ERR_BAD_JSON: 'The frame is not valid UTF-8 JSON.',
  CHZ_ERR_TOO_LARGE: 'The frame is larger than the server accepts.',
  CHZ_ERR_UNKNOWN_TYPE: 'The message type is not part of this protocol version.',
  CHZ_ERR_BAD_MESSAGE: 'The message is missing fields or has fields of the wrong type.',
  CHZ_ERR_BAD_STATE: 'That message is not allowed in the current session state.',
  CHZ_ERR_VERSION: 'The client speaks a protocol version this server does not support.',
  CHZ_ERR_UNKNOWN_HUB: 'There is no hub with that name on this server.',
  CHZ_ERR_NOT_MATCHED: 'You have no partner right now.',
  CHZ_ERR_STALE_MATCH: 'That match id is not your current match.',
  CHZ_ERR_PRIVATE_NOT_FOUND: 'That private call code is unknown or has expired.',
  CHZ_ERR_PRIVATE_FULL: 'That private call already has two people in it.',
  CHZ_ERR_PRIVATE_EXPIRED: 'Nobody joined your private call before its code expired.',
  CHZ_ERR_RATE_LIMITED: 'Too many messages; slow down.',
  CHZ_ERR_NEXT_RATE_LIMITED: 'Too many skips in a minute; wait a little before pressing Next again.',
  CHZ_ERR_TOO_MANY_CONNECTIONS: 'Too many connections from your address.',
  CHZ_ERR_TOO_MANY_ERRORS: 'Too many invalid messages; the connection is closed.',
  CHZ_ERR_HELLO_TIMEOUT: 'The client did not say hello in time.',
  CHZ_ERR_SERVER_SHUTDOWN: 'The server is shutting down; reconnect in a moment.',
  CHZ_ERR_UNAVAILABLE: 'Matchmaking is temporarily unavailable; try again shortly.',
} as const;

/** A stable wire error code such as `CHZ_ERR_NOT_MATCHED`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** All error codes as a list (for schemas and the docs test). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/**
 * WebSocket close codes of our own (4000-4999, RFC 6455 section 7.4.2), each mapped to the
 * error code sent in the last `error` frame before the close.
 */
export const CLOSE_CODES = {
  4000: 'CHZ_ERR_TOO_MANY_ERRORS',
  4001: 'CHZ_ERR_VERSION',
  4002: 'CHZ_ERR_RATE_LIMITED',
  4003: 'CHZ_ERR_TOO_MANY_CONNECTIONS',
  4004: 'CHZ_ERR_HELLO_TIMEOUT',
  4005: 'CHZ_ERR_SERVER_SHUTDOWN',
} as const satisfies Record<number, ErrorCode>;

/** One of our WebSocket close codes. */
export type CloseCode = keyof typeof CLOSE_CODES;

/** The close code that goes with an error code, if the error ends the connection. */
export function closeCodeFor(code: ErrorCode): CloseCode | undefined {
  for (const [k, v] of Object.entries(CLOSE_CODES)) if (v === code) return Number(k) as CloseCode;
  return undefined;
}

/** The error code a close code stands for, if it is one of ours. */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return (CLOSE_CODES as Record<number, ErrorCode>)[closeCode];
}

/**
 * An error with a stable code. Converts to and from the wire `error` message so an error
 * raised on the server arrives at a client as the same code.
 */
export class ChatzyoError extends Error {
  override readonly name = 'ChatzyoError';
  readonly code: string;
  /** Process exit code when this error ends the CLI. */
  readonly exitCode: number;

  constructor(code: string, message?: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message ?? (ERROR_CODES as Record<string, string>)[code] ?? code, { cause: options?.cause });
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }

  /** The wire form of this error. */
  toWire(ref?: string): { type: 'error'; code: string; message: string; ref?: string } {
    return ref === undefined
      ? { type: 'error', code: this.code, message: this.message }
      : { type: 'error', code: this.code, message: this.message, ref };
  }

  /** Rebuilds an error from its wire form. */
  static fromWire(msg: { code: string; message: string }): ChatzyoError {
    return new ChatzyoError(msg.code, msg.message);
  }
}
