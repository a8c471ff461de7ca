/**
 * bench:encoder — the CPU the CLI's video ladder costs, `chatzyo connect`'s default ladder (four
 * VP8 rungs from the test pattern, in real time, RTP to loopback) three ways:
 * - on demand, as `connect` runs it now (src/peer/media-source.ts): the decoding ffmpeg, the
 *   encoder of the rung a track follows (the best, as on a wide path) and a warmed-up idle spare
 *   per rung, a MediaSource with one sink that discards what it gets;
 * - phased (the baseline): the one ffmpeg with ten encoders it ran before (src/peer/ffmpeg.ts
 *   ladderArgs), each on one thread;
 * - phased with libvpx's default threads (one worker per core, which spin while they wait for
 *   the next real-time frame).
 * Runs alternate, so the machine's load falls on all alike; CPU is each ffmpeg's own, from
 * /proc/PID/stat.
 *
 *   npm run bench:encoder -- [--seconds 10] [--repeat 3]
 */
import { spawn } from 'node:child_process';
import type dgram from 'node:dgram';
import os from 'node:os';
import { defaultLadder } from '../src/peer/ladder.js';
import type { MediaStreamTrack } from 'werift';
import { DEFAULT_VIDEO, ladderArgs, ladderStreams, rtpOutputUrl } from '../src/peer/ffmpeg.js';
import { resolveFfmpeg } from '../src/peer/index.js';
import { loopbackSocket, MediaSource } from '../src/peer/media-source.js';
import { processCpuMs } from '../src/peer/proc-stat.js';
import { numberArg, quantile, stopChildrenOnStop, table, tracked } from './lib.js';


const seconds = numberArg('seconds', 10);
const repeat = Math.round(numberArg('repeat', 3));
const ffmpeg = resolveFfmpeg().path;
const RUNGS = defaultLadder(DEFAULT_VIDEO);
const STREAMS = ladderStreams(RUNGS);

/** ffmpeg's user + system CPU seconds so far (null once it is gone: its last reading stands). */
const cpuSeconds = (pid: number): number | null => { const ms = processCpuMs(pid); return ms === null ? null : ms / 1000; };

type Way = 'on-demand' | 'phased' | 'phased-default-threads';

/** One run of the phased ladder for `seconds` of video: CPU seconds and wall seconds. */
async function runPhased(threads: 'one' | 'default'): Promise<{ cpu: number; wall: number }> {
  const sockets: dgram.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    // Loopback sockets as the CLI's own (src/peer/media-source.ts), read by nobody: what arrives is dropped.
    for (let i = 0; i < STREAMS.length; i++) sockets.push(await loopbackSocket());
    let args = ladderArgs({ type: 'testsrc' }, DEFAULT_VIDEO, RUNGS, sockets.map((s) => rtpOutputUrl(s.address().port)), STREAMS);
    if (threads === 'default') args = args.filter((a, i) => !(a === '-threads' || args[i - 1] === '-threads'));
    args.splice(args.indexOf('-i'), 0, '-t', String(seconds));
    const started = performance.now();
    const proc = tracked(spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    let cpu = 0;
    timer = setInterval(() => { cpu = cpuSeconds(proc.pid!) ?? cpu; }, 200);
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

/** The on-demand ladder running now (its ffmpeg processes are its own to stop). */
let onDemand: MediaSource | null = null;
// Stopped mid-run: no encoder left behind.
stopChildrenOnStop(async () => { await onDemand?.close(); });

/**
 * One run of the on-demand ladder: started (spares warmed up), then a sink on the best rung for
 * `seconds`; the CPU of every ffmpeg it ran in that time (each one's last reading).
 */
async function runOnDemand(): Promise<{ cpu: number; wall: number }> {
  const source = await MediaSource.start({ kind: 'video', source: { type: 'testsrc' }, encode: DEFAULT_VIDEO, ladder: RUNGS }, { ffmpegPath: ffmpeg });
  onDemand = source;
  const cpuAt = new Map<number, { start: number; last: number }>();
  const sample = () => {
    for (const pid of source.pids) {
      const c = cpuSeconds(pid);
      if (c === null) continue; // exited
      const seen = cpuAt.get(pid);
      if (seen) seen.last = c;
      else cpuAt.set(pid, { start: c, last: c });
    }
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    sample();
    const started = performance.now();
    // Counted from here: what starting cost is not the ladder's running cost.
    for (const v of cpuAt.values()) v.start = v.last;
    const track = { writeRtp: () => {} } as unknown as MediaStreamTrack;
    source.attach(track, 0);
    timer = setInterval(sample, 200);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    sample();
    let cpu = 0;
    for (const v of cpuAt.values()) cpu += v.last - v.start;
    return { cpu, wall: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(timer);
    onDemand = null;
    await source.close();
  }
}

const run = (way: Way) => (way === 'on-demand' ? runOnDemand() : runPhased(way === 'phased' ? 'one' : 'default'));

const WAYS: Way[] = ['phased', 'on-demand', 'phased-default-threads'];
const results: Record<Way, { cpu: number; wall: number }[]> = { 'on-demand': [], phased: [], 'phased-default-threads': [] };
for (let i = 0; i < repeat; i++) {
  // Each round starts with another one.
  for (let k = 0; k < WAYS.length; k++) {
    const way = WAYS[(i + k) % WAYS.length]!;
    console.error(`bench:encoder: ${way} (${i + 1}/${repeat}) ...`);
    results[way].push(await run(way));
  }
}
const row = (name: string, rs: { cpu: number; wall: number }[]) => {
  const cpu = quantile(rs.map((r) => r.cpu), 0.5);
  const wall = quantile(rs.map((r) => r.wall), 0.5);
  return { name, cpu, wall, cores: cpu / wall };
};
const base = row(`phased: one ffmpeg, ${STREAMS.length} encoders, -threads 1 (baseline)`, results.phased);
const rows = [
  base,
  row('on demand: decoder, best rung\'s encoder, 4 idle spares (connect)', results['on-demand']),
  row(`phased, libvpx default threads`, results['phased-default-threads']),
];
console.log(`CLI video ladder (${RUNGS.map((r) => `${r.width}x${r.height}@${r.fps}`).join(', ')}), ${seconds} s of video in real time, median of ${repeat}`);
console.log(table([
  ['ladder', 'CPU s', 'wall s', 'cores busy', 'CPU vs baseline'],
  ...rows.map((r) => [r.name, r.cpu.toFixed(2), r.wall.toFixed(2), r.cores.toFixed(2), `${(r.cpu / base.cpu).toFixed(2)}x`]),
]));
console.log(`load average (1 min) at the end: ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores`);
