/**
 * The one table of chatzyo's error codes: the server's wire errors, the errors that stop
 * `chatzyo serve`, and every client-side code of connect, probe, bots and the lab. Each code is
 * defined here once, with the message a person can act on, its exit code when it ends the CLI
 * and its WebSocket close code when it ends a connection; the per-component helpers
 * (`peerError`, `checkError`, `botError`, `labError`, ...) and the exit and close tables are
 * derived from it. Code matches on `error.code`, never on message text. README.md ("Error
 * codes") lists every code; test/docs.test.ts checks both directions and fails on a `CHZ_ERR_`
 * literal in src that is not here (fastify's error table and its docs test are the model).
 */

/** Exit codes of the chatzyo CLI (README, "Exit codes"). */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** `connect`, `bots`: the server cannot be reached, refused us for good, or its certificate is not trusted; `probe --require`: could not be measured. */
  unreachable: 3,
  /** `connect`: ffmpeg is not installed where we looked. */
  ffmpegMissing: 4,
  /** `connect`: the camera, microphone or media file is missing. */
  deviceMissing: 5,
  /** `connect`: no peer connection within --connect-timeout. */
  connectTimeout: 6,
} as const;

/**
 * Who raises a code: `wire` errors are sent by the server in an `error` message; `serve` stops
 * the server at start; `metric` codes only label the server's error counter (never sent);
 * `client` codes are shared by every client (connect, probe, bots); `state` codes mean a state
 * machine was asked for a transition its table does not allow (a bug in the caller).
 */
export type ErrorScope = 'wire' | 'serve' | 'metric' | 'client' | 'peer' | 'state' | 'probe' | 'bots' | 'lab';

/** One row of {@link ERRORS}. */
export interface ErrorSpec {
  readonly scope: ErrorScope;
  /** The default message: what happened and what to do. */
  readonly message: string;
  /** The process exit code when this error ends the CLI (1 when absent). */
  readonly exit?: number;
  /** Our WebSocket close code when this error ends the connection (RFC 6455 section 7.4.2: 4000-4999). */
  readonly close?: number;
}

const X = EXIT_CODES;

