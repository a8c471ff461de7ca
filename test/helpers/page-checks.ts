// What a look at the page would check, as code the page runs: every visible word comes from the
// catalog of the page's language, no text spills out of its box, and the controls a state needs
// are on the screen. Used by the browser tests of issue 17 (test/browser/screens.test.ts).
import type { Entry, MessageKey } from '../../src/web/i18n/catalog.js';
import { CATALOGS, LANGUAGES, type Lang } from '../../src/web/i18n/index.js';
/** Anything that evaluates an expression in a page (a ChatPage, or a raw page wrapped). */
export interface Evaluates { eval<T>(expression: string): Promise<T> }

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The catalog of `lang` as regular expressions (a placeholder matches any text), leaving out
 * texts that are nothing but placeholders ("{text} {status}" would match anything).
 */
function templates(lang: Lang): string[] {
  const out: string[] = [];
  for (const key of Object.keys(CATALOGS.en) as MessageKey[]) {
    const entry: Entry = CATALOGS[lang][key];
    for (const text of typeof entry === 'string' ? [entry] : Object.values(entry)) {
      if (!/\p{L}/u.test(text.replace(/\{\w+\}/g, ''))) continue;
      out.push(escape(text).replace(/\\\{\w+\\\}/g, '.+'));
    }
  }
  return out;
}

/** Words that are the same in every language (names, keys, protocols). */
const SAME_EVERYWHERE = ['chatzyo', 'IP', 'TURN', 'HTTPS', 'Ctrl', 'Esc', 'Enter', 'USA', 'UK', ...Object.values(LANGUAGES)];

export interface TextProblem { text: string; where: string }

/**
 * Visible texts of the page (text nodes, the chosen option of each select, placeholders and
 * accessible names) that are not from `lang`'s catalog: each must be one catalog text (with its
 * placeholders filled) or two joined by a space (the status line's message and state). Texts
 * without letters and people's own words (inside `translate="no"`) are not checked. In Tamil,
 * Hindi and Malayalam a Latin word other than the few names used everywhere is a miss too.
 */
export async function untranslated(page: Evaluates, lang: Lang): Promise<TextProblem[]> {
  const arg = JSON.stringify({ res: templates(lang), same: SAME_EVERYWHERE, latinCheck: lang !== 'en', names: Object.values(LANGUAGES) });
  return page.eval<TextProblem[]>(`((a) => {
    const res = a.res.map((s) => new RegExp('^(?:' + s + ')$', 'su'));
    const one = (t) => res.some((r) => r.test(t)) || a.names.includes(t);
    const fromCatalog = (t) => {
      if (one(t)) return true;
      for (let i = t.indexOf(' '); i > 0; i = t.indexOf(' ', i + 1)) if (one(t.slice(0, i)) && one(t.slice(i + 1))) return true;
      return false;
    };
    const latin = (t) => (t.match(/[A-Za-z]{2,}/g) || []).filter((w) => !a.same.some((s) => s.split(/\\s+/).includes(w)));
    const visible = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden]');
    const ours = (el) => !el.closest('[translate="no"]');
    const where = (el) => el.dataset?.testid || el.id || el.className || el.tagName.toLowerCase();
    const out = [];
    const check = (text, el, what) => {
      const t = text.replace(/\\s+/g, ' ').trim();
      if (!/\\p{L}/u.test(t)) return;
      if (!fromCatalog(t)) out.push({ text: t, where: what + ' ' + where(el) });
      else if (a.latinCheck && latin(t).length) out.push({ text: t, where: what + ' ' + where(el) + ' (Latin: ' + latin(t).join(' ') + ')' });
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('select, script, style') || !visible(el) || !ours(el)) continue;
      check(n.textContent || '', el, 'text');
    }
    for (const s of document.querySelectorAll('select')) if (visible(s) && ours(s) && s.selectedOptions[0]) check(s.selectedOptions[0].text, s, 'option');
    for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
      if (!visible(el) || !ours(el)) continue;
      for (const attr of ['placeholder', 'aria-label', 'title']) if (el.hasAttribute(attr)) check(el.getAttribute(attr), el, attr);
    }
    check(document.title, document.documentElement, 'title');
    return out;
  })(${arg})`);
}

/**
 * Visible elements whose text spills out of their box (wider or taller content than the box
 * that is meant to hold it), and a page wider than the window.
 */
export async function overflowing(page: Evaluates): Promise<string[]> {
  return page.eval<string[]>(`(() => {
    const out = [];
    if (document.documentElement.scrollWidth > innerWidth + 1) out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + innerWidth);
    for (const el of document.body.querySelectorAll('*')) {
      if (!el.getClientRects().length || el.closest('[hidden]')) continue;
      const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && /\\S/.test(n.textContent));
      if (!hasText && !(el instanceof HTMLSelectElement)) continue;
      const r = el.getBoundingClientRect();
      // Left out: the visually-hidden idiom (a 1 px box for screen readers) and the skip link
      // parked off the screen until it is focused.
      if (r.width <= 1 || r.height <= 1 || r.right <= 0 || el.closest('.visually-hidden')) continue;
      if (r.right > innerWidth + 1 || r.left < -1) out.push((el.dataset.testid || el.id || el.tagName) + ' sticks out of the window');
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) out.push((el.dataset.testid || el.id || el.tagName) + ': text ' + el.scrollWidth + ' px wide in a box of ' + el.clientWidth);
    }
    return out;
  })()`);
}

/** The elements (by `data-testid`) that are not wholly inside the window, or not shown. */
export async function offScreen(page: Evaluates, testIds: readonly string[]): Promise<string[]> {
  return page.eval<string[]>(`((ids) => ids.filter((id) => {
    const el = document.querySelector('[data-testid="' + id + '"]');
    if (!el || !el.getClientRects().length) return true;
    const r = el.getBoundingClientRect();
    return r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth;
  }))(${JSON.stringify(testIds)})`);
}
