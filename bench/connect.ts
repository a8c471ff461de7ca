/**
 * bench:connect — on loopback, how fast a call gets going with the headless peer compared to
 * a browser peer, measured in the same run by the same Chromium receiver:
 *   CLI -> Chromium:      `chatzyo connect` (werift + ffmpeg) calls a Chromium page
 *   Chromium -> Chromium: a second Chromium page calls the same page (the baseline)
 * For each call, the receiving page records (in-page clock) when `matched` arrived, when its
 * RTCPeerConnection reached "connected", and when the first video frame was shown: the
 * presentation time requestVideoFrameCallback reports for the remote <video>, which a busy main
 * thread does not delay (the page's on-device screening of a new stranger's first frames keeps
 * it busy for a few hundred ms; the getStats poll's first framesDecoded, which that delays, is
 * printed beside it as "stats poll"). Prints the median and p95 of N calls each, the
 * CLI/Chromium ratios (target: <= 1.2), and the CPU seconds per minute of streaming of the CLI
 * peer (its node process and its ffmpeg encoders). `--cli-bin` runs another build's CLI (a
 * before/after in one run of the same page).
 *
 *   npm run bench:connect -- [--calls 20] [--cpu-seconds 20] [--width 640 --height 480 --fps 15] [--codec vp8|h264]
 *     [--screening off|flag-only|blur-until-safe] [--cli-bin path/to/other/build/bin/chatzyo.js]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { startServer } from '../test/helpers/server.js';
import { buildWebClient, launchChromium, openChromiumPage, startIn, waitForStatus, type ChatPage } from '../test/helpers/browsers.js';
import { until } from '../test/helpers/deadline.js';
import { quantile, stop, table } from './lib.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const CALLS = Number(opt('calls', '20'));
const CPU_SECONDS = Number(opt('cpu-seconds', '20'));
const WIDTH = opt('width', '640');
const HEIGHT = opt('height', '480');
const FPS = opt('fps', '15');
const CODEC = opt('codec', 'vp8');
const SCREENING = opt('screening', 'blur-until-safe') as 'off' | 'flag-only' | 'blur-until-safe';
/** The `chatzyo` the CLI side runs (another build's, to compare; default this checkout's). */
const CLI_BIN = opt('cli-bin', path.join(root, 'bin/chatzyo.js'));
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

/**
 * Runs in the receiving page: every 5 ms it looks at the client's debug hook; a new match id
 * is the moment `matched` was handled, then it waits for "connected" and the first decoded frame.
 */
const PAGE_PROBE = `(() => {
  const calls = {};
  window.__bench = { calls };
  let current = null;
  const tick = async () => {
    const h = window.__chatzyo;
    if (h && h.matchId && h.matchId !== current) {
      current = h.matchId;
      const c0 = calls[current] = { matchedAt: performance.now(), connectedAt: null, firstFrameAt: null, presentedAt: null };
      const video = document.getElementById('remote-video');
      // The first frame the <video> presents of this call's tracks (the last call's may still show).
      const onFrame = (now, meta) => {
        const s = video.srcObject;
        const pc0 = window.__chatzyo.pc;
        const ours = window.__chatzyo.matchId === c0.id && s && pc0 && s.getVideoTracks().some((t) => pc0.getReceivers().some((r) => r.track === t));
        if (ours && meta.presentationTime >= c0.matchedAt) {
          c0.presentedAt = meta.presentationTime;
          return;
        }
        if (window.__chatzyo.matchId === c0.id) video.requestVideoFrameCallback(onFrame);
      };
      c0.id = current;
      video.requestVideoFrameCallback(onFrame);
    }
    const c = current && calls[current];
    const pc = h && h.pc;
    if (c && pc && h.matchId === current) {
      if (c.connectedAt === null && pc.connectionState === 'connected') c.connectedAt = performance.now();
      if (c.connectedAt !== null && c.firstFrameAt === null) {
        const stats = await pc.getStats();
        stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0 && c.firstFrameAt === null) c.firstFrameAt = performance.now(); });
      }
    }
    setTimeout(tick, 5);
  };
  tick();
})()`;

interface Timing { connectMs: number; firstFrameMs: number; presentedMs: number }

async function openReceiver(browser: Browser, url: string, name: string): Promise<ChatPage> {
  const page = await openChromiumPage(browser, url, name);
  await page.eval(PAGE_PROBE);
  return page;
}

/** Waits for the next call on `page` that has decoded a frame and was not seen before. */
async function nextTiming(page: ChatPage, seen: Set<string>): Promise<Timing> {
  let found: Timing | null = null;
  await until(async () => {
    const calls = await page.eval<Record<string, { matchedAt: number; connectedAt: number | null; firstFrameAt: number | null; presentedAt: number | null }>>('window.__bench.calls');
    for (const [id, c] of Object.entries(calls)) {
      if (seen.has(id) || c.firstFrameAt === null || c.connectedAt === null || c.presentedAt === null) continue;
      seen.add(id);
      found = { connectMs: c.connectedAt - c.matchedAt, firstFrameMs: c.firstFrameAt - c.matchedAt, presentedMs: c.presentedAt - c.matchedAt };
      return true;
    }
    return false;
  }, 30_000, `${page.name}: a call that decodes a frame`, 50);
  return found!;
}

