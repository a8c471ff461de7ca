import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { displaySafe, jsonForTerminal } from '../../src/protocol/index.js';

const ESC = '\u001b';
const BEL = '\u0007';
const ST = `${ESC}\\`;

/** Anything a terminal would act on: C0 (tab and newline included), DEL, C1, bidi and invisible format characters. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/;

describe('displaySafe', () => {
  it('removes escape sequences whole, keeping the words around them', () => {
    const cases: [string, string][] = [
      // OSC 52: set the clipboard (BEL- and ST-terminated), OSC 0/2: window title, OSC 8: hyperlink.
      [`copy ${ESC}]52;c;Y3VybCBldmlsLnNoIHwgc2g=${BEL}this`, 'copy this'],
      [`copy ${ESC}]52;c;Y3VybA==${ST}this`, 'copy this'],
      [`${ESC}]0;you have been hacked${BEL}hi`, 'hi'],
      [`${ESC}]8;;https://evil.example${ST}click${ESC}]8;;${ST}`, 'click'],
      // CSI: clear screen, cursor home, SGR colours, private modes, cursor up + erase line.
      [`${ESC}[2J${ESC}[Hhello`, 'hello'],
      [`${ESC}[31;1mred${ESC}[0m`, 'red'],
      [`${ESC}[?1049h${ESC}[?25lalt screen`, 'alt screen'],
      [`fake${ESC}[1A${ESC}[2Kline`, 'fakeline'],
      // DCS (DECRQSS), APC, PM, SOS, ESC c (full reset), charset selection, DECSC.
      [`a${ESC}P$q"p${ST}b`, 'ab'],
      [`a${ESC}_payload${ST}b${ESC}^pm${ST}c${ESC}Xsos${ST}d`, 'abcd'],
      [`${ESC}cwiped ${ESC}(0box${ESC}(B ${ESC}7`, 'wiped box '],
      // 8-bit C1 forms: CSI U+009B, OSC U+009D ... ST U+009C.
      ['\u009b2Jx\u009d0;title\u009cy', 'xy'],
      // Unterminated control strings run to the end.
      [`ok${ESC}]52;c;Y3VybA==`, 'ok'],
      [`ok${ESC}`, 'ok'],
      [`ok${ESC}[`, 'ok'],
    ];
    for (const [input, want] of cases) expect(displaySafe(input), JSON.stringify(input)).toBe(want);
  });

  it('turns breaks into spaces and drops other controls, bidi overrides and invisible characters', () => {
    expect(displaySafe('line one\nYou: line two\r\n\ttab')).toBe('line one You: line two   tab');
    expect(displaySafe('bell\u0007 null\u0000 bs\u0008 del\u007f nel\u0085 ls\u2028end')).toBe('bell null bs del nel  ls end');
    // "Trojan Source": an RLO makes "txt.exe" read "exe.txt".
    expect(displaySafe('photo_\u202etxt.exe')).toBe('photo_txt.exe');
    expect(displaySafe('\u2066a\u2067b\u2068c\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c')).toBe('abc');
    expect(displaySafe('zero\u200bwidth\ufeff\u2060join\u180e')).toBe('zerowidthjoin');
    expect(displaySafe('lone \ud800 surrogate')).toBe('lone \ufffd surrogate');
  });

  it('keeps ordinary text of every script', () => {
    for (const s of ['வணக்கம்', 'नमस्ते', 'مرحبا بك', 'שלום', '你好', '👩🏽‍💻 🏳️‍🌈 🇮🇳', 'café – “quotes”', 'می‌خواهم']) expect(displaySafe(s)).toBe(s);
  });

  it('leaves nothing a terminal acts on, whatever the input (fuzzed)', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.constantFrom(ESC, BEL, ST, `${ESC}[`, `${ESC}]`, '\u009b', '\u009c', '\u009d', '\u202e', '\u2066', '\n', '\r', '\t', '\u0000', '\u007f', '\ud800', '52;c;', '2J'),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    fc.assert(fc.property(fc.array(piece, { maxLength: 20 }), (pieces) => {
      const out = displaySafe(pieces.join(''));
      expect(out).not.toMatch(UNSAFE);
      expect(out).not.toMatch(/[\ud800-\udfff]/u);
      expect(displaySafe(out)).toBe(out);
    }), { numRuns: 3000 });
  });
});

describe('jsonForTerminal', () => {
  it('is the same JSON value with nothing raw a terminal acts on', () => {
    const evil = { event: 'chat', text: `${ESC}]52;c;eA==${BEL}\u009b2J\u202eabc\u2028\u007f` };
    const line = jsonForTerminal(evil);
    expect(JSON.parse(line)).toEqual(evil);
    expect(line).not.toMatch(UNSAFE);
    expect(line).toContain('\\u009b');
    expect(line).toContain('\\u202e');
    const pretty = jsonForTerminal({ a: [1, { b: '\u0085' }] }, 2);
    expect(pretty).toBe('{\n  "a": [\n    1,\n    {\n      "b": "\\u0085"\n    }\n  ]\n}');
  });
});
