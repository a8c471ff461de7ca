// Issue 17: the client for the people in our hubs. Each state of the page (landing, waiting, in
// a call, a private link, an error) at 1280x800, 1366x768 and 390x844 (a phone), in English,
// Tamil, Hindi and Malayalam: the controls the state needs are on the screen without scrolling,
// no text spills out of its box, every visible word is from the language's catalog, and the
// Indic scripts are drawn with real fonts. A screenshot of each combination that has a problem
// lands in test-results/screens/ (of every combination with CHATZYO_SCREENSHOTS=1: the 60
// screenshots cost about 10 s of the test).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CATALOGS, LANGUAGES, translate, type Lang } from '../../src/web/i18n/index.js';
import { launchChromium, openRawChromiumPage, pollUntil, useBrowserRig } from '../helpers/browsers.js';
import { withTimeout } from '../helpers/deadline.js';
import { offScreen, overflowing, untranslated, type Evaluates } from '../helpers/page-checks.js';

const rig = useBrowserRig(() => launchChromium(), 'all');
const SHOTS = path.resolve('test-results/screens');
const SIZES = { desktop: { width: 1280, height: 800 }, laptop: { width: 1366, height: 768 }, phone: { width: 390, height: 844 } } as const;
const LANGS = Object.keys(LANGUAGES) as Lang[];
const ALL_SHOTS = process.env.CHATZYO_SCREENSHOTS === '1';
/** Each check of one combination (state, size, language) takes well under a second: a hung page fails here, not at the test's timeout. */
const STEP_MS = 20_000;

/** A page of its own context (camera grant, storage, language of the browser). */
const open = (locale = 'en-US', hash = '') => openRawChromiumPage(rig, `${rig.server.url}/${hash}`, { locale, viewport: SIZES.desktop });

const state = (p: Page) => p.evaluate(() => document.body.dataset.state ?? '');
const waitState = (p: Page, want: string, ms = 15_000) => pollUntil(() => state(p), (s) => s === want, ms, (s) => `page state ${want} (is ${s})`);

async function setLanguage(p: Page, lang: Lang): Promise<void> {
  await p.selectOption('[data-testid="language"]', lang);
  await pollUntil(() => p.evaluate(() => document.documentElement.lang), (l) => l === lang, 5000, () => `the page switches to ${lang}`);
}

/** The platform fonts Chromium drew an element's text with (DevTools protocol). */
async function fontsOf(p: Page, selector: string): Promise<string[]> {
  const cdp = await p.context().newCDPSession(p);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: 0 }) as { root: { nodeId: number } };
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector }) as { nodeId: number };
    await cdp.send('CSS.enable');
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId }) as { fonts: { familyName: string }[] };
    return fonts.map((f) => f.familyName);
  } finally {
    await cdp.detach();
  }
}

/** Checks one page in one state at every size and in every language; returns what failed. */
async function checkEverywhere(p: Page & Evaluates, name: string, mustSee: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  mkdirSync(SHOTS, { recursive: true });
  for (const lang of LANGS) {
    await setLanguage(p, lang);
    for (const [size, viewport] of Object.entries(SIZES)) {
      await withTimeout(p.setViewportSize(viewport), STEP_MS, `${name}: resize to ${size}`);
      await withTimeout(p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))), STEP_MS, `${name}: two frames at ${size}`);
      const at = `${name} ${size} ${lang}`;
      const found = await withTimeout((async () => [
        ...(await offScreen(p, mustSee)).map((id) => `${at}: ${id} is not on the screen`),
        ...(await overflowing(p)).map((o) => `${at}: ${o}`),
        ...(await untranslated(p, lang)).map((u) => `${at}: not from the ${lang} catalog: ${JSON.stringify(u.text)} (${u.where})`),
      ])(), STEP_MS, `checking ${at}`);
      problems.push(...found);
      if (found.length || ALL_SHOTS) await withTimeout(p.screenshot({ path: path.join(SHOTS, `${name}-${size}-${lang}.png`) }), STEP_MS, `screenshot of ${at}`);
    }
  }
  await setLanguage(p, 'en');
  await p.setViewportSize(SIZES.desktop);
  return problems;
}

