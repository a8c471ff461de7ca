// The browser client is an installable app (src/web/manifest.webmanifest, sw.ts, pwa.ts): Chromium
// finds nothing missing for installing it, the service worker keeps the shell in a cache of this
// build only, and a page opened while the server cannot be reached shows the offline page (from
// that cache) instead of the browser's error page. The server serves the manifest, the icons
// and the worker with the right types and headers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { SHELL_PATHS } from '../../src/web/shell-cache.js';
import { buildWebClient, launchChromium } from '../helpers/browsers.js';
import { withTimeout } from '../helpers/deadline.js';
import { readPng } from '../helpers/png.js';
import { startServer } from '../helpers/server.js';

let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
const servers: SignalServer[] = [];
const contexts: BrowserContext[] = [];
const profiles: string[] = [];

beforeAll(async () => {
  [web, browser] = await Promise.all([buildWebClient(), launchChromium()]);
});
afterEach(async () => {
  // Closing a persistent context waits for its browser to exit, so its profile can go after.
  await Promise.all(contexts.splice(0).map((c) => withTimeout(c.close(), 10_000, 'close a browser context').catch(() => {})));
  for (const dir of profiles.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});
afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
  web?.remove();
});

async function serve(port = 0): Promise<SignalServer> {
  const server = await startServer({ webRoot: web!.dir, port });
  servers.push(server);
  return server;
}

/**
 * A Chromium with an ordinary profile in a fresh directory. Every context of a launched browser
 * is an incognito one, and Chromium never offers to install an app from incognito (the
 * installability check says `in-incognito`), so the check needs a persistent context.
 */
async function persistentContext(): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(tmpdir(), 'chatzyo-profile-'));
  const launched = chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHATZYO_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  profiles.push(profile);
  const context = await withTimeout(launched, 30_000, 'chromium launch with a persistent profile').catch((err: unknown) => {
    void launched.then((late) => late.close(), () => {}); // a launch that comes in after the deadline is closed all the same
    throw err;
  });
  contexts.push(context);
  return context;
}

