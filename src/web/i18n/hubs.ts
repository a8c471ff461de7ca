/**
 * Hub names as people read them: a language's hub in that language's own script in every
 * language of the page (தமிழ், हिन्दी, മലയാളം), other known hubs from the catalog, any other
 * name as the server gave it.
 */
import type { MessageKey } from './catalog.js';
import { CATALOGS, LANGUAGES, t, type Lang } from './index.js';

/** The hub of each of our languages. */
const HUB_OF: { readonly [L in Lang]?: string } = { ta: 'tamil', hi: 'hindi', ml: 'malayalam' };

/** The name to show for hub `hub`. */
export function hubLabel(hub: string): string {
  for (const [lang, name] of Object.entries(HUB_OF)) if (name === hub) return LANGUAGES[lang as Lang];
  const key = `hubName.${hub}`;
  return Object.hasOwn(CATALOGS.en, key) ? t(key as MessageKey) : hub;
}

/** The hub that matches `lang`, when the server has it. */
export function hubForLanguage(lang: Lang, hubs: readonly string[]): string | null {
  const hub = HUB_OF[lang];
  return hub && hubs.includes(hub) ? hub : null;
}
