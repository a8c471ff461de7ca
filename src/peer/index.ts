/** The headless peer: signaling client, peer session, calls and media sources (built on werift). */
export * from './call.js';
export * from './errors.js';
export * from './ffmpeg.js';
export * from './frame-size.js';
export * from './ip-family.js';
export * from './media-source.js';
export * from './peer-session.js';
export * from './rtp-frames.js';
export * from './signal-client.js';
export * from './thread-priority.js';
export * from './tls-trust.js';
