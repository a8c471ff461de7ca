/**
 * bench:spawn — how long starting an encoder process holds up the thread that sends a call's
 * media, two ways in one process:
 * - child_process.spawn on this thread (the baseline: how the CLI started its rung encoders);
 * - the Spawner (src/peer/spawner.ts), which starts them from a worker thread, as now.
 * Each way starts `--spawns` short ffmpeg processes, one every 150 ms, while `--load` worker
 * threads keep the cores busy (a call's start: the partner's browser, our DTLS, the encoders).
 * For each start: how long the spawn call itself took, and the longest this thread's event loop
 * was held up in the 100 ms after it (the longest gap between its 1 ms ticks). Ways alternate.
 *
 *   npm run bench:spawn -- [--spawns 20] [--load 2] [--repeat 3]
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { resolveFfmpeg } from '../src/peer/index.js';
import { Spawner } from '../src/peer/spawner.js';
import { numberArg, quantile, table } from './lib.js';


const SPAWNS = Math.max(1, Math.round(numberArg('spawns', 20, { zeroOk: true })));
const LOAD = Math.round(numberArg('load', 2, { zeroOk: true }));
const REPEAT = Math.max(1, Math.round(numberArg('repeat', 3, { zeroOk: true })));
const ffmpeg = resolveFfmpeg().path;
const ARGS = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'nullsrc=s=16x16', '-frames:v', '1', '-f', 'null', '-'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Way = 'child_process.spawn (this thread)' | 'Spawner (worker thread)';
const WAYS: Way[] = ['child_process.spawn (this thread)', 'Spawner (worker thread)'];

/** Starts one process `way`; resolves when it has closed. Returns how long the call took, ms. */
function start(way: Way): { callMs: number; done: Promise<void> } {
  const t = performance.now();
  const p = way === 'child_process.spawn (this thread)' ? spawn(ffmpeg, ARGS, { stdio: ['ignore', 'ignore', 'pipe'] }) : Spawner.shared().spawn(ffmpeg, ARGS);
  const callMs = performance.now() - t;
  return { callMs, done: new Promise((r) => p.once('close', () => r())) };
}

/** Worker threads that spin until told to stop (each ends by itself after `maxMs` too). */
function loadThreads(n: number, maxMs: number): () => Promise<void> {
  const workers = Array.from({ length: n }, () => new Worker(
    `const { parentPort } = require('node:worker_threads'); let on = true; parentPort.on('message', () => { on = false; });
     const end = Date.now() + ${maxMs}; const spin = () => { const t = Date.now() + 20; while (Date.now() < t) {} if (on && Date.now() < end) setImmediate(spin); else process.exit(0); }; spin();`,
    { eval: true }));
  return async () => {
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => { w.once('exit', () => resolve()); w.postMessage('stop'); })));
  };
}

const results = new Map<Way, { call: number[]; stall: number[] }>(WAYS.map((w) => [w, { call: [], stall: [] }]));
// One start of each first, so neither pays for loading code or starting the worker in the figures.
for (const way of WAYS) await start(way).done;

const stopLoad = loadThreads(LOAD, (SPAWNS * 0.3 + 5) * REPEAT * WAYS.length * 1000);
try {
  for (let round = 0; round < REPEAT; round++) {
    for (const way of WAYS) {
      const r = results.get(way)!;
      // The longest gap between this thread's 1 ms ticks since the last reset.
      let last = performance.now();
      let maxGap = 0;
      const ticker = setInterval(() => { const t = performance.now(); maxGap = Math.max(maxGap, t - last); last = t; }, 1);
      const loop = { reset: () => { last = performance.now(); maxGap = 0; }, get max() { return maxGap * 1e6; }, disable: () => clearInterval(ticker) };
      const done: Promise<void>[] = [];
      for (let i = 0; i < SPAWNS; i++) {
        await sleep(50);
        loop.reset();
        const s = start(way);
        done.push(s.done);
        await sleep(100);
        r.call.push(s.callMs);
        // Less the monitor's own resolution: what the loop was held up beyond its 1 ms tick.
        r.stall.push(Math.max(0, loop.max / 1e6 - 1));
      }
      loop.disable();
      await Promise.all(done);
    }
  }
} finally {
  await stopLoad();
}

const row = (way: Way) => {
  const r = results.get(way)!;
  return [way, String(r.call.length), quantile(r.call, 0.5), quantile(r.call, 0.95), quantile(r.stall, 0.5), quantile(r.stall, 0.95), Math.max(...r.stall)];
};
const a = row(WAYS[0]!);
const b = row(WAYS[1]!);
process.stdout.write('\n' + table([
  [`starting ffmpeg, ${LOAD} busy threads (ms)`, 'starts', 'call p50', 'call p95', 'loop stall p50', 'loop stall p95', 'loop stall max'],
  a, b,
  ['ratio Spawner / this thread', '', ...[2, 3, 4, 5, 6].map((i) => (b[i] as number) / Math.max(0.01, a[i] as number))],
]) + '\n');
