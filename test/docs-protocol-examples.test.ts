// docs/protocol.md is machine-checked: every JSON example parses with the protocol's own
// schemas (the client's with parseClientFrame, the server's with parseServerFrame), sits under
// the heading of its own type, and every message's field table says exactly which fields the
// schema requires and which are optional.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  CandidateSignal, ClientMessage, CLOSE_CODES, ERROR_CODES, IceServer, Limits, parseClientFrame, parseServerFrame, ServerMessage,
} from '../src/protocol/index.js';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

/** One fenced ```json block: where it is (the enclosing ## and ### headings) and its lines. */
interface Example { section: string; heading: string; line: number; lines: { n: number; text: string }[] }

function jsonBlocks(md: string): Example[] {
  const out: Example[] = [];
  let section = '';
  let heading = '';
  let block: Example | null = null;
  md.split('\n').forEach((text, i) => {
    const n = i + 1;
    if (block) {
      if (text.startsWith('```')) { out.push(block); block = null; } else if (text.trim() !== '') block.lines.push({ n, text });
      return;
    }
    if (text.startsWith('## ')) { section = text.slice(3).trim(); heading = ''; }
    else if (text.startsWith('### ')) heading = text.slice(4).trim();
    else if (/^```json\s*$/.test(text)) block = { section, heading, line: n, lines: [] };
  });
  if (block) throw new Error(`unclosed json block at line ${(block as Example).line}`);
  return out;
}

/**
 * A field table: the `| \`field\` | yes/no | ... |` rows under the `###` or `####` heading
 * `heading` (the first one after `## within`, when given), up to the next heading.
 */
function fieldTable(md: string, heading: string, within?: string): Map<string, boolean> {
  let text = md;
  if (within) text = text.slice(text.indexOf(`\n## ${within}\n`));
  const start = text.search(new RegExp(`\\n#{3,4} ${heading}\\n`));
  if (start < 0) return new Map();
  const rest = text.slice(start + 1);
  const end = rest.slice(4).search(/\n#{2,4} /);
  const body = end < 0 ? rest : rest.slice(0, end + 4);
  const rows = new Map<string, boolean>();
  for (const m of body.matchAll(/^\| `([A-Za-z]+)` \| (yes|no) \|/gm)) rows.set(m[1]!, m[2] === 'yes');
  return rows;
}

/** Field -> required, from a zod object schema. */
function required(schema: z.ZodObject): Map<string, boolean> {
  return new Map(Object.entries(schema.shape).map(([k, v]) => [k, !(v as z.ZodType).safeParse(undefined).success]));
}

const blocks = jsonBlocks(doc);

describe('docs/protocol.md examples', () => {
  it('has examples under both message sections', () => {
    expect(blocks.filter((b) => b.section === 'Client to server').length).toBeGreaterThanOrEqual(9);
    expect(blocks.filter((b) => b.section === 'Server to client').length).toBeGreaterThanOrEqual(10);
  });

  for (const b of blocks) {
    it(`line ${b.line} (${b.section}${b.heading ? ` / ${b.heading}` : ''}): every message parses with the protocol's schema`, () => {
      expect(b.lines.length).toBeGreaterThan(0);
      for (const { n, text } of b.lines) {
        const asClient = parseClientFrame(text, Buffer.byteLength(text));
        const asServer = parseServerFrame(text);
        let ok: boolean;
        let why: string;
        if (b.section === 'Client to server') {
          ok = asClient.ok;
          why = asClient.ok ? '' : asClient.message;
        } else if (b.section === 'Server to client') {
          ok = asServer.ok;
          why = asServer.ok ? '' : asServer.message;
        } else {
          // Elsewhere (the walkthrough) an example is a message of either direction.
          ok = asClient.ok || asServer.ok;
          why = `${asClient.ok ? '' : asClient.message} / ${asServer.ok ? '' : asServer.message}`;
        }
        expect(ok, `docs/protocol.md:${n}: ${why}\n${text}`).toBe(true);
        // An example sits under the heading of its own type.
        if (b.section === 'Client to server' || b.section === 'Server to client') {
          expect((JSON.parse(text) as { type: string }).type, `docs/protocol.md:${n}`).toBe(b.heading);
        }
      }
    });
  }
});

describe('docs/protocol.md field tables', () => {
  const cases: [string, 'Client to server' | 'Server to client', z.ZodObject][] = [
    ...ClientMessage.options.map((o) => [o.shape.type.value, 'Client to server', o] as [string, 'Client to server', z.ZodObject]),
    ...ServerMessage.options.map((o) => [o.shape.type.value, 'Server to client', o] as [string, 'Server to client', z.ZodObject]),
  ];
  for (const [type, section, schema] of cases) {
    it(`${section} / ${type}: the table lists every field, required exactly when the schema requires it`, () => {
      expect(Object.fromEntries(fieldTable(doc, type, section))).toEqual(Object.fromEntries(required(schema)));
    });
  }
  it('the candidate, ICE server and limits tables follow their schemas', () => {
    expect(Object.fromEntries(fieldTable(doc, 'The candidate object'))).toEqual(Object.fromEntries(required(CandidateSignal.shape.candidate)));
    expect(Object.fromEntries(fieldTable(doc, 'An ICE server'))).toEqual(Object.fromEntries(required(IceServer)));
    expect(Object.fromEntries(fieldTable(doc, 'The limits'))).toEqual(Object.fromEntries(required(Limits)));
  });
});

describe('docs/protocol.md is enough alone', () => {
  it('lists every wire error code and every close code', () => {
    expect(Object.keys(ERROR_CODES).filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
    for (const [close, code] of Object.entries(CLOSE_CODES)) expect(doc).toMatch(new RegExp(`\\| ${close} \\| \`${code}\``));
  });
  it('has the walkthrough for writing a client', () => {
    expect(doc).toMatch(/\n## Writing a client\n/);
  });
});
