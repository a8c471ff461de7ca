// Regression: `chatzyo serve` printed its listening line before it listened for SIGTERM; with
// demo bots still starting, a SIGTERM sent as soon as the line appeared killed it without the
// clean shutdown (no "closed" event, partners not told). Signals are now caught from the start.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { withTimeout } from '../helpers/deadline.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');

it('a SIGTERM sent the moment the listening line appears (demo bots still starting) is a clean stop', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--stun-port', '0', '--host', '127.0.0.1', '--json', '--log-level', 'silent', '--demo-bots', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      let sent = false;
      child.stdout.on('data', (d) => {
        out += d;
        // One SIGTERM (a second one during shutdown is a deliberate hard stop).
        if (!sent && out.includes('"event":"listening"')) { sent = true; child.kill('SIGTERM'); resolve(); }
      });
      child.on('exit', () => reject(new Error(`exited before listening: ${err}`)));
    }), 20_000, 'listening line');
    const end = await withTimeout(exited, 20_000, 'exit after SIGTERM');
    expect(end, err).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/"event":"closed","signal":"SIGTERM"/);
  } finally {
    child.kill('SIGKILL');
  }
});
