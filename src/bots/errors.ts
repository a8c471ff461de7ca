/**
 * Codes of the load bots. A bot's failed attempt carries one of these (counted by phase in the
 * summary); they never cross the wire. `CHZ_ERR_BOTS_USAGE` ends `chatzyo bots` with exit code 2.
 */
import { ChatzyoError } from '../protocol/index.js';

/** Every bots code, with the default message a person can act on. */
export const BOT_ERROR_CODES = {
  CHZ_ERR_BOTS_USAGE: 'The bots options do not make sense together; see `chatzyo bots --help`.',
  CHZ_ERR_BOTS_THRESHOLD: 'A threshold of the run did not hold (--max-fail-rate, --max-p95-connect-ms, --max-p95-match-ms, --min-bitrate-kbps, or the server went away).',
  CHZ_ERR_BOT_CLIP: 'The pre-encoded bot clip could not be made or read (ffmpeg with libvpx and libopus is needed once).',
  CHZ_ERR_BOT_SIGNAL_FAILED: 'The bot could not open the signaling WebSocket or was not welcomed in time.',
  CHZ_ERR_BOT_REJECTED: 'The server refused the bot (too many connections from one address: raise --max-connections-per-address).',
  CHZ_ERR_BOT_MATCH_TIMEOUT: 'The bot waited longer than --match-timeout for a partner.',
  CHZ_ERR_BOT_CONNECT_TIMEOUT: 'The bot did not connect to its partner within --connect-timeout of the match.',
  CHZ_ERR_BOT_ICE_FAILED: 'ICE failed between the bot and its partner (after one ICE restart).',
  CHZ_ERR_BOT_NO_MEDIA: 'DTLS was up but no video arrived from the partner within --connect-timeout.',
  CHZ_ERR_BOT_PARTNER_LEFT: 'The partner left before the call was connected.',
  CHZ_ERR_BOT_SERVER_LOST: 'The signaling connection dropped in the middle of a phase (the server went away).',
  CHZ_ERR_BOT_SERVER_ERROR: 'The server answered the bot with an error that ends the attempt.',
  CHZ_ERR_BOT_INTERNAL: 'A bot failed unexpectedly; the message says where.',
} as const;

/** A bots code. */
export type BotErrorCode = keyof typeof BOT_ERROR_CODES;

/** A usage error of `chatzyo bots` (exit code 2). */
export function botsUsageError(message: string): ChatzyoError {
  return new ChatzyoError('CHZ_ERR_BOTS_USAGE', message, { exitCode: 2 });
}

/** A bots error with a code. */
export function botError(code: BotErrorCode, message?: string, cause?: unknown): ChatzyoError {
  return new ChatzyoError(code, message ?? BOT_ERROR_CODES[code], { cause });
}
