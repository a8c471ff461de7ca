// Issue 17, accessibility: axe-core (the engine the browsers' own audit tools use) runs on the
// page in each state (landing, waiting, in a call, a private link, an error), in Chromium and
// in Firefox, and finds no serious or critical violation. The status line is a polite live
// region, and reduced motion turns the transitions off.
import axe from 'axe-core';
import { describe, expect, it } from 'vitest';
import type { Browser as PwBrowser } from 'playwright-core';
import type { Browser as PpBrowser } from 'puppeteer-core';
import {
  CONNECTED, launchChromium, launchFirefox, openChromiumPage, openFirefoxPage, pollUntil, startIn, useBrowserRig, waitForStatus, type ChatPage,
} from '../helpers/browsers.js';

/** The whole engine as a script, to run inside the page. */
const axeSource = axe.source;

interface Browsers { chromium: PwBrowser; firefox: PpBrowser; close(): Promise<void> }
const rig = useBrowserRig<Browsers>(async () => {
  const [chromium, firefox] = await Promise.all([launchChromium(), launchFirefox()]);
  return { chromium, firefox, close: async () => { await Promise.all([chromium.close(), firefox.close()]); } };
});

interface Violation { id: string; impact: string; help: string; nodes: string[] }

/** Runs axe on the page as it is; returns the serious and critical violations. */
async function audit(page: ChatPage): Promise<Violation[]> {
  if (!(await page.eval<boolean>('typeof window.axe === "object"'))) await page.eval(`${axeSource}\n;0`);
  return page.eval<Violation[]>(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })))`);
}

const state = (p: ChatPage) => p.eval<string>('document.body.dataset.state ?? ""');
const waitState = (p: ChatPage, want: string) => pollUntil(() => state(p), (s) => s === want, 15_000, (s) => `${p.name}: state ${want} (is ${s})`);

type Open = (name: string, hash?: string) => Promise<ChatPage>;

/** Opens the client (at a `#` route if given) with one browser's opener; the rig closes the page. */
const opener = (openPage: (url: string, name: string) => Promise<ChatPage>): Open => async (name, hash = '') => {
  const p = await openPage(`${rig.server.url}/${hash}`, name);
  rig.pages.push(p);
  return p;
};

async function everyState(open: Open, hub: string): Promise<Record<string, Violation[]>> {
  const found: Record<string, Violation[]> = {};
  const a = await open('a');
  await waitState(a, 'idle');
  found.landing = await audit(a);
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 15_000, 'waiting');
  found.waiting = await audit(a);
  // The partner: always a Chromium page.
  const b = await openChromiumPage(rig.browser.chromium, rig.server.url, 'partner');
  rig.pages.push(b);
  await startIn(b, hub);
  await waitForStatus(a, CONNECTED, 30_000, 'in a call');
  found['in call'] = await audit(a);
  const c = await open('c');
  await waitState(c, 'idle');
  await c.click('private-create');
  await pollUntil(() => c.value('private-link'), (v) => v.includes('#/call/'), 10_000, () => 'the private link');
  found['private link'] = await audit(c);
  const d = await open('d', `#/call/${'y'.repeat(24)}`);
  await pollUntil(() => d.eval<string>('document.querySelector(\'[data-testid="status"]\').dataset.tone'), (t) => t === 'error', 15_000, () => 'the error');
  found.error = await audit(d);
  return found;
}

describe('accessibility (axe-core)', () => {
  it('Chromium: no serious or critical violation in any state', async () => {
    const found = await everyState(opener((url, name) => openChromiumPage(rig.browser.chromium, url, name)), 'usa');
    expect(Object.keys(found)).toEqual(['landing', 'waiting', 'in call', 'private link', 'error']);
    expect(found).toEqual({ landing: [], waiting: [], 'in call': [], 'private link': [], error: [] });
  }, 120_000);

  it('Firefox: no serious or critical violation in any state', async () => {
    const found = await everyState(opener((url, name) => openFirefoxPage(rig.browser.firefox, url, name)), 'uk');
    expect(found).toEqual({ landing: [], waiting: [], 'in call': [], 'private link': [], error: [] });
  }, 120_000);

  it('says what happens in a polite live region, and reduced motion turns the transitions off', async () => {
    const p = await openChromiumPage(rig.browser.chromium, rig.server.url, 'motion');
    rig.pages.push(p);
    expect(await p.eval('[document.querySelector(\'[data-testid="status"]\').getAttribute("role"), document.querySelector(\'[data-testid="status"]\').getAttribute("aria-live")]'))
      .toEqual(['status', 'polite']);
    const transition = () => p.eval<string>('getComputedStyle(document.querySelector(\'[data-testid="start"]\')).transitionDuration');
    expect(await transition()).not.toMatch(/^0s(, 0s)*$/);
    // The same page with "reduce motion" asked for by the system.
    const q = await (rig.browser.chromium).newContext({ reducedMotion: 'reduce' }).then((c) => c.newPage());
    try {
      await q.goto(rig.server.url);
      expect(await q.evaluate(() => getComputedStyle(document.querySelector('[data-testid="start"]')!).transitionDuration)).toMatch(/^0s(, 0s)*$/);
    } finally {
      await q.context().close();
    }
  });
});
