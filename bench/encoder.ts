/**
 * bench:encoder — the CPU the CLI's video ladder costs: the real ffmpeg arguments of
 * `chatzyo connect`'s default ladder (src/peer/ffmpeg.ts ladderArgs: four VP8 rungs, ten encoders, from one
 * test pattern, paced in real time, RTP to loopback sockets that discard it), against the same
 * arguments with libvpx left at its default thread count (the baseline: one worker per core,
 * which spin while they wait for the next real-time frame). Runs alternate, so the machine's
 * load falls on both alike; each reads ffmpeg's own CPU time from /proc/PID/stat.
 *
 *   npm run bench:encoder -- [--seconds 10] [--repeat 3]
 */
import { spawn } from 'node:child_process';
import type dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { defaultLadder } from '../src/peer/ladder.js';
import { DEFAULT_VIDEO, ladderArgs, ladderStreams, rtpOutputUrl } from '../src/peer/ffmpeg.js';
import { resolveFfmpeg } from '../src/peer/index.js';
import { loopbackSocket } from '../src/peer/media-source.js';
import { quantile, table } from './lib.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} takes a positive number`);
  return v;
}

const seconds = arg('seconds', 10);
const repeat = Math.round(arg('repeat', 3));
const ffmpeg = resolveFfmpeg().path;
const TICKS = 100; // USER_HZ on Linux
const RUNGS = defaultLadder(DEFAULT_VIDEO);
const STREAMS = ladderStreams(RUNGS);

/** ffmpeg's user + system CPU seconds so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14 and 15)
}

/** One run of the ladder for `seconds` of video: CPU seconds and wall seconds. */
async function run(threads: 'one' | 'default'): Promise<{ cpu: number; wall: number }> {
  const sockets: dgram.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    // Loopback sockets as the CLI's own (src/peer/media-source.ts), read by nobody: what arrives is dropped.
    for (let i = 0; i < STREAMS.length; i++) sockets.push(await loopbackSocket());
    let args = ladderArgs({ type: 'testsrc' }, DEFAULT_VIDEO, RUNGS, sockets.map((s) => rtpOutputUrl(s.address().port)), STREAMS);
    if (threads === 'default') args = args.filter((a, i) => !(a === '-threads' || args[i - 1] === '-threads'));
    args.splice(args.indexOf('-i'), 0, '-t', String(seconds));
    const started = performance.now();
    const proc = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let cpu = 0;
    timer = setInterval(() => { try { cpu = cpuSeconds(proc.pid!); } catch { /* exited */ } }, 200);
    const code = await new Promise<number | null>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`ffmpeg exited with ${code}`);
    return { cpu, wall: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(timer);
    for (const s of sockets) s.close();
  }
}

const results: Record<'one' | 'default', { cpu: number; wall: number }[]> = { one: [], default: [] };
for (let i = 0; i < repeat; i++) {
  // Each round starts with the other one.
  for (const t of i % 2 ? (['one', 'default'] as const) : (['default', 'one'] as const)) {
    console.error(`bench:encoder: ${t} thread${t === 'one' ? '' : 's'} (${i + 1}/${repeat}) ...`);
    results[t].push(await run(t));
  }
}
const row = (name: string, rs: { cpu: number; wall: number }[]) => {
  const cpu = quantile(rs.map((r) => r.cpu), 0.5);
  const wall = quantile(rs.map((r) => r.wall), 0.5);
  return { name, cpu, wall, cores: cpu / wall };
};
const base = row('libvpx default threads (baseline)', results.default);
const now = row('libvpx -threads 1 (connect)', results.one);
console.log(`CLI video ladder (${RUNGS.map((r) => `${r.width}x${r.height}@${r.fps}`).join(', ')}; ${STREAMS.length} encoders), ${seconds} s of video in real time, median of ${repeat}`);
console.log(table([
  ['encoder', 'CPU s', 'wall s', 'cores busy', 'CPU vs baseline'],
  ...[base, now].map((r) => [r.name, r.cpu.toFixed(2), r.wall.toFixed(2), r.cores.toFixed(2), `${(r.cpu / base.cpu).toFixed(2)}x`]),
]));
console.log(`load average (1 min) at the end: ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores`);
