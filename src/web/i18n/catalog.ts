/** The shape every language's catalog has: the English catalog's keys, each a text or a plural. */
import type { en } from './en.js';

/** A text that depends on a number: chosen with `Intl.PluralRules` by the `count` placeholder. */
interface Plural {
  readonly zero?: string;
  readonly one?: string;
  readonly two?: string;
  readonly few?: string;
  readonly many?: string;
  readonly other: string;
}

export type Entry = string | Plural;

/** A key of the catalogs. */
export type MessageKey = keyof typeof en;

/** One language's catalog: every key of the English one. */
export type Catalog = { readonly [K in MessageKey]: Entry };