/** Every chatzyo error code. */
export const ERRORS = {
  // Sent by the server in `error` messages (docs/protocol.md).
  CHZ_ERR_BAD_JSON: { scope: 'wire', message: 'The frame is not valid UTF-8 JSON.' },
  CHZ_ERR_TOO_LARGE: { scope: 'wire', message: 'The frame is larger than the server accepts.' },
  CHZ_ERR_UNKNOWN_TYPE: { scope: 'wire', message: 'The message type is not part of this protocol version.' },
  CHZ_ERR_BAD_MESSAGE: { scope: 'wire', message: 'The message is missing fields or has fields of the wrong type.' },
  CHZ_ERR_BAD_STATE: { scope: 'wire', message: 'That message is not allowed in the current session state.' },
  CHZ_ERR_VERSION: { scope: 'wire', close: 4001, message: 'The client speaks a protocol version this server does not support.' },
  CHZ_ERR_UNKNOWN_HUB: { scope: 'wire', message: 'There is no hub with that name on this server.' },
  CHZ_ERR_NOT_MATCHED: { scope: 'wire', message: 'You have no partner right now.' },
  CHZ_ERR_STALE_MATCH: { scope: 'wire', message: 'That match id is not your current match.' },
  CHZ_ERR_PRIVATE_NOT_FOUND: { scope: 'wire', message: 'That private call code is unknown or has expired.' },
  CHZ_ERR_PRIVATE_FULL: { scope: 'wire', message: 'That private call already has two people in it.' },
  CHZ_ERR_PRIVATE_EXPIRED: { scope: 'wire', message: 'Nobody joined your private call before its code expired.' },
  CHZ_ERR_RATE_LIMITED: { scope: 'wire', close: 4002, message: 'Too many messages; slow down.' },
  CHZ_ERR_NEXT_RATE_LIMITED: { scope: 'wire', message: 'Too many skips in a minute; wait a little before pressing Next again.' },
  CHZ_ERR_TOO_MANY_CONNECTIONS: { scope: 'wire', close: 4003, message: 'Too many connections from your address.' },
  CHZ_ERR_TOO_MANY_ERRORS: { scope: 'wire', close: 4000, message: 'Too many invalid messages; the connection is closed.' },
  CHZ_ERR_HELLO_TIMEOUT: { scope: 'wire', close: 4004, message: 'The client did not say hello in time.' },
  CHZ_ERR_SERVER_SHUTDOWN: { scope: 'wire', close: 4005, message: 'The server is shutting down; reconnect in a moment.' },
  CHZ_ERR_UNAVAILABLE: { scope: 'wire', message: 'Matchmaking is temporarily unavailable; try again shortly.' },
  CHZ_ERR_SLOW_CONSUMER: { scope: 'wire', close: 4006, message: 'You stopped reading from the connection; the server will not queue more for you.' },
  CHZ_ERR_BANNED: { scope: 'wire', message: 'Several people reported you, so you cannot meet strangers for a while; try again after retryAfterMs.' },
  CHZ_ERR_AGE_REQUIRED: { scope: 'wire', close: 4007, message: 'This server admits only people whose age was verified: get an over-18 assertion from its age verifier and send it in hello.' },
  CHZ_ERR_REPORT_RATE_LIMITED: { scope: 'wire', message: 'You reported too many people in a short time; this report was not counted (the match still ended).' },

  // Stop `chatzyo serve` before it serves.
  CHZ_ERR_CONFIG: { scope: 'serve', message: 'The options do not make sense together; the message names the one to change.' },
  CHZ_ERR_PORT_IN_USE: { scope: 'serve', message: 'A port the server must bind is taken; the message names the port, the likely holder and the fixes.' },
  // Labels of the server's error counter, never sent to a client.
  CHZ_ERR_ORIGIN: { scope: 'metric', message: "A WebSocket upgrade came from another site's page (an Origin that is neither the server's own nor allowed); refused with HTTP 403." },
  CHZ_ERR_TURN_QUOTA: { scope: 'metric', message: 'An address asked for TURN credentials faster than --turn-mints-per-minute; its clients get none for a while.' },

  // Every client (connect, probe, bots).
  CHZ_ERR_USAGE: { scope: 'client', exit: X.usage, message: 'The options do not make sense; see --help.' },
  CHZ_ERR_INTERNAL: { scope: 'client', message: 'Something failed unexpectedly; the message says what.' },
  CHZ_ERR_SERVER_UNREACHABLE: { scope: 'client', exit: X.unreachable, message: 'Cannot reach the chatzyo server; check --server and that `chatzyo serve` is running there.' },
  CHZ_ERR_SERVER_REJECTED: { scope: 'client', exit: X.unreachable, message: 'The server refused this client for good (wrong protocol version or too many connections).' },
  CHZ_ERR_TLS_UNTRUSTED: { scope: 'client', exit: X.unreachable, message: "The server's TLS certificate was not accepted; trust it with --ca FILE or NODE_EXTRA_CA_CERTS, or use the name on the certificate." },

  // The headless peer (`chatzyo connect`).
  CHZ_ERR_FFMPEG_MISSING: { scope: 'peer', exit: X.ffmpegMissing, message: 'ffmpeg was not found: install it (apt install ffmpeg), or point --ffmpeg / CHATZYO_FFMPEG at it.' },
  CHZ_ERR_FFMPEG_FAILED: { scope: 'peer', message: 'ffmpeg stopped with an error; its last lines are in the message.' },
  CHZ_ERR_DEVICE_MISSING: { scope: 'peer', exit: X.deviceMissing, message: 'The camera or microphone was not found.' },
  CHZ_ERR_CONNECT_TIMEOUT: { scope: 'peer', exit: X.connectTimeout, message: 'No peer connection was made within --connect-timeout.' },
  CHZ_ERR_NOT_BUNDLED: { scope: 'peer', message: "The partner's offer or answer needs one transport per media section (no BUNDLE group, RFC 8843); chatzyo peers use one transport per call, so that partner is skipped." },

  // State machines (src/protocol/state-machine.ts): a transition the table does not allow.
  CHZ_ERR_PEER_STATE: { scope: 'state', message: 'That is not allowed in the current peer session state.' },
  CHZ_ERR_CALL_STATE: { scope: 'state', message: 'A call was asked to move between two states its transition table does not connect.' },
  CHZ_ERR_SESSION_STATE: { scope: 'state', message: 'A server session was asked to move between two states its transition table does not connect.' },
  CHZ_ERR_SAFETY_STATE: { scope: 'state', message: 'A safety-number exchange was asked to move between two states its transition table does not connect.' },
  CHZ_ERR_CLIENT_STATE: { scope: 'state', message: 'A signaling client or browser session was asked to move between two states its transition table does not connect, or a method was called in the wrong state.' },
  CHZ_ERR_BOT_STATE: { scope: 'state', message: 'A load bot was asked to move between two states its transition table does not connect.' },

  // `chatzyo probe` checks (a failed check carries its code; the verdict reads codes only).
  CHZ_ERR_PROBE_BAD_URL: { scope: 'probe', message: 'A STUN/TURN URL could not be parsed.' },
  CHZ_ERR_PROBE_DNS: { scope: 'probe', message: 'The host name did not resolve; check the spelling and your DNS.' },
  CHZ_ERR_PROBE_TIMEOUT: { scope: 'probe', message: 'The check did not finish within its deadline.' },
  CHZ_ERR_STUN_TIMEOUT: { scope: 'probe', message: 'No answer from the STUN server over UDP: it is down, or UDP to it is blocked.' },
  CHZ_ERR_STUN_ERROR: { scope: 'probe', message: 'The STUN server answered with an error.' },
  CHZ_ERR_STUN_UNSUPPORTED: { scope: 'probe', message: 'The STUN server does not support this RFC 5780 test.' },
  CHZ_ERR_STUN_DECODE: { scope: 'probe', message: 'A STUN message does not decode (short, wrong magic cookie, bad attribute); it is dropped.' },
  CHZ_ERR_TURN_AUTH: { scope: 'probe', message: 'The TURN server refused the credentials (wrong user/password, or an expired TURN REST credential).' },
  CHZ_ERR_TURN_REJECTED: { scope: 'probe', message: 'The TURN server refused the allocation for another reason (quota, forbidden peer, capacity).' },
  CHZ_ERR_TURN_UNREACHABLE: { scope: 'probe', message: 'The TURN server could not be reached over this transport.' },
  CHZ_ERR_TURN_TLS: { scope: 'probe', message: 'The TLS handshake with the TURN server failed (certificate not trusted, wrong name, or not TLS).' },
  CHZ_ERR_ICE_FAILED: { scope: 'probe', message: 'The two test peers could not connect.' },
  CHZ_ERR_PROBE_INTERNAL: { scope: 'probe', message: 'The check failed unexpectedly; the message says where.' },
  CHZ_ERR_PROBE_REQUIREMENT_UNMET: { scope: 'probe', exit: X.failure, message: 'probe --require: calls of that kind will not work on this network (exit code 1).' },
  CHZ_ERR_PROBE_REQUIREMENT_UNKNOWN: { scope: 'probe', exit: X.unreachable, message: 'probe --require: whether calls of that kind work could not be measured (exit code 3).' },

  // `chatzyo bots` (a bot's failed attempt carries one; counted by phase in the summary).
  CHZ_ERR_BOTS_USAGE: { scope: 'bots', exit: X.usage, message: 'The bots options do not make sense together; see `chatzyo bots --help`.' },
  CHZ_ERR_BOTS_THRESHOLD: { scope: 'bots', exit: X.failure, message: 'A threshold of the run did not hold (--max-fail-rate, --max-p95-connect-ms, --max-p95-match-ms, --min-bitrate-kbps, or the server went away).' },
  CHZ_ERR_BOT_CLIP: { scope: 'bots', message: 'The pre-encoded bot clip could not be made or read (ffmpeg with libvpx and libopus is needed once).' },
  CHZ_ERR_BOT_SIGNAL_FAILED: { scope: 'bots', message: 'The bot could not open the signaling WebSocket or was not welcomed in time.' },
  CHZ_ERR_BOT_REJECTED: { scope: 'bots', message: 'The server refused the bot (too many connections from one address: raise --max-connections-per-address).' },
  CHZ_ERR_BOT_MATCH_TIMEOUT: { scope: 'bots', message: 'The bot waited longer than --match-timeout for a partner.' },
  CHZ_ERR_BOT_CONNECT_TIMEOUT: { scope: 'bots', message: 'The bot did not connect to its partner within --connect-timeout of the match.' },
  CHZ_ERR_BOT_ICE_FAILED: { scope: 'bots', message: 'ICE failed between the bot and its partner (after one ICE restart).' },
  CHZ_ERR_BOT_NO_MEDIA: { scope: 'bots', message: 'DTLS was up but no video arrived from the partner within --connect-timeout.' },
  CHZ_ERR_BOT_PARTNER_LEFT: { scope: 'bots', message: 'The partner left before the call was connected.' },
  CHZ_ERR_BOT_SERVER_LOST: { scope: 'bots', message: 'The signaling connection dropped in the middle of a phase (the server went away).' },
  CHZ_ERR_BOT_SERVER_ERROR: { scope: 'bots', message: 'The server answered the bot with an error that ends the attempt.' },
  CHZ_ERR_BOT_INTERNAL: { scope: 'bots', message: 'A bot failed unexpectedly; the message says where.' },

  // The network lab (src/lab): always a usage or setup problem.
  CHZ_ERR_LAB_PROFILE: { scope: 'lab', exit: X.usage, message: 'The network profile is unknown or a part of a custom profile does not parse (see "Network lab" in the README).' },
  CHZ_ERR_LAB_RELAY: { scope: 'lab', exit: X.usage, message: 'The impairment relay could not start (no loopback UDP port) or was used after it closed.' },
  CHZ_ERR_LAB_SENDER: { scope: 'lab', exit: X.usage, message: "The lab's sender thread died, or its session did not start in time (a session that failed with a code of its own throws that)." },
} as const satisfies Record<`CHZ_ERR_${string}`, ErrorSpec>;

