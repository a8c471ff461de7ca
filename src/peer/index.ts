/** The headless peer: signaling client, peer session, calls and media sources (built on werift). */
export * from './backoff.js';
export * from './call.js';
export * from './emitter.js';
export * from './errors.js';
export * from './ffmpeg.js';
export * from './media-source.js';
export * from './peer-session.js';
export * from './rtp-frames.js';
export * from './signal-client.js';
