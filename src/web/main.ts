/**
 * Entry point of the browser client (bundled by esbuild into dist/web/app.js).
 * Wires the signaling connection, the session and the page together.
 */
// First: the protocol's zod schemas are built while the imports below are evaluated.
import './csp.js';
import { BrowserSession } from './browser-session.js';
import { installDebugHook } from './debug-hook.js';
import { clearCallRoute, privateCodeFromHash } from './route.js';
import { SignalClient } from './signal-client.js';
import { View } from './view.js';

function boot(): void {
  const session = new BrowserSession(new SignalClient());
  new View(session);
  installDebugHook(session);

  const code = privateCodeFromHash(location.hash);
  if (location.hash && code === null && location.hash.startsWith('#/call/')) {
    console.warn('chatzyo: that private call link is malformed');
  }
  session.open(code);
  if (code) clearCallRoute();

  // A link pasted into the address bar of an open page changes only the hash.
  window.addEventListener('hashchange', () => {
    const next = privateCodeFromHash(location.hash);
    if (!next) return;
    clearCallRoute();
    if (session.state === 'offline' || session.state === 'preparing' || session.state === 'closed') return;
    void session.joinPrivate(next).catch((err: unknown) => console.warn('chatzyo:', err));
  });
  window.addEventListener('pagehide', () => session.close());
  // A page restored from the back/forward cache has a closed session: start afresh.
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
else boot();
