/** The chatzyo wire protocol: pure TypeScript, shared by server, headless peer and browser. */
export * from './errors.js';
export * from './messages.js';
export * from './parse.js';
export * from './version.js';
export * from './safety-number.js';
