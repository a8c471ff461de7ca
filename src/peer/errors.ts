/**
 * Error codes of the headless peer. These never cross the wire (the server never sees them);
 * they end a `chatzyo connect` run, and the CLI maps each to its own exit code.
 */
import { ChatzyoError } from '../protocol/index.js';

/** Every headless-peer error code, with the default message a person can act on. */
export const PEER_ERROR_CODES = {
  CHZ_ERR_SERVER_UNREACHABLE: 'Cannot reach the chatzyo server; check --server and that `chatzyo serve` is running there.',
  CHZ_ERR_SERVER_REJECTED: 'The server refused this client for good (wrong protocol version or too many connections).',
  CHZ_ERR_FFMPEG_MISSING: 'ffmpeg was not found: install it (apt install ffmpeg), or point --ffmpeg / CHATZYO_FFMPEG at it.',
  CHZ_ERR_FFMPEG_FAILED: 'ffmpeg stopped with an error; its last lines are in the message.',
  CHZ_ERR_DEVICE_MISSING: 'The camera or microphone was not found.',
  CHZ_ERR_CONNECT_TIMEOUT: 'No peer connection was made within --connect-timeout.',
  CHZ_ERR_PEER_STATE: 'That is not allowed in the current peer session state.',
} as const;

/** A headless-peer error code. */
export type PeerErrorCode = keyof typeof PEER_ERROR_CODES;

/** Builds a {@link ChatzyoError} with a peer error code. */
export function peerError(code: PeerErrorCode, message?: string, cause?: unknown): ChatzyoError {
  return new ChatzyoError(code, message ?? PEER_ERROR_CODES[code], { cause });
}
