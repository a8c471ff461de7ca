/**
 * The client core: the client side of the protocol that the browser, the headless peer and the
 * bots share (signaling state machine, reconnect backoff, close and server-error policy, relay
 * scrubbing, the typed emitter). Pure TypeScript: no `node:` import, no DOM, no `ws`; each client
 * adds only a thin transport adapter (a {@link Dial}).
 */
export * from './backoff.js';
export * from './emitter.js';
export * from './policy.js';
export * from './signal-client.js';
// Everything a client sends in relay-only mode goes through these (the relay address leak came
// from a client that had no copy of them).
export { scrubRelayCandidate, scrubRelaySdp, scrubRelaySignal } from '../relay-scrub.js';
