#!/usr/bin/env node
// Fails when a module in src/ reaches itself through its relative imports (type-only imports
// included: a cycle is a sign two files share one job). Part of `npm run lint`; ESLint's
// import/no-cycle would do the same at many times the cost.
//   node scripts/check-cycles.js [DIR]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const dir = path.resolve(root, process.argv[2] ?? 'src');

/** Every .ts/.tsx file under `d`. */
function sources(d) {
  return readdirSync(d).flatMap((name) => {
    const p = path.join(d, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

// `import ... from './x.js'`, `export ... from './x.js'`, `import './x.js'`, `import('./x.js')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** The files `file` imports, resolved the way NodeNext resolves our `.js` specifiers. */
function importsOf(file, known) {
  const text = readFileSync(file, 'utf8');
  const out = new Set();
  for (const m of text.matchAll(SPECIFIER)) {
    const base = path.resolve(path.dirname(file), m[1]).replace(/\.js$/, '');
    for (const candidate of [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) {
      if (known.has(candidate)) { out.add(candidate); break; }
    }
  }
  return [...out];
}

const files = sources(dir);
const known = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f, known)]));

// Depth-first search; a back edge to a file on the current path is a cycle.
const state = new Map(); // file -> 'active' | 'done'
const cycles = [];
function visit(file, trail) {
  state.set(file, 'active');
  trail.push(file);
  for (const next of graph.get(file)) {
    if (state.get(next) === 'active') cycles.push([...trail.slice(trail.indexOf(next)), next]);
    else if (!state.has(next)) visit(next, trail);
  }
  trail.pop();
  state.set(file, 'done');
}
for (const f of files) if (!state.has(f)) visit(f, []);

if (cycles.length) {
  for (const c of cycles) console.error(`import cycle: ${c.map((f) => path.relative(root, f)).join(' -> ')}`);
  console.error(`${cycles.length} import cycle(s) in ${path.relative(root, dir)}/: move what both files need into a third, or one job into one file.`);
  process.exit(1);
}
console.log(`no import cycles among ${files.length} files in ${path.relative(root, dir)}/`);
