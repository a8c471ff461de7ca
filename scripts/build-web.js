#!/usr/bin/env node
// Bundles the browser client: src/web/main.ts -> OUT/app.js (esbuild, no CDN; what the page
// imports with import(), the screening model and TensorFlow.js, goes into OUT/chunk-*.js files
// that load only when first used, and the WebAssembly backend's binaries into OUT/tfjs/), the
// offline page's script offline.ts -> OUT/offline.js, copies src/web/*.html|css|webmanifest|...
// and src/web/icons/ next to them, and last bundles the service worker sw.ts -> OUT/sw.js with
// the version of this build's shell (a hash of the files above) compiled in. Used by build.js
// (OUT = dist/web) and by the browser tests, which bundle the current source into a temporary
// directory.
//   node scripts/build-web.js [OUT]
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');

/**
 * `import { z } from 'zod'` keeps every zod locale (about 260 kB minified) alive through the
 * `z.locales` namespace. The client only shows English messages, so the bundle gets English only.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/** Builds the browser client into `outDir`. */
export async function buildWeb(outDir = path.join(root, 'dist/web')) {
  const webSrc = path.join(root, 'src/web');
  mkdirSync(outDir, { recursive: true });
  const esbuild = existsSync(path.join(webSrc, 'main.ts')) ? await import('esbuild') : null;
  const common = { bundle: true, target: ['chrome110', 'firefox115'], sourcemap: true, minify: true, logLevel: 'warning' };
  if (esbuild) {
    await esbuild.build({
      ...common,
      entryPoints: { app: path.join(webSrc, 'main.ts') },
      format: 'esm',
      // The screening model (issue 16) is 4 MB of weights and TF.js: a chunk of its own, loaded
      // after the first Start, so the first paint does not wait for it.
      splitting: true,
      outdir: outDir,
      chunkNames: 'chunk-[hash]',
      plugins: [zodEnglishOnly],
    });
    copyWasm(path.join(outDir, 'tfjs'));
    await esbuild.build({ ...common, entryPoints: [path.join(webSrc, 'offline.ts')], format: 'iife', outfile: path.join(outDir, 'offline.js') });
  }
  for (const f of readdirSync(webSrc)) {
    if (/\.(html|css|svg|png|ico|webmanifest)$/.test(f)) cpSync(path.join(webSrc, f), path.join(outDir, f));
  }
  // The app icons (PNGs drawn by scripts/make-icons.js), one level deep.
  const iconsSrc = path.join(webSrc, 'icons');
  if (existsSync(iconsSrc)) {
    mkdirSync(path.join(outDir, 'icons'), { recursive: true });
    for (const f of readdirSync(iconsSrc)) {
      if (/\.png$/.test(f)) cpSync(path.join(iconsSrc, f), path.join(outDir, 'icons', f));
    }
  }
  if (esbuild) {
    // A classic script (module service workers are newer than the browsers we target). The
    // version names the worker's cache: a build whose shell differs in one byte gets a new
    // sw.js, so the browser installs it and the new worker drops the old cache.
    await esbuild.build({
      ...common,
      entryPoints: [path.join(webSrc, 'sw.ts')],
      format: 'iife',
      outfile: path.join(outDir, 'sw.js'),
      define: { __CHATZYO_SHELL_VERSION__: JSON.stringify(shellVersion(outDir)) },
    });
  }
}

/**
 * TF.js's WebAssembly backend fetches its binary from the page's origin (screening-model.ts
 * sets the path to /tfjs/): the plain and the SIMD build. The threaded one needs
 * SharedArrayBuffer, which a page that is not cross-origin isolated does not have.
 */
function copyWasm(to) {
  const from = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  mkdirSync(to, { recursive: true });
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) cpSync(path.join(from, f), path.join(to, f));
}

/**
 * A hash of the built shell: every file under `outDir` but the worker itself and the source
 * maps, by name and content, in a fixed order. 16 hex digits.
 */
function shellVersion(outDir) {
  const hash = createHash('sha256');
  const files = readdirSync(outDir, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => f !== 'sw.js' && !f.endsWith('.map') && statSync(path.join(outDir, f)).isFile())
    .sort();
  for (const f of files) {
    hash.update(`${f}\0`);
    hash.update(readFileSync(path.join(outDir, f)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
}
