/**
 * Makes the client an installable app: registers the service worker (sw.ts, built to /sw.js),
 * which also shows an offline page when the client is opened without a connection. The page
 * works the same without it (an old browser, a plain-http origin other than localhost).
 */
import * as log from './log.js';

/**
 * Registers /sw.js for the whole origin, once the page has loaded (so it does not compete with
 * the page's own first requests). Service workers need a secure context: HTTPS, or localhost
 * and 127.0.0.1. https://www.w3.org/TR/service-workers/#secure-context
 */
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  const register = (): void => {
    navigator.serviceWorker.register('/sw.js', { scope: '/' })
      .catch((err: unknown) => log.warn('the service worker was not registered (the page works without it)', err));
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}
