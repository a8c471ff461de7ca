// `chatzyo serve --demo-bots`: a Chromium page presses Start and meets a bot whose test pattern it decodes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { SignalServer } from '../../src/signal/server.js';
import { demoBots, runServe, stopServe } from '../../src/cli/serve.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, openChromiumPage, startIn, waitForStatus, waitForVideo, type ChatPage,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { metrics } from './helpers.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let browser: Browser;
let server: SignalServer | null = null;
const pages: ChatPage[] = [];

function capture() {
  let text = '';
  return { stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream, get text() { return text; } };
}

beforeAll(async () => {
  [web, browser] = await Promise.all([buildWebClient(), launchChromium()]);
});
afterEach(async () => {
  await closeAll(pages);
  if (server) await withTimeout(stopServe(server), 15_000, 'stop the demo bots and the server');
  server = null;
});
afterAll(async () => {
  await browser?.close();
  web?.remove();
});

describe('serve --demo-bots', () => {
  it('a page that presses Start meets a waiting bot, decodes its test pattern, gets its chat echoed, and meets it again after Next', async () => {
    const out = capture();
    const err = capture();
    server = await withTimeout(runServe({ host: '127.0.0.1', port: 0, stunPort: 0, logLevel: 'silent', webRoot: web.dir, hubs: ['global', 'tamil', 'usa'], demoBots: 2 }, {}, out.stream, err.stream), 60_000, 'serve with demo bots');
    expect(err.text).toBe('');
    expect(out.text).toMatch(/2 demo bots wait in global, tamil/);
    const bots = demoBots(server)!;
    // One bot waits in each of the first two hubs, none in the third: they never meet each other.
    await withTimeout(bots.untilWaiting(2, 20_000), 25_000, 'both demo bots wait');
    expect(bots.states).toMatchObject({ queued: 2, matched: 0, connected: 0, streaming: 0 });

    const page = await openChromiumPage(browser, server.url, 'chromium');
    pages.push(page);
    await startIn(page, 'tamil');
    await waitForStatus(page, CONNECTED, 20_000, 'page connected to the tamil bot');
    const v = await waitForVideo(page, 30, 30_000);
    expect([v.frameWidth, v.frameHeight]).toEqual([320, 240]);
    await until(async () => (await page.text('chat-log')).includes('demo bot'), 15_000, 'the bot greets the page');
    await page.fill('chat-input', 'hello bot');
    await page.click('chat-send');
    await until(async () => (await page.text('chat-log')).includes('echo: hello bot'), 10_000, 'the bot echoes the chat');
    expect((await metrics(server.url)).get('chatzyo_matches_total{kind="hub"}')).toBe(1);

    // Next: the bot goes back to waiting in tamil, and the page (alone with it there) meets it again.
    await page.click('next');
    await until(async () => (await metrics(server!.url)).get('chatzyo_matches_total{kind="hub"}') === 2, 20_000, 'a second match');
    await waitForStatus(page, CONNECTED, 20_000, 'page connected again');
    await waitForVideo(page, 30, 30_000);
    expect(page.errors).toEqual([]);
  });
});
