/** The network lab: named profiles, a shaped link, the impairment relay in front of TURN. */
export * from './errors.js';
export * from './profiles.js';
export * from './link.js';
export * from './relay.js';
export * from './threaded-relay.js';
export * from './sender-process.js';
export * from './ice.js';
export * from './measure.js';
export * from './regions.js';
