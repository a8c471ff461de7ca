/** Call-quality measurement as a viewer would see it: frame stamps, viewer stats, MOS. Pure TypeScript. */
export * from './stamp.js';
export * from './viewer-stats.js';
export * from './mos.js';
export * from './fidelity.js';
export * from './ratio.js';