/** A page in a fresh context (its own storage, so no worker from another test), with its console errors. */
async function newPage(context?: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  if (!context) {
    context = await browser!.newContext();
    contexts.push(context);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  return { page, errors };
}

/**
 * Resolves once a service worker controls the page: the worker installs (caching the shell),
 * activates and claims the open page (sw.ts), which fires `controllerchange`.
 */
async function untilControlled(page: Page): Promise<void> {
  const controlled = page.evaluate(`navigator.serviceWorker.controller !== null || new Promise((resolve) =>
    navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true }))`);
  await withTimeout(controlled, 20_000, 'the service worker installs, activates and controls the page');
}

/** Opens the client and waits for its service worker to control the page. */
async function openControlled(url: string, context?: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const opened = await newPage(context);
  await opened.page.goto(url, { waitUntil: 'load' });
  await untilControlled(opened.page);
  return opened;
}

const cacheNames = (page: Page) => page.evaluate<string[]>('caches.keys()');
const cachedPaths = (page: Page, cache: string) => page.evaluate<string[]>(
  `caches.open(${JSON.stringify(cache)}).then((c) => c.keys()).then((reqs) => reqs.map((r) => new URL(r.url).pathname).sort())`,
);

describe('installable app', () => {
  it('Chromium reports no installability error and parses the manifest without errors', async () => {
    const server = await serve();
    const { page, errors } = await openControlled(server.url, await persistentContext());
    const cdp = await page.context().newCDPSession(page);

    const { installabilityErrors } = await withTimeout(cdp.send('Page.getInstallabilityErrors'), 10_000, 'Page.getInstallabilityErrors');
    expect(installabilityErrors).toEqual([]);

    const manifest = await withTimeout(cdp.send('Page.getAppManifest'), 10_000, 'Page.getAppManifest');
    expect(manifest.url).toBe(`${server.url}/manifest.webmanifest`);
    expect(manifest.errors).toEqual([]);
    expect(JSON.parse(manifest.data ?? 'null')).toMatchObject({ name: 'chatzyo', start_url: '/', scope: '/', display: 'standalone' });

    // The worker took the whole shell into one cache of this build.
    const names = (await cacheNames(page)).filter((n) => n.startsWith('chatzyo-'));
    expect(names).toEqual([expect.stringMatching(/^chatzyo-shell-[0-9a-f]{16}$/)]);
    expect(await cachedPaths(page, names[0]!)).toEqual([...SHELL_PATHS].sort());
    // No CSP violation (worker-src, manifest-src) or script error on the way.
    expect(errors).toEqual([]);
  });

  it('a new worker deletes the caches of earlier builds and leaves other caches alone', async () => {
    const server = await serve();
    const { page } = await newPage();
    // A same-origin document without the client (so no worker yet) makes the caches an earlier build would have left.
    await page.goto(`${server.url}/healthz`);
    await page.evaluate(`Promise.all([caches.open('chatzyo-shell-0123456789abcdef'), caches.open('not-ours')])`);
    await page.goto(server.url, { waitUntil: 'load' });
    await untilControlled(page);
    const names = await cacheNames(page);
    expect(names).toHaveLength(2);
    expect(names).toContain('not-ours');
    expect(names.find((n) => n !== 'not-ours')).toMatch(/^chatzyo-shell-(?!0123456789abcdef)[0-9a-f]{16}$/);
  });
});

describe('offline', () => {
  it('with the server gone, a reload shows the offline page from the cache, not the browser error; Reload brings the client back', async () => {
    const server = await serve();
    const { url, port } = server;
    const { page } = await openControlled(url);
    await server.close();

    const res = await page.reload({ waitUntil: 'load' });
    expect(page.url()).toBe(`${url}/`);
    expect(res?.status()).toBe(200);
    expect(res?.fromServiceWorker()).toBe(true);
    const offline = page.getByTestId('offline');
    await offline.waitFor({ state: 'visible' });
    expect(await offline.innerText()).toMatch(/You are offline[\s\S]*chatzyo needs a connection to meet strangers; reconnect and reload\./);
    // app.css and offline.js came from the cache too: the page is styled, and, the device being
    // online, it says the server is what cannot be reached.
    expect(await page.evaluate('getComputedStyle(document.documentElement).backgroundColor')).toBe('rgb(246, 247, 249)');
    await page.getByTestId('offline-detail').waitFor({ state: 'visible' });
    // The worker answers only for the shell: the server's own endpoints fail as they are.
    expect(await page.evaluate(`fetch('/healthz').then((r) => 'answered ' + r.status, () => 'failed')`)).toBe('failed');
    expect(await page.evaluate(`fetch('/api/hubs').then((r) => 'answered ' + r.status, () => 'failed')`)).toBe('failed');
    expect(await page.evaluate(`fetch('/app.js').then((r) => r.status)`)).toBe(200);

    await serve(port);
    await Promise.all([page.waitForEvent('load'), page.getByTestId('offline-reload').click()]);
    await page.getByTestId('start').waitFor({ state: 'attached' });
    expect(await page.getByTestId('offline').count()).toBe(0);
  });

  it('with the browser offline, opening the client shows the offline page', async () => {
    const server = await serve();
    const { page: first } = await openControlled(server.url);
    await first.context().setOffline(true);
    // A private call link opened in a new tab of the same browser (a new document, which the worker controls).
    const page = await first.context().newPage();
    const link = `${server.url}/#/call/ABCD2345`;
    const res = await page.goto(link, { waitUntil: 'load' });
    expect(res?.fromServiceWorker()).toBe(true);
    expect(page.url()).toBe(link);
    await page.getByTestId('offline').waitFor({ state: 'visible' });
    // The browser knows it is offline, so the page does not blame the server.
    expect(await page.getByTestId('offline-detail').isHidden()).toBe(true);
  });
});

describe('served files', () => {
  it('the manifest, icons, worker and offline page have the right types and headers; the icons are PNGs of their declared sizes', async () => {
    const server = await serve();
    const get = async (p: string) => {
      const res = await withTimeout(fetch(`${server.url}${p}`), 5_000, `GET ${p}`);
      expect(res.status, p).toBe(200);
      return res;
    };
    const index = await (await get('/')).text();
    expect(index).toContain('<link rel="manifest" href="/manifest.webmanifest">');
    const apple = /<link rel="apple-touch-icon" href="([^"]+)">/.exec(index)?.[1];
    expect(apple).toBeDefined();

    const manifestRes = await get('/manifest.webmanifest');
    expect(manifestRes.headers.get('content-type')).toBe('application/manifest+json');
    const manifest = (await manifestRes.json()) as { icons: { src: string; sizes: string; type: string }[] };
    const icons = [...manifest.icons, { src: apple!, sizes: '180x180', type: 'image/png' }];
    for (const icon of icons) {
      const res = await get(icon.src);
      expect(res.headers.get('content-type'), icon.src).toBe('image/png');
      const { width, height } = readPng(Buffer.from(await res.arrayBuffer()));
      expect(`${width}x${height}`, icon.src).toBe(icon.sizes);
    }

    const sw = await get('/sw.js');
    expect(sw.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(sw.headers.get('cache-control')).toBe('no-cache');
    const csp = sw.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("manifest-src 'self'");
    expect((await get('/offline.html')).headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect((await get('/offline.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // The rest keeps the server's caching as it was.
    expect((await get('/app.js')).headers.get('cache-control')).toBeNull();
  });
});
