#!/usr/bin/env node
// Bundles the browser client: src/web/main.ts -> OUT/app.js (esbuild, one file, no CDN) and
// copies src/web/*.html|css|... next to it. Used by build.js (OUT = dist/web) and by the
// browser tests, which bundle the current source into a temporary directory.
//   node scripts/build-web.js [OUT]
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
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
  if (existsSync(path.join(webSrc, 'main.ts'))) {
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: [path.join(webSrc, 'main.ts')],
      bundle: true,
      format: 'esm',
      target: ['chrome110', 'firefox115'],
      outfile: path.join(outDir, 'app.js'),
      sourcemap: true,
      minify: true,
      logLevel: 'warning',
      plugins: [zodEnglishOnly],
    });
  }
  for (const f of readdirSync(webSrc)) {
    if (/\.(html|css|svg|png|ico)$/.test(f)) cpSync(path.join(webSrc, f), path.join(outDir, f));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
}