describe('the page in four languages', () => {
  it('speaks the browser\'s language, preselects its hub, names hubs in their own script, and a switch (kept across reloads) changes every word', async () => {
    const p = await open('ta-IN');
    await pollUntil(() => p.evaluate(() => (document.querySelector('[data-testid="hub-select"]') as HTMLSelectElement).value), (v) => v === 'tamil', 10_000, () => 'the Tamil hub is preselected');
    expect(await p.evaluate(() => document.documentElement.lang)).toBe('ta');
    expect(await p.inputValue('[data-testid="language"]')).toBe('ta');
    expect(await p.textContent('[data-testid="start"]')).toBe(translate('button.start', undefined, 'ta'));
    expect(await p.textContent('[data-testid="status"]')).toBe(translate('status.idle', undefined, 'ta'));
    const options = await p.$$eval('[data-testid="hub-select"] option', (os) => os.map((o) => (o as HTMLOptionElement).text));
    for (const name of ['தமிழ்', 'हिन्दी', 'മലയാളം']) expect(options.some((o) => o.startsWith(name)), options.join(' | ')).toBe(true);
    expect(await p.title()).toBe(translate('page.title', undefined, 'ta'));

    await setLanguage(p, 'ml');
    expect(await p.textContent('[data-testid="start"]')).toBe(translate('button.start', undefined, 'ml'));
    expect(await p.textContent('[data-testid="status"]')).toBe(translate('status.idle', undefined, 'ml'));
    expect(await untranslated(p, 'ml')).toEqual([]);
    await p.reload();
    await pollUntil(() => p.evaluate(() => document.documentElement.lang), (l) => l === 'ml', 5000, () => 'the choice is kept across a reload');
    // Each Indic script is drawn with a font that has it (Debian's Noto fonts), not as boxes.
    for (const [lang, script] of [['ta', 'Tamil'], ['hi', 'Devanagari'], ['ml', 'Malayalam']] as const) {
      await setLanguage(p, lang);
      const fonts = await fontsOf(p, '[data-testid="status"]');
      expect(fonts.join(', '), `${lang} status drawn with`).toMatch(new RegExp(script));
    }
    // A browser in a language we do not have gets English.
    const q = await open('fr-FR');
    await pollUntil(() => q.evaluate(() => document.body.dataset.state ?? ''), (s) => s === 'idle', 10_000, () => 'idle');
    expect(await q.evaluate(() => document.documentElement.lang)).toBe('en');
    expect(await q.textContent('[data-testid="start"]')).toBe(CATALOGS.en['button.start']);
  });

  it('every state, at three sizes and in four languages: controls on screen, no spilled text, no missing translation', async () => {
    const problems: string[] = [];
    // Landing.
    const a = await open();
    await waitState(a, 'idle');
    problems.push(...await checkEverywhere(a, 'landing', ['hub-select', 'start', 'language']));
    // Waiting: alone in the uk hub.
    await a.selectOption('[data-testid="hub-select"]', 'uk');
    await a.click('[data-testid="start"]');
    await waitState(a, 'searching');
    await pollUntil(() => a.textContent('[data-testid="status"]'), (t) => /position 1/.test(t ?? ''), 10_000, () => 'queued');
    problems.push(...await checkEverywhere(a, 'waiting', ['stop', 'status']));
    // In a call: a second page joins the uk hub.
    const b = await open();
    await waitState(b, 'idle');
    await b.selectOption('[data-testid="hub-select"]', 'uk');
    await b.click('[data-testid="start"]');
    await pollUntil(() => a.textContent('[data-testid="status"]'), (t) => /\bconnected\b/.test(t ?? ''), 30_000, () => 'the call connects');
    await pollUntil(() => b.textContent('[data-testid="status"]'), (t) => /\bconnected\b/.test(t ?? ''), 30_000, () => 'the call connects');
    await a.fill('[data-testid="chat-input"]', 'vanakkam!');
    await a.press('[data-testid="chat-input"]', 'Enter');
    await pollUntil(() => b.textContent('[data-testid="chat-log"]'), (t) => (t ?? '').includes('vanakkam!'), 10_000, () => 'the chat arrives');
    problems.push(...await checkEverywhere(b, 'in-call', ['next', 'stop', 'report', 'mute', 'camera-off', 'remote-video']));
    // Switching languages in a call left the hub alone (Next searches where the call began).
    expect(await b.inputValue('[data-testid="hub-select"]')).toBe('uk');
    // A private link, waiting for its person.
    const c = await open();
    await waitState(c, 'idle');
    await c.click('[data-testid="private-create"]');
    await pollUntil(() => c.inputValue('[data-testid="private-link"]'), (v) => v.includes('#/call/'), 10_000, () => 'the private link');
    problems.push(...await checkEverywhere(c, 'private-link', ['stop', 'status']));
    // An error: a call link nobody made.
    const d = await open('en-US', `#/call/${'x'.repeat(24)}`);
    await pollUntil(() => d.evaluate(() => document.querySelector('[data-testid="status"]')?.getAttribute('data-tone') ?? ''), (t) => t === 'error', 15_000, () => 'the error');
    problems.push(...await checkEverywhere(d, 'error', ['status', 'start', 'hub-select']));
    expect(problems).toEqual([]);
  }, 180_000);
});
