/** Network diagnostics: STUN, RFC 5780 NAT behaviour, TURN, signaling and end-to-end checks, and a verdict. */
export * from './errors.js';
export * from './candidates.js';
export * from './ice-url.js';
export * from './ice-check.js';
export * from './interfaces-check.js';
export * from './nat-check.js';
export * from './nat-classify.js';
export * from './probe.js';
export * from './report.js';
export * from './requirement.js';
export * from './signal-check.js';
export * from './stats.js';
export * from './stun-channel.js';
export * from './stun-check.js';
export * from './turn-check.js';
export * from './udp.js';
export * from './verdict.js';
