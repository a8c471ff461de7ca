// Item 15 of the security issue, browser half: a partner who floods the chat cannot grow the
// page without bound or keep it busy, and what it sends is shown as text, never as markup.
import { afterEach, describe, expect, it } from 'vitest';
import { CHAT_LOG_MAX_LINES, PARTNER_BURST } from '../../src/web/chat-log.js';
import { useBrowserRig, CONNECTED, launchChromium, openChromiumPage, pollUntil, startIn, waitForStatus, type ChatPage } from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from '../peer/helpers.js';

const rig = useBrowserRig(launchChromium);
const sessions = new Sessions();
// Registered after the rig's hooks, so the peer stops before its page closes.
afterEach(() => sessions.closeAll());

/** What the chat log holds: lines by kind, the hidden counts, the last line. */
interface LogState { lines: number; partner: number; you: number; hidden: number; hiddenLines: number; last: string; images: number }
const logState = (p: ChatPage) => p.eval<LogState>(`(() => {
  const log = document.querySelector('[data-testid="chat-log"]');
  const hiddenLines = [...log.querySelectorAll('li[data-hidden]')];
  return {
    lines: log.children.length,
    partner: log.querySelectorAll('li.partner').length,
    you: log.querySelectorAll('li.you').length,
    hidden: hiddenLines.reduce((n, li) => n + Number(li.textContent.match(/^[\\d,]+/)[0].replace(/,/g, '')), 0),
    hiddenLines: hiddenLines.length,
    last: log.lastElementChild ? log.lastElementChild.textContent : '',
    images: log.querySelectorAll('img, script, iframe').length,
  };
})()`);

describe('chat log under a flood', () => {
  it('1,000 messages from a partner: at most the cap in the DOM, the rest counted as hidden, markup shown as text', async () => {
    const page = await openChromiumPage(rig.browser, rig.server.url, 'page');
    rig.pages.push(page);
    await startIn(page, 'malayalam');
    await waitForStatus(page, /position 1/, 10_000, 'page queued');
    const [peer, rec] = sessions.create({ server: rig.server.url, video: null, audio: null, target: { kind: 'hub', hub: 'malayalam' } }, 'flooder');
    await withTimeout(peer.start(), 15_000, 'peer start');
    await waitForStatus(page, CONNECTED, 20_000, 'page connected').catch((err: Error) => {
      throw new Error(`${err.message}; the peer: ${JSON.stringify(rec.all('gave-up'))} ${JSON.stringify(rec.all('warning'))}`);
    });
    await rec.next('chat-open', 20_000);
    await until(() => page.eval<boolean>('!document.querySelector(\'[data-testid="chat-input"]\').disabled'), 10_000, 'the page\'s chat is open');

    const markup = '<img src=x onerror="window.__pwned = 1"><b>bold</b>';
    const total = 1000;
    for (let i = 0; i < total; i++) expect(peer.sendChat(i === 0 ? markup : i === 1 ? 'a\u202egnp.exe\u001b]0;t\u0007' : `flood ${i}`)).toBe(true);

    const s = await pollUntil(() => logState(page), (x) => x.partner + x.hidden === total, 20_000,
      (last) => `every one of the ${total} messages is shown or counted as hidden (log: ${JSON.stringify(last)})`);
    expect(s.lines).toBeLessThanOrEqual(CHAT_LOG_MAX_LINES);
    expect(s.partner).toBeGreaterThanOrEqual(PARTNER_BURST);
    expect(s.partner, 'the rate limit held').toBeLessThan(100);
    // Hidden, counted in a line of their own. (Not necessarily the last line: on a loaded machine
    // the flood's tail can arrive slowly enough for the rate to show its last message, as it did
    // in a CI run here: "Strangerflood 999" after the hidden count.)
    expect(s.hiddenLines).toBeGreaterThanOrEqual(1);
    // Markup is text: no element made from it, no script ran; controls and overrides are gone.
    expect(s.images).toBe(0);
    expect(await page.eval<unknown>('window.__pwned')).toBeUndefined();
    const texts = await page.eval<string[]>('[...document.querySelectorAll(\'[data-testid="chat-log"] li.partner\')].slice(0, 2).map((li) => li.textContent)');
    expect(texts).toEqual([`Stranger${markup}`, 'Strangeragnp.exe']);

    // A rate, not a block: a message after the flood shows.
    await new Promise((r) => setTimeout(r, 1000));
    peer.sendChat('after the flood');
    await pollUntil(() => logState(page), (x) => x.last === 'Strangerafter the flood', 10_000, (last) => `the next message shows (log: ${JSON.stringify(last)})`);

    // The cap: our own lines are never rate-limited, so 400 of them leave exactly the last 300 lines.
    await page.eval(`(() => {
      const input = document.querySelector('[data-testid="chat-input"]');
      const form = document.getElementById('chat-form');
      for (let i = 0; i < 400; i++) { input.value = 'mine ' + i; form.requestSubmit(); }
    })()`);
    const capped = await pollUntil(() => logState(page), (x) => x.last === 'Youmine 399', 10_000, (last) => `our 400 lines are shown (log: ${JSON.stringify(last)})`);
    expect(capped.lines).toBe(CHAT_LOG_MAX_LINES);
    expect(capped.you).toBe(CHAT_LOG_MAX_LINES);
    expect(await page.eval<string>('document.querySelector(\'[data-testid="chat-log"]\').firstElementChild.textContent')).toBe('Youmine 100');
    expect(page.errors).toEqual([]);
  });
});
