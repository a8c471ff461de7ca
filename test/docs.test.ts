// The README documents every error code and close code; docs/protocol.md every message type.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, CLIENT_MESSAGE_TYPES, ERROR_CODES, ServerMessage } from '../src/protocol/index.js';
import { PEER_ERROR_CODES } from '../src/peer/errors.js';
import { PROBE_ERROR_CODES } from '../src/probe/errors.js';
import { BOT_ERROR_CODES } from '../src/bots/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const protocol = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

describe('docs', () => {
  it('README starts with the install-and-run and the test commands', () => {
    const firstBlock = readme.split('```')[1] ?? '';
    expect(firstBlock).toMatch(/npm install && npm start/);
    expect(firstBlock).toMatch(/npm test/);
  });
  it('README lists every error code', () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !readme.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });
  it('README lists every client-side error code of connect, probe and bots', () => {
    const missing = [...Object.keys(PEER_ERROR_CODES), ...Object.keys(PROBE_ERROR_CODES), ...Object.keys(BOT_ERROR_CODES)].filter((c) => !readme.includes(`\`${c}\``));
    expect(missing).toEqual([]);
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
