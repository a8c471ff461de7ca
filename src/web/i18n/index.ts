/**
 * The page's languages: English, Tamil, Hindi and Malayalam. Every visible word comes from a
 * catalog (en.ts is the reference; no text is written in the code); numbers and plurals go
 * through `Intl`. The language is the one chosen with the switch (kept in localStorage), else
 * the first of the browser's languages we have, else English.
 */
import type { Catalog, Entry, MessageKey } from './catalog.js';
import { en } from './en.js';
import { hi } from './hi.js';
import { ml } from './ml.js';
import { ta } from './ta.js';

export type { MessageKey } from './catalog.js';

/** Each language, named in its own script (what the switch shows). */
export const LANGUAGES = { en: 'English', ta: 'தமிழ்', hi: 'हिन्दी', ml: 'മലയാളം' } as const;
export type Lang = keyof typeof LANGUAGES;

export const CATALOGS: { readonly [L in Lang]: Catalog } = { en, ta, hi, ml };

/** Values for a text's placeholders: numbers are formatted for the language, texts translated. */
export type Params = Readonly<Record<string, string | number | Text>>;

/** A text to show, kept as its key so it follows a change of language. */
export interface Text {
  readonly key: MessageKey;
  readonly params?: Params;
}

export const isLang = (v: unknown): v is Lang => typeof v === 'string' && Object.hasOwn(LANGUAGES, v);

/**
 * The language to use: the saved choice when it is one of ours, else the first of the
 * browser's preferred languages (`navigator.languages`, e.g. "ta-IN") whose primary subtag we
 * have, else English.
 */
export function chooseLanguage(preferred: readonly string[], saved: string | null): Lang {
  if (isLang(saved)) return saved;
  for (const tag of preferred) {
    const primary = tag.toLowerCase().split('-')[0];
    if (isLang(primary)) return primary;
  }
  return 'en';
}

let current: Lang = 'en';
const listeners = new Set<(lang: Lang) => void>();

export const language = (): Lang => current;

/** Switches the language and tells every listener (the page re-renders its texts). */
export function setLanguage(lang: Lang): void {
  if (lang === current) return;
  current = lang;
  for (const l of listeners) l(lang);
}

/** Calls `listener` after each change of language; returns the unsubscribe function. */
export function onLanguageChange(listener: (lang: Lang) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Picks the plural form for `n` in `lang` (falls back to `other`). */
function pluralForm(entry: Entry, n: number, lang: Lang): string {
  if (typeof entry === 'string') return entry;
  const form = new Intl.PluralRules(lang).select(n) as keyof typeof entry;
  return entry[form] ?? entry.other;
}

/** Fills `{name}` placeholders; numbers formatted for `lang`; an unknown placeholder stays visible. */
function fill(template: string, params: Params | undefined, lang: Lang): string {
  if (!params) return template;
  const nf = new Intl.NumberFormat(lang);
  return template.replace(/\{(\w+)\}/g, (all, name: string) => {
    const v = params[name];
    if (v === undefined) return all;
    return typeof v === 'number' ? nf.format(v) : typeof v === 'string' ? v : translate(v.key, v.params, lang);
  });
}

/** The text for `key` in `lang` (the current language by default). */
export function translate(key: MessageKey, params?: Params, lang: Lang = current): string {
  const entry = CATALOGS[lang][key] as Entry | undefined;
  if (entry === undefined) return key; // a key from the page that no catalog has (a test catches it)
  const count = params?.count;
  return fill(pluralForm(entry, typeof count === 'number' ? count : 0, lang), params, lang);
}

/** Shorthand for {@link translate} in the current language. */
export const t = (key: MessageKey, params?: Params): string => translate(key, params);

/** A {@link Text} in the current language. */
export const tx = (text: Text): string => translate(text.key, text.params);

/** Builds a {@link Text}. */
export const text = (key: MessageKey, params?: Params): Text => (params ? { key, params } : { key });

/** What to tell the person for a server error code (one this build does not know: the code itself). */
export function errorText(code: string): Text {
  const key = `error.${code}`;
  return Object.hasOwn(en, key) ? text(key as MessageKey) : text('error.unknown', { code });
}

/**
 * Attributes the page's static texts are filled from: `data-i18n` (the element's text) and
 * `data-i18n-<attribute>` (that attribute, e.g. `data-i18n-placeholder`).
 */
const ATTRIBUTES = ['placeholder', 'aria-label', 'title'] as const;

/** The `data-i18n-params` of an element (JSON, e.g. a chat line's count), if any. */
function paramsOf(el: HTMLElement): Params | undefined {
  const raw = el.dataset.i18nParams;
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Params;
  } catch {
    return undefined;
  }
}

/** Marks `el` to be (re)written as `text` in the current language, and writes it. */
export function bindText(el: HTMLElement, text: Text): void {
  el.dataset.i18n = text.key;
  if (text.params) el.dataset.i18nParams = JSON.stringify(text.params);
  else delete el.dataset.i18nParams;
  el.textContent = translate(text.key, text.params);
}

/** Where the chosen language is kept on the device. */
const LANGUAGE_STORAGE_KEY = 'chatzyo.language';

/** The saved choice of language, if storage is allowed. */
function savedLanguage(): string | null {
  try { return localStorage.getItem(LANGUAGE_STORAGE_KEY); } catch { return null; }
}

/** Keeps the person's choice (for this page only when storage is off). */
export function saveLanguage(lang: Lang): void {
  try { localStorage.setItem(LANGUAGE_STORAGE_KEY, lang); } catch { /* storage off */ }
}

/** The language of a page that is starting: the saved choice, else the browser's. */
export function startLanguage(): void {
  setLanguage(chooseLanguage(navigator.languages ?? [navigator.language], savedLanguage()));
}

/**
 * Fills every `data-i18n*` element under `root` in the current language; for the whole
 * document also sets `<html lang>` and the title (`titleKey`).
 */
export function applyTranslations(root: ParentNode = document, titleKey: MessageKey = 'page.title'): void {
  for (const el of Array.from(root.querySelectorAll<HTMLElement>('[data-i18n]'))) {
    const value = t(el.dataset.i18n as MessageKey, paramsOf(el));
    if (el.textContent !== value) el.textContent = value;
  }
  for (const attr of ATTRIBUTES) {
    for (const el of Array.from(root.querySelectorAll<HTMLElement>(`[data-i18n-${attr}]`))) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`) as MessageKey));
    }
  }
  if (root === document) {
    document.documentElement.lang = current;
    document.title = t(titleKey);
  }
}
