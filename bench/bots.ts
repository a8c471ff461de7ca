/**
 * bench:bots — how many concurrent media bot pairs this machine carries, and what replaying a
 * pre-encoded clip saves over encoding per bot. Each step runs `chatzyo serve` and `chatzyo bots
 * --mode media` in their own processes (from dist/), with P pairs streaming at the same time for
 * a measurement window, and keeps stepping up while every bot connects, packet loss stays under
 * 1%, p95 time to connect stays under 3 s and the 5th-percentile receive bitrate stays within 80%
 * of the clip's. In the same run, the baseline: bots that each run their own ffmpeg encoders
 * (`--source ffmpeg`, as `chatzyo connect` does), at a pair count small enough for their encoders
 * (2 pairs: 8 ffmpeg processes), compared with the replay step of the same size.
 * CPU per pair is the bots' process in the steady state (every bot streaming), encoders included.
 *
 *   npm run bench:bots -- [--steps 2,5,10,20,...,200] [--window 12] [--ramp 20]
 *                         [--baseline-pairs 2] [--max-minutes 15] [--no-adapt]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processCpuMs } from '../src/peer/proc-stat.js';
import { spawnJson, stop, stopChildrenOnStop, table, tracked } from './lib.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const BIN = path.join(root, 'bin/chatzyo.js');
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const STEPS = opt('steps', '2,5,10,20,30,40,50,60,80,100,125,150,175,200').split(',').map(Number).filter((n) => n > 0);
const WINDOW_S = Number(opt('window', '12'));
const RAMP = Number(opt('ramp', '20'));
const BASELINE_PAIRS = Number(opt('baseline-pairs', '2'));
const MAX_MINUTES = Number(opt('max-minutes', '15'));
/** `--no-adapt`: the bots replay the top rung without the estimate and the rule (what the adaptation costs). */
const ADAPT = !args.includes('--no-adapt');
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

/** The parts of the bots' JSON summary the bench reads. */
interface Summary {
  bots: number;
  connected: number;
  failRate: number;
  attempts: { succeeded: number; failed: number };
  timeToConnectMs: { p50: number; p95: number } | null;
  timeToFirstMediaMs: { p50: number; p95: number } | null;
  recvBitrateKbps: { p50: number; p5: number } | null;
  lossPercent: { p50: number; p95: number; overall: number } | null;
  cpu: { steadyPercentOfCore: number | null; steadySeconds: number | null; percentOfCore: number; childrenMs: number };
  memory: { peakRssMb: number };
  clip: { videoKbps: number; audioKbps: number } | null;
  endReason: string;
}

interface Step {
  label: string;
  pairs: number;
  source: 'clip' | 'ffmpeg';
  s: Summary;
  serverCpuPercent: number;
  ok: boolean;
  why: string;
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux). */
/** CPU seconds of a process so far; NaN once it is gone. */
const procCpuS = (pid: number | undefined): number => (processCpuMs(pid) ?? NaN) / 1000;

async function runStep(pairs: number, source: 'clip' | 'ffmpeg'): Promise<Step> {
  const server = await spawnJson(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--stun-port', '0', '--json', '--log-level', 'warn',
    '--max-connections-per-address', '100000', '--max-messages-per-second', '1000']);
  const url = server.first.url as string;
  const count = pairs * 2;
  const rampS = count / RAMP;
  // Everyone streams together for the window after the ramp (and a few seconds to connect).
  const duration = Math.ceil(rampS + 4 + WINDOW_S);
  const label = `${pairs} pairs, ${source === 'clip' ? 'replayed clip' : 'ffmpeg per bot'}`;
  log(`${label}: ${count} bots, ramp ${RAMP}/s, ${duration} s`);
  const cpu0 = procCpuS(server.proc.pid);
  const t0 = Date.now();
  try {
    const bots = tracked(spawn(process.execPath, [BIN, 'bots', '--server', url, '--mode', 'media', '--count', String(count), '--ramp', String(RAMP),
      '--duration', String(duration), '--source', source, '--json', '--max-fail-rate', '1', ...(ADAPT ? [] : ['--no-adapt'])], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    bots.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => { bots.kill('SIGINT'); }, (duration + 60) * 1000);
      bots.once('exit', (c) => { clearTimeout(t); resolve(c); });
    });
    const serverCpuPercent = (100 * (procCpuS(server.proc.pid) - cpu0)) / ((Date.now() - t0) / 1000);
    if (!out.trim()) throw new Error(`chatzyo bots exited ${code} without a summary`);
    const s = JSON.parse(out) as Summary;
    const clip = s.clip ? s.clip.videoKbps + s.clip.audioKbps : null;
    const reasons: string[] = [];
    if (s.connected < s.bots) reasons.push(`${s.bots - s.connected} bots never received media`);
    if (s.failRate > 0.01) reasons.push(`fail rate ${(s.failRate * 100).toFixed(1)}%`);
    if (!s.lossPercent || s.lossPercent.overall >= 1) reasons.push(`loss ${s.lossPercent?.overall ?? '?'}%`);
    if (!s.timeToConnectMs || s.timeToConnectMs.p95 >= 3000) reasons.push(`p95 connect ${s.timeToConnectMs?.p95 ?? '?'} ms`);
    if (clip && (!s.recvBitrateKbps || s.recvBitrateKbps.p5 < 0.8 * clip)) reasons.push(`p5 bitrate ${s.recvBitrateKbps?.p5 ?? '?'} kbit/s < 80% of ${clip}`);
    const step: Step = { label, pairs, source, s, serverCpuPercent, ok: reasons.length === 0, why: reasons.join('; ') || 'ok' };
    log(`${label}: ${step.ok ? 'ok' : `FAIL (${step.why})`}; steady CPU ${s.cpu.steadyPercentOfCore}% of a core`);
    return step;
  } finally {
    await stop(server.proc);
  }
}

