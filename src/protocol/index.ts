/** The chatzyo wire protocol: pure TypeScript, shared by server, headless peer and browser. */
export * from './errors.js';
export * from './messages.js';
export * from './parse.js';
export * from './version.js';
export * from './safety-number.js';
export * from './safety-exchange.js';
export * from './display-text.js';
export * from './chat-channel.js';
export * from './state-channel.js';
export * from './limits.js';
export * from './landmarks.js';
