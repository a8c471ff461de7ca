#!/usr/bin/env node
// Builds dist/: the Node code with tsc, the browser client with esbuild (one bundle, no CDN).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

// Up to date: nothing the build reads changed since the last build finished (`npm ci` builds in
// `prepare`, and `npm test` would build the same tree again: 12 s of CI's 30 minutes).
// `node scripts/build.js --force` builds regardless.
const stamp = path.join(root, 'dist/.build-stamp');
/** The newest modification time under `p` (a file or a folder), ms. */
function newest(p) {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(p).reduce((m, name) => Math.max(m, newest(path.join(p, name))), st.mtimeMs);
}
const inputs = ['src', 'scripts/build.js', 'scripts/build-web.js', 'tsconfig.base.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
if (!process.argv.includes('--force') && existsSync(stamp) && Math.max(...inputs.map((f) => newest(path.join(root, f)))) < statSync(stamp).mtimeMs) {
  console.log('build: dist/ is up to date (node scripts/build.js --force builds anyway)');
  process.exit(0);
}

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const { buildWeb } = await import('./build-web.js');
await buildWeb(path.join(root, 'dist/web'));
writeFileSync(stamp, `${new Date().toISOString()}\n`);