/** utime + stime of a process, seconds (/proc/PID/stat fields 14 and 15). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function summarize(name: string, t: Timing[]): (string | number)[] {
  const q = (f: (x: Timing) => number) => [quantile(t.map(f), 0.5), quantile(t.map(f), 0.95)];
  return [name, String(t.length), ...q((x) => x.connectMs), ...q((x) => x.presentedMs), ...q((x) => x.firstFrameMs)];
}

async function main(): Promise<void> {
  const web = await buildWebClient();
  const server = await startServer({ webRoot: web.dir, rematchCooldownMs: 0, nextsPerMinute: 1000, messagesPerSecond: 500, screening: SCREENING });
  const browser = await launchChromium();
  const pages: ChatPage[] = [];
  let cli: ChildProcess | null = null;
  try {
    const receiver = await openReceiver(browser, server.url, 'receiver');
    pages.push(receiver);
    const seen = new Set<string>();

    // ---- CLI -> Chromium
    log(`CLI -> Chromium: ${CALLS} calls (${CODEC} ${WIDTH}x${HEIGHT}@${FPS})`);
    await startIn(receiver, 'tamil');
    await waitForStatus(receiver, /position 1/, 15_000, 'receiver waits');
    cli = spawn(process.execPath, [CLI_BIN, 'connect', '--json', '--server', server.url, '--room', 'tamil',
      '--codec', CODEC, '--width', WIDTH, '--height', HEIGHT, '--fps', FPS, '--no-audio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let cliOut = '';
    cli.stdout!.on('data', (d) => { cliOut += d; });
    const cliTimes: Timing[] = [];
    for (let i = 0; i < CALLS; i++) {
      cliTimes.push(await nextTiming(receiver, seen));
      if (i < CALLS - 1) await receiver.click('next');
    }
    // CPU per minute of streaming: the last call stays up for CPU_SECONDS.
    const pid = cli.pid!;
    const kids = childrenOf(pid);
    const before = { node: cpuSeconds(pid), ffmpeg: kids.reduce((n, k) => n + cpuSeconds(k), 0), at: Date.now() };
    log(`measuring CLI CPU for ${CPU_SECONDS} s of streaming`);
    await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
    const minutes = (Date.now() - before.at) / 60_000;
    const nodeCpu = (cpuSeconds(pid) - before.node) / minutes;
    const ffmpegCpu = (kids.reduce((n, k) => n + cpuSeconds(k), 0) - before.ffmpeg) / minutes;
    cli.stdin!.write('/quit\n');
    await stop(cli);
    cli = null;
    if (!cliOut.includes('"event":"connected"')) throw new Error('the CLI peer never reported connected');
    await until(async () => /left|Next/i.test(await receiver.text('status')), 15_000, 'receiver sees the CLI leave', 50);

    // ---- Chromium -> Chromium
    log(`Chromium -> Chromium: ${CALLS} calls`);
    const caller = await openChromiumPage(browser, server.url, 'caller');
    pages.push(caller);
    await receiver.click('next');
    await waitForStatus(receiver, /position 1/, 15_000, 'receiver waits again');
    await startIn(caller, 'tamil');
    const pageTimes: Timing[] = [];
    for (let i = 0; i < CALLS; i++) {
      pageTimes.push(await nextTiming(receiver, seen));
      if (i < CALLS - 1) {
        await receiver.click('next');
        await waitForStatus(caller, /left/i, 15_000, 'caller sees the receiver press Next');
        await caller.click('next');
      }
    }

    const a = summarize('CLI -> Chromium', cliTimes);
    const b = summarize('Chromium -> Chromium', pageTimes);
    const ratio = ['ratio CLI / Chromium', '', ...[2, 3, 4, 5, 6, 7].map((i) => (a[i] as number) / (b[i] as number))];
    process.stdout.write('\n' + table([
      ['scenario (ms from matched)', 'calls', 'connected p50', 'connected p95', 'first frame p50', 'first frame p95', 'stats poll p50', 'stats poll p95'],
      a, b, ratio,
    ]) + '\n\n');
    process.stdout.write(table([
      [`CLI peer CPU, ${CODEC} ${WIDTH}x${HEIGHT}@${FPS}, no audio`, 'CPU s / min'],
      ['node (werift, fan-out)', nodeCpu],
      ['ffmpeg encoder', ffmpegCpu],
      ['total', nodeCpu + ffmpegCpu],
    ]) + '\n\n');
    const ok = (ratio[2] as number) <= 1.2 && (ratio[4] as number) <= 1.2;
    process.stdout.write(`target: CLI median connected and first frame <= 1.2x Chromium: ${ok ? 'met' : 'NOT met'}\n`);
  } finally {
    if (cli) await stop(cli);
    for (const p of pages) await p.close();
    await browser.close();
    await server.close();
    web.remove();
  }
}

await main();
