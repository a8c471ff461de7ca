/**
 * Codes of the network lab (src/lab). They never cross the wire; a bad `--network` value ends
 * `chatzyo bots` with exit code 2.
 */
import { ChatzyoError, messagesOf, type CodeOf } from '../protocol/index.js';

/** Every lab code, with the default message a person can act on. */
export const LAB_ERROR_CODES = messagesOf('lab');

/** A lab code. */
export type LabErrorCode = CodeOf<'lab'>;

/** A lab error with a code (exit code 2: it is always a usage or setup problem). */
export function labError(code: LabErrorCode, message?: string, cause?: unknown): ChatzyoError {
  return new ChatzyoError(code, message, { cause });
}
