/**
 * Entry point of the browser client (bundled by esbuild into dist/web/app.js).
 * Wires the signaling connection, the session and the page together.
 */
// First: the protocol's zod schemas are built while the imports below are evaluated.
import './csp.js';
import { AgeGate } from './age-gate.js';
import { BrowserSession } from './browser-session.js';
import { installDebugHook } from './debug-hook.js';
import { JoinPrompt, promptContext } from './join-prompt.js';
import { clearCallRoute, privateCodeFromHash } from './route.js';
import { SignalClient } from './signal-client.js';
import { applyTranslations, startLanguage } from './i18n/index.js';
import { View } from './view.js';
import * as log from './log.js';
import { registerServiceWorker } from './pwa.js';
import { Screener } from './screening.js';

function boot(): void {
  startLanguage();
  applyTranslations();
  const session = new BrowserSession(new SignalClient());
  const gate = new AgeGate();
  const screener = new Screener();
  new View(session, { gate, screener });
  installDebugHook(session, screener);

  const code = privateCodeFromHash(location.hash);
  if (location.hash && code === null && location.hash.startsWith('#/call/')) {
    log.warn('that private call link is malformed');
  }
  // A page loaded from a call link (the way a shared link is opened) joins at once: it has no
  // call or camera yet to hand over, and the browser asks for the camera. Someone who has not
  // confirmed they are 18 or older on this device is asked first; the link is joined after.
  if (code && !gate.confirmed) {
    session.open(null);
    void gate.ensure().then((yes) => {
      if (!yes) return;
      screener.preload();
      const join = () => void session.joinPrivate(code).catch((err: unknown) => log.warn('joining the private call failed:', err));
      if (session.state === 'idle') { join(); return; }
      // Not welcomed yet: join on the first idle.
      const off = session.on('change', (s) => { if (s.state === 'idle') { off(); join(); } });
    });
  } else {
    if (code) screener.preload();
    session.open(code);
  }
  if (code) clearCallRoute();

  // In an open page only the fragment changes: a link pasted into the address bar, or any page
  // that holds a reference to this tab setting it. The page asks first, whatever the session is
  // doing; only Yes joins (join-prompt.ts).
  const prompt = new JoinPrompt();
  window.addEventListener('hashchange', () => {
    const next = privateCodeFromHash(location.hash);
    if (!next) return;
    clearCallRoute();
    const context = promptContext(session.state, session.snapshot().mediaOn);
    if (!context) return;
    void prompt.ask(next, context)
      .then(async (yes) => {
        if (!yes || !(await gate.ensure())) return;
        screener.preload();
        await session.joinPrivate(next);
      })
      .catch((err: unknown) => log.warn('joining the private call failed:', err));
  });
  window.addEventListener('pagehide', () => session.close());
  // A page restored from the back/forward cache has a closed session: start afresh.
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
else boot();
registerServiceWorker();
