/** The wire protocol version this build speaks. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 2;

/**
 * Versions the server accepts in `hello`. Version 2 moved TURN credentials from `welcome` to
 * `matched` (and `welcome` only for `relayOnly` clients) and added `ice-servers` renewals; a
 * version 1 client still works, without TURN unless it was given some in `matched`.
 */
export const SUPPORTED_VERSIONS: readonly number[] = [1, 2];

/** The WebSocket path of the signaling endpoint. */
export const WS_PATH = '/ws';

/** The largest frame the server handles; larger frames get `CHZ_ERR_TOO_LARGE`. */
export const MAX_FRAME_BYTES = 64 * 1024;