function perPair(st: Step): number {
  return (st.s.cpu.steadyPercentOfCore ?? NaN) / st.pairs;
}

async function main() {
  const keepAlive = setInterval(() => {}, 1 << 30);
  // Stopped mid-run: no server or bots left behind.
  stopChildrenOnStop();
  const deadline = Date.now() + MAX_MINUTES * 60_000;
  const steps: Step[] = [];
  // The baseline first, at the first step's size, then the replay steps up to the first failure.
  const baseline = await runStep(BASELINE_PAIRS, 'ffmpeg');
  for (const pairs of STEPS) {
    if (Date.now() > deadline) { log(`time is up (--max-minutes ${MAX_MINUTES}); stopping at ${steps.at(-1)?.pairs ?? 0} pairs`); break; }
    const st = await runStep(pairs, 'clip');
    steps.push(st);
    if (!st.ok) break;
  }
  const sameSize = steps.find((s) => s.pairs === BASELINE_PAIRS);
  const best = [...steps].reverse().find((s) => s.ok);

  const rows: (string | number)[][] = [[
    'run', 'pairs', 'connected', 'p95 connect ms', 'p95 1st media ms', 'loss %', 'p5 kbit/s', 'bots CPU % core', 'CPU %/pair', 'server CPU %', 'peak RSS MB', 'verdict',
  ]];
  for (const st of [baseline, ...steps]) {
    const s = st.s;
    rows.push([
      st.label, st.pairs, `${s.connected}/${s.bots}`, s.timeToConnectMs?.p95 ?? NaN, s.timeToFirstMediaMs?.p95 ?? NaN, s.lossPercent?.overall ?? NaN,
      s.recvBitrateKbps?.p5 ?? NaN, s.cpu.steadyPercentOfCore ?? NaN, perPair(st), st.serverCpuPercent, s.memory.peakRssMb, st.ok ? 'ok' : st.why,
    ]);
  }
  console.log(`\nbench:bots  window ${WINDOW_S}s after the ramp (${RAMP} bots/s)  ${process.version}  ${(await import('node:os')).availableParallelism()} cores\n`);
  console.log(table(rows));
  console.log(`\nlargest passing step (loss < 1%, p95 connect < 3 s, every bot streaming, p5 bitrate >= 80% of the clip): ${best ? `${best.pairs} pairs (${best.pairs * 2} peers)` : 'none'} (target >= 50)`);
  if (best) console.log(`CPU per pair at ${best.pairs} pairs: ${perPair(best).toFixed(2)}% of a core`);
  if (sameSize) {
    const ratio = perPair(baseline) / perPair(sameSize);
    console.log(`CPU per pair at ${BASELINE_PAIRS} pairs: ffmpeg per bot ${perPair(baseline).toFixed(2)}% vs replayed clip ${perPair(sameSize).toFixed(2)}% -> replay is ${ratio.toFixed(1)}x cheaper (target >= 10x)`);
    if (best && best !== sameSize) console.log(`(at ${best.pairs} pairs the replay costs ${perPair(best).toFixed(2)}% per pair: ${(perPair(baseline) / perPair(best)).toFixed(1)}x cheaper than the baseline)`);
  }
  clearInterval(keepAlive);
}

main().catch((err) => { console.error(err); process.exit(1); });
