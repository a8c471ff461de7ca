// Issue 17, keyboard: Esc twice is Next (one Esc only says "press again"), Enter sends, "?"
// opens the list of shortcuts (and closing it gives the focus back), the focus is never lost
// after Next, and the focus ring is visible.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { CATALOGS } from '../../src/web/i18n/index.js';
import { CONNECTED, launchChromium, openRawChromiumPage, pollUntil, useBrowserRig } from '../helpers/browsers.js';

const rig = useBrowserRig(() => launchChromium());
const en = CATALOGS.en;

async function open(name: string): Promise<Page> {
  const page = await openRawChromiumPage(rig, rig.server.url);
  await pollUntil(() => page.evaluate(() => document.body.dataset.state ?? ''), (s) => s === 'idle', 10_000, () => `${name} idle`);
  return page;
}

const status = (p: Page) => p.textContent('[data-testid="status"]').then((t) => t ?? '');
const matchId = (p: Page) => p.evaluate(() => (window as unknown as { __chatzyo?: { matchId: string | null } }).__chatzyo?.matchId ?? null);
const focused = (p: Page) => p.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset?.testid ?? document.activeElement?.tagName ?? null);

/** Two pages in a call in the global hub. */
async function pair(): Promise<[Page, Page]> {
  const a = await open('a');
  const b = await open('b');
  for (const p of [a, b]) await p.click('[data-testid="start"]');
  for (const p of [a, b]) await pollUntil(() => status(p), (t) => CONNECTED.test(t), 30_000, (t) => `a call (${t})`);
  return [a, b];
}

describe('keyboard', () => {
  it('Esc once says "press again" and keeps the call; Esc twice is Next, and the focus stays on a control', async () => {
    const [a, b] = await pair();
    const id = await matchId(a);
    await a.locator('body').click({ position: { x: 5, y: 5 } });
    await a.keyboard.press('Escape');
    expect(await a.textContent('[data-testid="key-hint"]')).toBe(en['keys.escAgain']);
    expect(await a.isVisible('[data-testid="key-hint"]')).toBe(true);
    // The hint goes when the second Esc would no longer count; a lone Esc then does not skip.
    await pollUntil(() => a.isHidden('[data-testid="key-hint"]'), (h) => h, 5000, () => 'the hint goes');
    await a.keyboard.press('Escape');
    expect(await matchId(a)).toBe(id);
    expect(CONNECTED.test(await status(a))).toBe(true);
    await a.keyboard.press('Escape');
    await pollUntil(() => matchId(a), (m) => m !== id, 5000, () => 'Esc twice skipped');
    await pollUntil(() => status(b), (t) => /pressed Next/.test(t), 10_000, () => 'the partner is told');
    expect(await a.isHidden('[data-testid="key-hint"]')).toBe(true);

    // Next from the keyboard: the button is disabled while the next stranger is looked for,
    // and the focus moves to the control that now does something, never to the page.
    await b.focus('[data-testid="next"]');
    expect(await focused(b)).toBe('next');
    await b.keyboard.press('Enter');
    await pollUntil(() => b.evaluate(() => document.body.dataset.state ?? ''), (s) => s === 'searching' || s === 'in-call', 10_000, () => 'b looks again');
    const f = await focused(b);
    expect(['stop', 'next', 'chat-input']).toContain(f);
    expect(await b.evaluate(() => (document.activeElement as HTMLButtonElement).disabled)).toBe(false);
  });

  it('Enter sends a chat message', async () => {
    const [a, b] = await pair();
    await pollUntil(() => a.isEnabled('[data-testid="chat-input"]'), (on) => on, 10_000, () => 'chat opens');
    await a.focus('[data-testid="chat-input"]');
    await a.keyboard.type('hello from the keyboard');
    await a.keyboard.press('Enter');
    await pollUntil(() => b.textContent('[data-testid="chat-log"]'), (t) => (t ?? '').includes('hello from the keyboard'), 10_000, () => 'the message arrives');
    expect(await a.inputValue('[data-testid="chat-input"]')).toBe('');
    // Esc typed in the chat box still counts (as on the classic sites), once is only a hint.
    await a.keyboard.press('Escape');
    expect(await a.isVisible('[data-testid="key-hint"]')).toBe(true);
  });

  it('"?" lists the shortcuts; closing the list gives the focus back; the focus ring shows', async () => {
    const a = await open('a');
    await a.locator('body').click({ position: { x: 5, y: 5 } });
    await a.keyboard.press('Shift+Slash');
    expect(await a.evaluate(() => (document.querySelector('[data-testid="shortcuts-dialog"]') as HTMLDialogElement).open)).toBe(true);
    const items = await a.$$eval('[data-testid="shortcuts-dialog"] li', (ls) => ls.map((l) => l.textContent));
    expect(items).toEqual([en['keys.next'], en['keys.send'], en['keys.help']]);
    expect(await focused(a)).toBe('shortcuts-close');
    // Escape closes the list and is not counted towards Next.
    await a.keyboard.press('Escape');
    expect(await a.evaluate(() => (document.querySelector('[data-testid="shortcuts-dialog"]') as HTMLDialogElement).open)).toBe(false);
    await pollUntil(() => focused(a), (f) => f === 'shortcuts', 5000, (f) => `the focus goes back to "?" (is ${f})`);
    expect(await a.isHidden('[data-testid="key-hint"]')).toBe(true);
    // "?" typed into a text field is a question mark, not a shortcut.
    await a.focus('[data-testid="interests"]');
    await a.keyboard.type('?');
    expect(await a.inputValue('[data-testid="interests"]')).toBe('?');
    expect(await a.evaluate(() => (document.querySelector('[data-testid="shortcuts-dialog"]') as HTMLDialogElement).open)).toBe(false);
    // Focus reached with Tab draws a ring.
    await a.focus('[data-testid="interests"]');
    await a.keyboard.press('Shift+Tab');
    const ring = await a.evaluate(() => { const s = getComputedStyle(document.activeElement!); return `${s.outlineStyle} ${s.outlineWidth}`; });
    expect(ring).toBe('solid 3px');
  });
});
