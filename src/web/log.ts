/**
 * The browser client's only log: the page's console. A person debugging the page opens the
 * developer tools; there is no server to send these to (and the page must not phone home).
 * Everything in src/web logs through here, so the linter's no-console rule has one exception.
 */
/* eslint-disable no-console -- this module is the page's one sanctioned console writer (see above) */

/** Something went wrong that the page recovered from (a refused action, a frame it cannot read). */
export function warn(message: string, err?: unknown): void {
  if (err === undefined) console.warn(`chatzyo: ${message}`);
  else console.warn(`chatzyo: ${message}`, err);
}

/** Detail only a developer wants (a remote candidate this browser cannot use). */
export function debug(message: string, err?: unknown): void {
  console.debug(`chatzyo: ${message}`, err);
}
