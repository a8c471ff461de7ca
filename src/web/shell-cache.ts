/**
 * What the service worker (sw.ts) keeps and which requests it answers, as plain functions so a
 * unit test covers the rules without a browser. The worker is there to make the client
 * installable and to show an offline page instead of the browser's error: chatzyo cannot meet
 * anyone without the server, so nothing is served stale while the network works, and nothing
 * but the page's own static files is ever touched (no WebSocket, no /api, /metrics or /healthz,
 * no request other than a GET).
 */

/**
 * The app shell, fetched into the cache when the worker installs (a file missing on the server
 * fails the install, so a broken build never takes over). Same-origin paths.
 */
export const SHELL_PATHS: readonly string[] = [
  '/', '/app.js', '/app.css', '/manifest.webmanifest', '/offline.html', '/offline.js',
  '/icons/icon-192.png', '/icons/icon-512.png', '/icons/icon-maskable-512.png', '/icons/apple-touch-icon.png',
];

/** The page a navigation gets when the network (or the server) cannot be reached. */
export const OFFLINE_PATH = '/offline.html';

const CACHE_PREFIX = 'chatzyo-shell-';

/** The cache of one build; `version` is a hash of the built files (scripts/build-web.js). */
export function cacheName(version: string): string {
  return `${CACHE_PREFIX}${version}`;
}

/** A cache an earlier build of the worker made: deleted when this one activates. */
export function isStaleCache(name: string, current: string): boolean {
  return name.startsWith(CACHE_PREFIX) && name !== current;
}

/**
 * How the worker answers a request:
 * - `page`: a navigation to the client (`/`, whatever the query; a private call's `#/call/CODE`
 *   never reaches the network): the network, and the offline page when the fetch fails;
 * - `shell`: a GET of a shell file (exact path, no query): the network, and the cached copy when
 *   the fetch fails;
 * - `null`: the worker stays out of it and the browser fetches as if there were no worker: any
 *   method but GET, another origin, any other path (the WebSocket, `/api/hubs`, `/metrics`,
 *   `/healthz`, a navigation to anything but the client).
 */
export function routeFor(request: { method: string; url: string; mode: string }, origin: string): 'page' | 'shell' | null {
  if (request.method !== 'GET') return null;
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  if (request.mode === 'navigate') return url.pathname === '/' || url.pathname === '/index.html' ? 'page' : null;
  return url.search === '' && SHELL_PATHS.includes(url.pathname) ? 'shell' : null;
}
