/** Load bots: a controller spreading signal-mode or media-mode bots over worker threads, and demo partners for `serve`. */
export * from './bot.js';
export * from './clip.js';
export * from './clip-player.js';
export * from './connection.js';
export * from './controller.js';
export * from './demo.js';
export * from './errors.js';
export * from './links.js';
export * from './media-feed.js';
export * from './stats.js';
export { junitXml } from './junit.js';
