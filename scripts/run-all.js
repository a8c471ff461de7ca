#!/usr/bin/env node
// `node scripts/run-all.js CMD...`: runs shell commands side by side (as many at a time as the
// machine has cores) and exits non-zero if any failed. Each command's output is printed whole
// when it ends, so two commands' lines never interleave. `npm test` runs the type check and the
// lint this way: each is mostly one single-threaded process (tsc, eslint), and one after the
// other they took 56 s of the CI box's 30 minutes.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

const cmds = process.argv.slice(2);
if (!cmds.length) {
  console.error('usage: node scripts/run-all.js CMD [CMD...]');
  process.exit(2);
}

/** Runs one command; resolves with its exit code and everything it printed. */
function run(cmd) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, { shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('error', (err) => out.push(Buffer.from(`${err.message}\n`)));
    child.on('close', (code, signal) => {
      const s = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n> ${cmd} (${code === 0 ? 'passed' : `FAILED: ${code ?? signal}`}, ${s} s)\n${Buffer.concat(out).toString()}`);
      resolve(code === 0);
    });
  });
}

const queue = [...cmds];
const lanes = Array.from({ length: Math.min(queue.length, Math.max(1, availableParallelism())) }, async () => {
  let ok = true;
  for (let cmd = queue.shift(); cmd !== undefined; cmd = queue.shift()) ok = (await run(cmd)) && ok;
  return ok;
});
const ok = (await Promise.all(lanes)).every(Boolean);
process.exit(ok ? 0 : 1);
