/**
 * Text from outside (a partner's chat, a server's error message, a network's reason phrase)
 * made safe to show. A terminal obeys control characters in what it prints: a stranger's chat
 * could set the clipboard (OSC 52), the window title (OSC 0), clear or redraw the screen (CSI),
 * reset the terminal (ESC c) or, through bidi overrides, make text read differently from what it
 * is (CVE-2021-42574, "Trojan Source"). {@link displaySafe} keeps the words and drops all of
 * that; the CLI applies it to every outside string its human views render, and the browser to
 * the chat it shows. Control sequences: ECMA-48 (5th ed.) sections 5.4-5.6 and 8.3.
 */

/**
 * Whole escape sequences, 7-bit (ESC ...) or 8-bit (C1):
 * - control strings OSC, DCS, SOS, PM, APC (ESC ] P X ^ _, or U+009D U+0090 U+0098 U+009E U+009F)
 *   up to BEL (the xterm OSC terminator), ST (ESC \ or U+009C) or the end of the text;
 * - CSI (ESC [ or U+009B): parameter bytes, intermediate bytes, final byte;
 * - any other escape: ESC, intermediate bytes, final byte (ESC c, ESC 7, ESC ( B, ...).
 */
// eslint-disable-next-line no-control-regex -- matching terminal escapes is the point
const ESCAPE_SEQUENCE = /(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[\s\S]*?(?:\u0007|\u001b\\|\u009c|$)|(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]?|\u001b[\u0020-\u002f]*[\u0030-\u007e]?/g;

/** Line and tab breaks: shown as one space, so a message stays on its line and cannot fake another. */
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;

/** Every other C0 control, DEL and C1 control. */
// eslint-disable-next-line no-control-regex -- matching controls is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Invisible format characters that reorder or hide text: bidi embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), the bidi marks (U+061C, U+200E, U+200F), zero-width space,
 * word joiner and invisible operators (U+200B, U+2060-U+2064), deprecated format controls
 * (U+206A-U+206F), the Mongolian vowel separator (U+180E), BOM (U+FEFF) and interlinear
 * annotation (U+FFF9-U+FFFB). Zero-width (non-)joiners stay: scripts and emoji need them.
 */
const INVISIBLE = /[\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

/** A UTF-16 surrogate without its pair (only a JavaScript string can hold one). */
const LONE_SURROGATE = /[\ud800-\udfff]/gu;

/**
 * `text` as it may be printed to a terminal or put in a page: escape sequences removed whole,
 * line breaks and tabs as spaces, every other C0/C1 control and DEL removed, bidi and invisible
 * format characters removed, lone surrogates as U+FFFD. The result holds no character a terminal
 * acts on, so nothing after it can form a sequence. Letters, emoji and right-to-left scripts
 * are kept.
 */
export function displaySafe(text: string): string {
  return text
    .replace(ESCAPE_SEQUENCE, '')
    .replace(BREAKS, ' ')
    .replace(CONTROLS, '')
    .replace(INVISIBLE, '')
    .replace(LONE_SURROGATE, '\ufffd');
}

/** What JSON.stringify leaves raw but a terminal may act on or display misleadingly (C0 it escapes itself). */
const JSON_RAW_UNSAFE = /[\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

/**
 * JSON.stringify, with DEL, C1 controls, line separators and the invisible format characters of
 * {@link displaySafe} also written as `\uXXXX` escapes: the same JSON value (a script that parses
 * the line gets the partner's exact text), but a terminal showing the raw line acts on nothing.
 * JSON.stringify already escapes C0 controls and lone surrogates.
 */
export function jsonForTerminal(value: object, space?: number): string {
  return JSON.stringify(value, null, space).replace(JSON_RAW_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
