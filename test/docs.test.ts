// The README documents every error code and close code; docs/protocol.md every message type.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, CLIENT_MESSAGE_TYPES, ERRORS, errorCodeForClose, exitCodeOf, isErrorCode, ServerMessage } from '../src/protocol/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const protocol = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

/** Every .ts/.tsx file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

describe('docs', () => {
  it('README starts with the install-and-run and the test commands', () => {
    const firstBlock = readme.split('```')[1] ?? '';
    expect(firstBlock).toMatch(/npm install && npm start/);
    expect(firstBlock).toMatch(/npm test/);
  });
  it('README lists every code of the one error table, each in a table row', () => {
    const missing = Object.keys(ERRORS).filter((c) => !readme.includes(`| \`${c}\` |`));
    expect(missing).toEqual([]);
  });
  it('every CHZ_ERR_ code the README names is in the error table', () => {
    const named = new Set(readme.match(/CHZ_ERR_[A-Z0-9_]+/g) ?? []);
    expect(named.size).toBeGreaterThan(50);
    expect([...named].filter((c) => !isErrorCode(c))).toEqual([]);
  });
  it("the README's exit column is the table's exit code for every client-side code", () => {
    const rows = [...readme.matchAll(/^\| `(CHZ_ERR_[A-Z0-9_]+)` \| (\d) \|/gm)];
    expect(rows.length).toBeGreaterThan(40);
    for (const [, code, exit] of rows) expect(Number(exit), code).toBe(exitCodeOf(code));
    // every code with an exit code of its own is in that table
    const withExit = Object.keys(ERRORS).filter((c) => exitCodeOf(c) !== 1);
    expect(withExit.filter((c) => !rows.some((r) => r[1] === c))).toEqual([]);
  });
  it('every CHZ_ERR_ literal in src is in the error table (a typo or an undocumented code fails)', () => {
    const unknown: string[] = [];
    for (const file of sourceFiles(new URL('../src/', import.meta.url).pathname)) {
      for (const code of readFileSync(file, 'utf8').match(/CHZ_ERR_[A-Z0-9_]+/g) ?? []) {
        if (!isErrorCode(code)) unknown.push(`${file}: ${code}`);
      }
    }
    expect(unknown).toEqual([]);
  });
  it('close codes come from the table, and each maps back to its error code', () => {
    expect(Object.keys(CLOSE_CODES).length).toBeGreaterThanOrEqual(7);
    for (const [close, code] of Object.entries(CLOSE_CODES)) {
      expect(ERRORS[code].close).toBe(Number(close));
      expect(errorCodeForClose(Number(close))).toBe(code);
    }
  });
  it('README lists every close code with its error code', () => {
    for (const [close, code] of Object.entries(CLOSE_CODES)) {
      expect(readme).toMatch(new RegExp(`\\| ${close} \\| \`${code}\``));
    }
  });
  it('docs/protocol.md documents every message type with an example', () => {
    const serverTypes = ServerMessage.options.map((o) => o.shape.type.value);
    for (const t of [...CLIENT_MESSAGE_TYPES, ...serverTypes]) {
      expect(protocol, t).toMatch(new RegExp(`### ${t}\\n`));
      expect(protocol, t).toContain(`"type":"${t}"`);
    }
  });
});
