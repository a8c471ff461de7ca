// Issue 12 item 1: a partner that chats the classic in-band way (a bare werift peer connection
// that opens its own `chat` channel with a DCEP open, no negotiated channel) chats with the
// browser client in Chromium, both ways; one that carries each message on both channels has
// it shown once, and gets each of the page's messages once.
import { describe, expect, it } from 'vitest';
import {
  CONNECTED, launchChromium, openChromiumPage, startIn, useBrowserRig, waitForStatus, type ChatPage,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { InBandChatPartner } from '../helpers/in-band-chat-partner.js';

const rig = useBrowserRig(launchChromium);
const { pages } = rig;

async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  pages.push(p);
  return p;
}

/** The partner's lines in the page's chat log. */
async function partnerLines(page: ChatPage): Promise<string[]> {
  return page.eval<string[]>(`[...document.querySelectorAll('[data-testid="chat-log"] li.partner')].map((li) => li.lastChild?.textContent ?? '')`);
}

async function say(page: ChatPage, text: string): Promise<void> {
  await page.fill('chat-input', text);
  await page.click('chat-send');
}

describe('an in-band chat partner and the browser client (Chromium)', () => {
  it('the partner offers with only an in-band channel: chat both ways, the page shows each message once', async () => {
    const out = await InBandChatPartner.connect(rig.server.wsUrl, { name: 'in-band partner' });
    try {
      await out.join();
      const calling = out.call();
      const page = await open('chromium');
      await startIn(page, 'tamil');
      expect((await withTimeout(calling, 15_000, 'partner matched')).role).toBe('offerer');
      await waitForStatus(page, CONNECTED, 20_000, 'page connected to the in-band partner');
      await out.inBandOpen();

      out.send('vanakkam from a classic client');
      await until(async () => (await page.text('chat-log')).includes('vanakkam from a classic client'), 10_000, 'page shows the partner\'s chat');
      await say(page, 'hello from chromium');
      expect(await out.chat('hello from chromium')).toEqual([{ text: 'hello from chromium', on: 'in-band', streamId: out.inBand!.id }]);

      // Binary is not chat; a long message is cut to 1,000 characters.
      out.send(Buffer.from([1, 2, 3]));
      out.send(`${'y'.repeat(1500)}`);
      await until(async () => (await page.text('chat-log')).includes('y'.repeat(1000)), 10_000, 'page shows the long message');
      expect((await page.text('chat-log')).includes('y'.repeat(1001))).toBe(false);
      // Shown once each, and the binary message not at all.
      expect(await partnerLines(page)).toEqual(['vanakkam from a classic client', 'y'.repeat(1000)]);
      // Nothing but the page's chat reached the partner's chat channel.
      expect(out.received.map((r) => r.text)).toEqual(['hello from chromium']);
      expect(out.errors).toEqual([]);
      expect(page.errors).toEqual([]);
    } finally {
      await out.close();
    }
  });

  it('a partner with both channels that sends each message on both: the page shows it once and sends its own once', async () => {
    const out = await InBandChatPartner.connect(rig.server.wsUrl, { name: 'two-channel partner', negotiatedChat: true });
    try {
      await out.join();
      const calling = out.call();
      const page = await open('chromium');
      await startIn(page, 'tamil');
      await withTimeout(calling, 15_000, 'partner matched');
      await waitForStatus(page, CONNECTED, 20_000, 'page connected');
      await out.inBandOpen();
      await until(() => out.negotiated?.readyState === 'open', 10_000, 'partner negotiated channel open');

      for (const t of ['one', 'two', 'two', 'three']) out.send(t, true);
      await until(async () => (await partnerLines(page)).includes('three'), 10_000, 'page shows the last message');
      await say(page, 'marker from chromium');
      await out.chat('marker from chromium');
      expect(await partnerLines(page)).toEqual(['one', 'two', 'two', 'three']);

      await say(page, 'only once');
      await out.chat('only once');
      await say(page, 'after');
      await out.chat('after');
      expect(out.received.filter((r) => r.text === 'only once')).toEqual([{ text: 'only once', on: 'in-band', streamId: out.inBand!.id }]);
      expect(page.errors).toEqual([]);
    } finally {
      await out.close();
    }
  });
});
