/**
 * Error codes of the headless peer (defined, with their exit codes, in src/protocol/errors.ts).
 * These never cross the wire; they end a `chatzyo connect` run.
 */
import { ChatzyoError, messagesOf, type CodeOf } from '../protocol/index.js';

/** Every code a headless-peer failure may carry (its own and the ones every client shares), with its default message. */
export const PEER_ERROR_CODES = { ...messagesOf('peer'), ...messagesOf('client'), ...messagesOf('state') };

/** A headless-peer error code. */
export type PeerErrorCode = CodeOf<'peer'> | CodeOf<'client'> | CodeOf<'state'>;

/** Builds a {@link ChatzyoError} with a peer error code. */
export function peerError(code: PeerErrorCode, message?: string, cause?: unknown): ChatzyoError {
  return new ChatzyoError(code, message, { cause });
}
