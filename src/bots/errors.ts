/**
 * Codes of the load bots. A bot's failed attempt carries one of these (counted by phase in the
 * summary); they never cross the wire. Defined, with exit codes, in src/protocol/errors.ts.
 */
import { ChatzyoError, type CodeOf } from '../protocol/index.js';

/** A bots code. */
export type BotErrorCode = CodeOf<'bots'>;

/** A usage error of `chatzyo bots` (exit code 2). */
export function botsUsageError(message: string): ChatzyoError {
  return new ChatzyoError('CHZ_ERR_BOTS_USAGE', message);
}

/** A bots error with a code. */
export function botError(code: BotErrorCode, message?: string, cause?: unknown): ChatzyoError {
  return new ChatzyoError(code, message, { cause });
}