type Table = typeof ERRORS;

/** Any chatzyo error code; a typo does not compile. */
export type AnyErrorCode = keyof Table;

/** The codes of one scope. */
export type CodeOf<S extends ErrorScope> = { [C in AnyErrorCode]: Table[C]['scope'] extends S ? C : never }[AnyErrorCode];

/** A stable wire error code such as `CHZ_ERR_NOT_MATCHED`. */
export type ErrorCode = CodeOf<'wire'>;

/** A state-machine error code. */
export type StateErrorCode = CodeOf<'state'>;

/** Whether `code` is one of ours (a newer server may send codes this build does not know). */
export function isErrorCode(code: unknown): code is AnyErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** Whether `code` is a wire code (one the server may send in an `error` message). */
export function isWireErrorCode(code: unknown): code is ErrorCode {
  return isErrorCode(code) && ERRORS[code].scope === 'wire';
}

/** Code to default message, for the codes of one scope. */
export function messagesOf<S extends ErrorScope>(scope: S): { readonly [C in CodeOf<S>]: string } {
  const out: Record<string, string> = {};
  for (const [code, spec] of Object.entries(ERRORS) as [AnyErrorCode, ErrorSpec][]) if (spec.scope === scope) out[code] = spec.message;
  return out as { readonly [C in CodeOf<S>]: string };
}

