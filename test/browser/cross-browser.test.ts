import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser as PwBrowser } from 'playwright-core';
import type { Browser as PpBrowser } from 'puppeteer-core';
import type { SignalServer } from '../../src/signal/server.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, launchFirefox, openChromiumPage, openFirefoxPage, saveScreenshot, startIn,
  waitForStatus, waitForVideo, type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let chromium: PwBrowser;
let firefox: PpBrowser;
let server: SignalServer;
const pages: ChatPage[] = [];

beforeAll(async () => {
  web = await buildWebClient();
  // Each result is kept as soon as it exists, so afterAll cleans up even when another one fails.
  await Promise.all([
    launchChromium().then((b) => { chromium = b; }),
    launchFirefox().then((b) => { firefox = b; }),
    startServer({ webRoot: web.dir, screening: 'off' }).then((s) => { server = s; }),
  ]);
});
afterAll(async () => {
  await closeAll(pages);
  await Promise.all([chromium?.close(), firefox?.close()]);
  await server?.close();
  web?.remove();
});

describe('Chromium and Firefox', () => {
  it('are matched and each decodes the other\'s video; chat works both ways', async () => {
    const c = await openChromiumPage(chromium, server.url, 'chromium');
    pages.push(c);
    const f = await openFirefoxPage(firefox, server.url, 'firefox');
    pages.push(f);
    await startIn(f, 'global');
    await waitForStatus(f, /position 1/, 15_000, 'Firefox waits in the global queue');
    await startIn(c, 'global');
    await Promise.all([
      waitForStatus(c, CONNECTED, 20_000, 'Chromium connected'),
      waitForStatus(f, CONNECTED, 20_000, 'Firefox connected'),
    ]);
    expect(await c.eval<string>('window.__chatzyo.matchId')).toBe(await f.eval<string>('window.__chatzyo.matchId'));

    const [vc, vf] = await Promise.all([waitForVideo(c, 30, 30_000), waitForVideo(f, 30, 30_000)]);
    expect(vc.frameWidth).toBeGreaterThan(0);
    expect(vf.frameWidth).toBeGreaterThan(0);

    await f.fill('chat-input', 'hi from firefox');
    await f.click('chat-send');
    await until(async () => (await c.text('chat-log')).includes('hi from firefox'), 10_000, 'Chromium shows the Firefox message');
    await c.fill('chat-input', 'hi from chromium');
    await c.click('chat-send');
    await until(async () => (await f.text('chat-log')).includes('hi from chromium'), 10_000, 'Firefox shows the Chromium message');

    // The safety-number exchange runs between the two engines and both show the same number.
    const safety = async (p: ChatPage) => ({ check: await p.eval<string>('document.querySelector(\'[data-testid="safety-number"]\').dataset.check'), text: await p.text('safety-number') });
    await until(async () => (await safety(c)).check === 'verified' && (await safety(f)).check === 'verified', 10_000, 'both pages verify a safety number');
    const [sc, sf] = [await safety(c), await safety(f)];
    expect(sc.text).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(sf.text).toBe(sc.text);

    await saveScreenshot(c, 'cross-browser-chromium');
    await saveScreenshot(f, 'cross-browser-firefox');
    expect([...c.errors, ...f.errors]).toEqual([]);
  });
});
