/** Exit codes of the chatzyo CLI. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** `connect`: the server cannot be reached (or refused us for good). */
  serverUnreachable: 3,
  /** `connect`: ffmpeg is not installed where we looked. */
  ffmpegMissing: 4,
  /** `connect`: the camera, microphone or media file is missing. */
  deviceMissing: 5,
  /** `connect`: no peer connection within --connect-timeout. */
  connectTimeout: 6,
} as const;

/** The exit code that ends the CLI for an error code (1 for any other error). */
export function exitCodeFor(code: string | undefined): number {
  switch (code) {
    case 'CHZ_ERR_SERVER_UNREACHABLE':
    case 'CHZ_ERR_SERVER_REJECTED':
      return EXIT.serverUnreachable;
    case 'CHZ_ERR_FFMPEG_MISSING':
      return EXIT.ffmpegMissing;
    case 'CHZ_ERR_DEVICE_MISSING':
      return EXIT.deviceMissing;
    case 'CHZ_ERR_CONNECT_TIMEOUT':
      return EXIT.connectTimeout;
    default:
      return EXIT.failure;
  }
}
