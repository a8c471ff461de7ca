/**
 * The server's per-client limits, their defaults, and the `chatzyo serve` option that raises
 * each. They live in the protocol because every client explains a refusal with them: the
 * headless peer, the probe and the CLI each turn an error code into "this is the server's limit,
 * raise it with ..." (the way `chatzyo bots` names --max-connections-per-address). The server
 * takes its defaults from here, so a hint never quotes a stale number.
 */
import type { ErrorCode } from './errors.js';

/** Default limits of `chatzyo serve`. */
export const DEFAULT_LIMITS = {
  /** Simultaneous connections from one address (close 4003). */
  maxConnectionsPerAddress: 20,
  /** Matches one connection may end per minute (CHZ_ERR_NEXT_RATE_LIMITED). */
  nextsPerMinute: 30,
  /** Messages per second per connection (CHZ_ERR_RATE_LIMITED, then close 4002). */
  messagesPerSecond: 50,
  /** Bytes per second per connection (CHZ_ERR_RATE_LIMITED, then close 4002). */
  bytesPerSecond: 64 * 1024,
  /** Bytes queued toward a client that stopped reading (close 4006). */
  maxBufferedBytes: 1024 * 1024,
} as const;

const L = DEFAULT_LIMITS;
const YOURS = 'if the server is yours';
const HINTS: Partial<Record<ErrorCode, string>> = {
  CHZ_ERR_TOO_MANY_CONNECTIONS:
    `the server limits connections from one address (chatzyo serve --max-connections-per-address, default ${L.maxConnectionsPerAddress}): `
    + `close other chatzyo clients on this address, or raise the limit ${YOURS}.`,
  CHZ_ERR_NEXT_RATE_LIMITED:
    `the server limits how many partners one connection may skip a minute (chatzyo serve --max-nexts-per-minute, default ${L.nextsPerMinute}): `
    + `wait a little, or raise the limit ${YOURS}.`,
  CHZ_ERR_RATE_LIMITED:
    'the server limits what one connection may send a second (chatzyo serve --max-messages-per-second, default '
    + `${L.messagesPerSecond}; --max-bytes-per-second, default ${L.bytesPerSecond}): send less, or raise the limits ${YOURS}.`,
  CHZ_ERR_SLOW_CONSUMER:
    `the server drops a client once this much waits unread toward it (chatzyo serve --max-buffered-bytes, default ${L.maxBufferedBytes}): `
    + `read faster, or raise the limit ${YOURS}.`,
};

/**
 * When a default server limit is the likely cause of `code`, one sentence saying which limit
 * and the `chatzyo serve` option that raises it; otherwise null.
 */
export function limitHint(code: string | undefined): string | null {
  return (code && (HINTS as Record<string, string>)[code]) || null;
}
