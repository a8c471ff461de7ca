// The page's signaling connection is the client core over the browser's own WebSocket: when the
// server shuts down (close 4005) the page says so and when it will try again, and when a server
// answers on the same address again the page is welcomed and back to idle, without a reload.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { buildWebClient, launchChromium, openChromiumPage, pollUntil, waitForStatus, type ChatPage } from '../helpers/browsers.js';

let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
const servers: SignalServer[] = [];
let page: ChatPage | undefined;

beforeAll(async () => {
  web = await buildWebClient();
  browser = await launchChromium();
});
afterAll(async () => {
  await page?.close();
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
  web?.remove();
});

const state = (p: ChatPage) => p.eval<string>('window.__chatzyo.state');

describe('the page loses and finds its server', () => {
  it('a shutdown puts the page offline with the reason and the retry time; the server back on its port brings it back to idle', async () => {
    const first = await startServer({ webRoot: web!.dir });
    servers.push(first);
    page = await openChromiumPage(browser!, first.url, 'A');
    await pollUntil(() => state(page!), (s) => s === 'idle', 10_000, (s) => `the page is welcomed (state ${s})`);

    const port = first.port;
    await first.close();
    const lost = await waitForStatus(page, /Lost the connection to the server/, 10_000, 'the page says it lost the server');
    expect(lost).toMatch(/shutting down/); // the reason the server gave with close 4005
    expect(lost).toMatch(/Trying again in \d+ s/);
    expect(await state(page)).toBe('offline');

    servers.push(await startServer({ webRoot: web!.dir, port }));
    await pollUntil(() => state(page!), (s) => s === 'idle', 20_000, (s) => `the page is welcomed again (state ${s})`);
    expect(await page.text('status')).toMatch(/Back online/);
  });
});
