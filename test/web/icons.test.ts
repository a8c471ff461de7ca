// The committed app icons (src/web/icons) are what scripts/make-icons.js draws: a changed
// design is made by changing the script and running it, never by editing a PNG by hand.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { withTimeout } from '../helpers/deadline.js';
import { readPng } from '../helpers/png.js';

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
const ICONS = path.join(ROOT, 'src/web/icons');
const out = mkdtempSync(path.join(tmpdir(), 'chatzyo-icons-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('scripts/make-icons.js', () => {
  it('draws exactly the committed icons, byte for byte, as well-formed RGBA PNGs', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts/make-icons.js'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', resolve)), 30_000, 'scripts/make-icons.js');
    expect(code, err).toBe(0);
    const drawn = readdirSync(out).sort();
    expect(drawn).toEqual(readdirSync(ICONS).sort());
    expect(drawn.length).toBeGreaterThanOrEqual(3);
    for (const f of drawn) {
      const bytes = readFileSync(path.join(out, f));
      expect(bytes.equals(readFileSync(path.join(ICONS, f))), `${f} matches the committed icon`).toBe(true);
      const png = readPng(bytes);
      expect({ bitDepth: png.bitDepth, colourType: png.colourType, square: png.width === png.height }, f).toEqual({ bitDepth: 8, colourType: 6, square: true });
    }
  });
});
