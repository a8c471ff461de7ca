#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli (compiled to dist/cli by `npm run build`, which `npm install` runs).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('chatzyo: dist/ is missing; run `npm run build` (npm install runs it for you).\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
process.exitCode = code;
// Every command has closed what it opened by now; werift can leave an internal TURN refresh
// timer behind after a relayed call, so do not let a stray timer keep a finished run alive.
setTimeout(() => process.exit(code), 1500).unref();
