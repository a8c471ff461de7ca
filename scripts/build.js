#!/usr/bin/env node
// Builds dist/: the Node code with tsc, the browser client with esbuild (one bundle, no CDN).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const require = createRequire(import.meta.url);

let tscBin;
try {
  tscBin = require.resolve('typescript/bin/tsc');
} catch {
  // A production install without dev dependencies: use the committed build if there is one.
  if (existsSync(path.join(root, 'dist/cli/main.js'))) process.exit(0);
  console.error('build: typescript is not installed; run `npm install` (with dev dependencies).');
  process.exit(1);
}

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const { buildWeb } = await import('./build-web.js');
await buildWeb(path.join(root, 'dist/web'));
