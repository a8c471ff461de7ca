/**
 * bench:quality — what a viewer sees across the lab's profiles: for each profile, a werift peer
 * sends the CLI's default stamped video (VP8 640x480, 15 fps, 600 kbit/s, plus Opus) from
 * behind the profile (impairment relay in front of a real coturn) to a clean werift viewer
 * that decodes it and reads the stamps (src/lab/call-quality.ts). Prints fps, freezes, freeze
 * ratio, glass-to-glass p50/p95, receiver loss and MOS per profile, with `good` as the
 * baseline of the same run, and the machine's load while it ran.
 *
 * Only CLI -> werift is measured so far: the Chromium columns (a y4m fake camera and a page
 * reading stamps off a canvas) and PSNR/SSIM are not built yet, and the table says so.
 *
 *   npm run bench:quality -- [--profiles good,3g,...] [--window 8]
 */
import os from 'node:os';
import { measureCall, type CallMeasurement } from '../src/lab/call-quality.js';
import { NETWORK_PROFILE_NAMES, parseNetworkProfile } from '../src/lab/index.js';
import { resolveFfmpeg } from '../src/peer/index.js';
import { startCoturn } from '../test/helpers/coturn.js';
import { startServer } from '../test/helpers/server.js';
import { table } from './lib.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const profiles = (arg('profiles') ?? NETWORK_PROFILE_NAMES.join(',')).split(',').filter(Boolean);
const windowMs = Number(arg('window') ?? 8) * 1000;
const ffmpeg = resolveFfmpeg().path;
const turn = await startCoturn();
const server = await startServer({ turnUrls: [turn.url], turnSecret: turn.secret });
const rows: (string | number)[][] = [['profile', 'fps', 'freezes', 'freeze ratio', 'g2g p50 ms', 'g2g p95 ms', 'frames lost', 'recv loss %', 'MOS', 'fps vs good', 'Chromium->Chromium']];
const loads: number[] = [];
const failures: string[] = [];
let good: CallMeasurement | null = null;
try {
  for (const name of profiles) {
    const profile = parseNetworkProfile(name);
    process.stderr.write(`bench:quality: ${name} ...\n`);
    let m: CallMeasurement;
    try {
      // 60 s a step: behind 500-600 ms of RTT a werift call takes about 30 s to connect.
      m = await measureCall({ server: server.url, ffmpegPath: ffmpeg, profile, measureMs: windowMs, stepTimeoutMs: 60_000 });
    } catch (err) {
      rows.push([name, 'failed', '-', '-', '-', '-', '-', '-', '-', '-', 'not built']);
      failures.push(`${name}: ${(err as Error).message}`);
      continue;
    }
    loads.push(os.loadavg()[0]!);
    if (name === 'good') good = m;
    const v = m.viewer;
    rows.push([
      name, m.windowFps, v.freezeCount, v.freezeRatio, v.latencyMs?.p50 ?? '-', v.latencyMs?.p95 ?? '-', v.framesLost,
      m.lossPercent, m.mos ?? '-', good && good.windowFps > 0 ? `${Math.round((100 * m.windowFps) / good.windowFps)}%` : '-', 'not built',
    ]);
  }
} finally {
  await server.close();
  await turn.stop();
}
process.stdout.write(`CLI (werift + ffmpeg, VP8 640x480 15 fps 600 kbit/s) -> werift viewer, ${windowMs / 1000} s window per profile\n`);
process.stdout.write(`${table(rows)}\n`);
for (const f of failures) process.stdout.write(`failed: ${f}\n`);
process.stdout.write(`load average (1 min) during the run: ${loads.map((l) => l.toFixed(1)).join(', ')} on ${os.availableParallelism()} cores\n`);
