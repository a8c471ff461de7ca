/**
 * The service worker (bundled by scripts/build-web.js into sw.js, a classic script, and
 * registered by pwa.ts): with the web manifest it makes the client installable, and a page
 * opened while the network or the server is down shows offline.html instead of the browser's
 * error page. The rules (what is cached, which requests it answers) are in shell-cache.ts.
 *
 * Every answer is network first: chatzyo is useless without its server, so a working network
 * always gets the current files, and the cache only stands in when a fetch fails. Each build
 * caches under its own name (the version is a hash of the built files), and activating a new
 * worker deletes the caches of the old ones.
 * https://www.w3.org/TR/service-workers/#execution-context-events
 */
import { cacheName, isStaleCache, OFFLINE_PATH, routeFor, SHELL_PATHS } from './shell-cache.js';

/** Set by scripts/build-web.js (esbuild `define`): a hash of the built app shell. */
declare const __CHATZYO_SHELL_VERSION__: string;

// The few ServiceWorkerGlobalScope types used here. TypeScript's WebWorker lib has them but
// cannot be combined with the DOM lib that the rest of src/web (and tsconfig.json, which
// ESLint reads) compiles with, so they are declared here.
interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface WorkerScope {
  readonly location: { readonly origin: string };
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
}

const worker = self as unknown as WorkerScope;
const CACHE = cacheName(__CHATZYO_SHELL_VERSION__);

worker.addEventListener('install', (event) => {
  // `cache: 'reload'` skips the HTTP cache, so the shell is this build's, not a stale copy.
  // A new worker takes over at once: every answer is network first, so an open page never
  // mixes files of two builds while it is online.
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll(SHELL_PATHS.map((p) => new Request(p, { cache: 'reload' }))))
    .then(() => worker.skipWaiting()));
});

worker.addEventListener('activate', (event) => {
  // Claim the open pages too, so the first visit is already covered when the connection drops.
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => isStaleCache(n, CACHE)).map((n) => caches.delete(n))))
    .then(() => worker.clients.claim()));
});

worker.addEventListener('fetch', (event) => {
  const route = routeFor(event.request, worker.location.origin);
  if (route === null) return;
  event.respondWith(route === 'page' ? fetchOr(event.request, OFFLINE_PATH, true) : fetchOr(event.request, event.request, false));
});

/**
 * The network's answer; when the fetch fails (offline, server down), the cached `fallback`.
 * For the page, a 5xx counts as the server being down too: behind a reverse proxy (the TLS
 * setup a service worker needs) a stopped chatzyo is a 502 from the proxy, not a failed fetch.
 */
async function fetchOr(request: Request, fallback: Request | string, serverErrorIsDown: boolean): Promise<Response> {
  let failure: unknown;
  try {
    const res = await fetch(request);
    if (!serverErrorIsDown || res.status < 500) return res;
    failure = new Error(`the server answered ${res.status}`);
  } catch (err) {
    failure = err;
  }
  const cached = await caches.match(fallback, { cacheName: CACHE });
  if (cached) return cached;
  throw failure;
}