/** Every wire error code with its default message. */
export const ERROR_CODES = messagesOf('wire');

/** State-machine codes with their messages. */
export const STATE_ERROR_CODES = messagesOf('state');

/** All wire error codes as a list (for schemas and the docs test). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The exit code that ends the CLI for an error code (1 for an unknown code or one without its own). */
export function exitCodeOf(code: string | undefined): number {
  if (!isErrorCode(code)) return EXIT_CODES.failure;
  const spec: ErrorSpec = ERRORS[code];
  return spec.exit ?? EXIT_CODES.failure;
}

/** One of our WebSocket close codes (derived from the `close` column of {@link ERRORS}). */
export type CloseCode = { [C in AnyErrorCode]: Table[C] extends { close: infer N extends number } ? N : never }[AnyErrorCode];

type CodeForClose<N extends CloseCode> = { [C in AnyErrorCode]: Table[C] extends { close: N } ? C : never }[AnyErrorCode];

/**
 * WebSocket close codes of our own (4000-4999, RFC 6455 section 7.4.2), each mapped to the
 * error code sent in the last `error` frame before the close.
 */
export const CLOSE_CODES = Object.fromEntries(
  (Object.entries(ERRORS) as [AnyErrorCode, ErrorSpec][]).filter(([, spec]) => spec.close !== undefined).map(([code, spec]) => [spec.close, code]),
) as { readonly [N in CloseCode]: CodeForClose<N> };

/** The close code that goes with an error code, if the error ends the connection. */
export function closeCodeFor(code: ErrorCode): CloseCode | undefined {
  const spec: ErrorSpec = ERRORS[code];
  return spec.close as CloseCode | undefined;
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
  /** The code; from the wire, possibly one a newer server knows and this build does not. */
  readonly code: AnyErrorCode;
  /** Process exit code when this error ends the CLI: the table's, never given per call. */
  readonly exitCode: number;

  constructor(code: AnyErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? (isErrorCode(code) ? ERRORS[code].message : code), { cause: options?.cause });
    this.code = code;
    this.exitCode = exitCodeOf(code);
  }

  /** The wire form of this error. */
  toWire(ref?: string): { type: 'error'; code: string; message: string; ref?: string } {
    return ref === undefined
      ? { type: 'error', code: this.code, message: this.message }
      : { type: 'error', code: this.code, message: this.message, ref };
  }

  /** Rebuilds an error from its wire form. */
  static fromWire(msg: { code: string; message?: string }): ChatzyoError {
    return new ChatzyoError(msg.code as AnyErrorCode, msg.message);
  }
}
