/**
 * The offline page's script (offline.html, bundled into offline.js; sw.ts serves the page when
 * opening the client fails because the network or the server cannot be reached). Reload tries
 * again, and so does the browser's `online` event. When the device itself is online, the page
 * says it is the server that cannot be reached. In the page's language, like the client.
 */
import { applyTranslations, startLanguage } from './i18n/index.js';

startLanguage();
applyTranslations(document, 'offline.pageTitle');
const reload = (): void => location.reload();

document.getElementById('offline-reload')?.addEventListener('click', reload);
window.addEventListener('online', reload);

const detail = document.getElementById('offline-detail');
if (detail && navigator.onLine) detail.hidden = false;
