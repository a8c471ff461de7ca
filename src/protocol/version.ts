/** The wire protocol version this build speaks. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Versions the server accepts in `hello`. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/** The WebSocket path of the signaling endpoint. */
export const WS_PATH = '/ws';

/** The largest frame the server handles; larger frames get `CHZ_ERR_TOO_LARGE`. */
export const MAX_FRAME_BYTES = 64 * 1024;
