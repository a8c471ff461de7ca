// The catalogs (issue 17, languages): every language has every key with the same placeholders,
// plurals and numbers go through Intl, the language is chosen from the browser's, and every
// key the page names exists. The browser side: test/browser/screens.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/protocol/index.js';
import type { Catalog, Entry, MessageKey } from '../../src/web/i18n/catalog.js';
import { CATALOGS, chooseLanguage, errorText, LANGUAGES, translate, tx, type Lang } from '../../src/web/i18n/index.js';
import { hubForLanguage, hubLabel } from '../../src/web/i18n/hubs.js';

const en = CATALOGS.en;
const keys = Object.keys(en) as MessageKey[];
const langs = Object.keys(LANGUAGES) as Lang[];

/** The `{name}` placeholders of an entry (all its plural forms together). */
function placeholders(entry: Entry): string[] {
  const texts = typeof entry === 'string' ? [entry] : Object.values(entry);
  return [...new Set(texts.flatMap((t) => [...t.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)))].sort();
}

describe('the catalogs', () => {
  it.each(langs)('%s has exactly the English keys, each with the same placeholders, none empty', (lang) => {
    const c: Catalog = CATALOGS[lang];
    expect(Object.keys(c).sort()).toEqual([...keys].sort());
    for (const key of keys) {
      expect(placeholders(c[key]), `${lang} ${key}`).toEqual(placeholders(en[key]));
      const forms = typeof c[key] === 'string' ? [c[key]] : Object.values(c[key]);
      for (const f of forms) expect(f.trim(), `${lang} ${key}`).not.toBe('');
      if (typeof en[key] !== 'string') expect(c[key], `${lang} ${key} is a plural`).toHaveProperty('other');
    }
  });

  it.each(langs.filter((l) => l !== 'en'))('%s is translated: its texts are not the English ones and are in its own script', (lang) => {
    const script = { ta: /\p{Script=Tamil}/u, hi: /\p{Script=Devanagari}/u, ml: /\p{Script=Malayalam}/u }[lang as Exclude<Lang, 'en'>];
    const words = (v: Entry) => /[a-z]{3}/.test((typeof v === 'string' ? v : v.other).replace(/\{\w+\}/g, ''));
    const same = keys.filter((k) => words(en[k]) && JSON.stringify(CATALOGS[lang][k]) === JSON.stringify(en[k]));
    expect(same).toEqual([]);
    // Texts with words in them use the language's script (a few, like "Ctrl+C", have none).
    const latinOnly = keys.filter((k) => {
      const v = CATALOGS[lang][k];
      const s = typeof v === 'string' ? v : v.other;
      return /[A-Za-z]{4}/.test(s.replace(/\{\w+\}/g, '')) && !script.test(s);
    });
    expect(latinOnly).toEqual([]);
  });

  it('has a text for every error code the server can send', () => {
    for (const code of Object.keys(ERROR_CODES)) {
      expect(errorText(code)).toEqual({ key: `error.${code}` });
      for (const lang of langs) expect(translate(`error.${code}` as MessageKey, undefined, lang)).not.toMatch(/^error\./);
    }
    expect(tx(errorText('CHZ_ERR_FROM_A_NEWER_SERVER'))).toBe('Something went wrong (CHZ_ERR_FROM_A_NEWER_SERVER).');
  });

  it.each(['index.html', 'offline.html'])('names every key that %s asks for, and has no words of its own', (page) => {
    const html = readFileSync(new URL(`../../src/web/${page}`, import.meta.url), 'utf8');
    const asked = [...html.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)].map((m) => m[1]!);
    expect(asked.length).toBeGreaterThan(page === 'index.html' ? 40 : 4);
    expect(asked.filter((k) => !Object.hasOwn(en, k))).toEqual([]);
    // No visible word is written in the page itself: every element with text takes it from a catalog.
    const body = html.slice(html.indexOf('<body>'));
    const textBetweenTags = [...body.matchAll(/>([^<>]*)</g)].map((m) => m[1]!.trim()).filter((t) => /\p{L}/u.test(t));
    expect(textBetweenTags).toEqual(['chatzyo']);
  });
});

describe('translate', () => {
  it('fills placeholders, formats numbers for the language and picks plural forms', () => {
    expect(translate('chat.hidden', { count: 1 }, 'en')).toBe('1 message from your partner hidden (too many too fast).');
    expect(translate('chat.hidden', { count: 12345 }, 'en')).toBe('12,345 messages from your partner hidden (too many too fast).');
    // Hindi groups digits the Indian way (12,34,567).
    expect(translate('chat.hidden', { count: 1234567 }, 'hi')).toContain('12,34,567');
    expect(translate('hub.counts', { hub: 'x', waiting: 2, inCall: 10 }, 'en')).toBe('x · 2 waiting · 10 in calls');
    // A text as a placeholder's value is translated too, in the same language.
    expect(translate('msg.left', { why: { key: 'left.next' } }, 'en')).toBe('Partner left: they pressed Next. Press Next to meet someone new.');
    expect(translate('msg.left', { why: { key: 'left.next' } }, 'ta')).toContain(translate('left.next', undefined, 'ta'));
  });

  it('chooses the saved language, else the first of the browser languages it has, else English', () => {
    expect(chooseLanguage(['ta-IN', 'en-US'], null)).toBe('ta');
    expect(chooseLanguage(['fr-FR', 'HI', 'ta'], null)).toBe('hi');
    expect(chooseLanguage(['en-GB', 'ml'], null)).toBe('en');
    expect(chooseLanguage(['ml-IN'], 'ta')).toBe('ta');
    expect(chooseLanguage(['ml-IN'], 'xx')).toBe('ml');
    expect(chooseLanguage([], null)).toBe('en');
  });

  it('names language hubs in their own script and preselects the hub of the language', () => {
    expect(['tamil', 'hindi', 'malayalam'].map(hubLabel)).toEqual(['தமிழ்', 'हिन्दी', 'മലയാളം']);
    expect(hubLabel('usa')).toBe('USA');
    expect(hubLabel('some-new-hub')).toBe('some-new-hub');
    expect(hubForLanguage('ml', ['global', 'malayalam'])).toBe('malayalam');
    expect(hubForLanguage('hi', ['global', 'tamil'])).toBeNull();
    expect(hubForLanguage('en', ['global', 'tamil'])).toBeNull();
  });
});
