/**
 * bench:connect — on loopback, how fast a call gets going with the headless peer compared to
 * a browser peer, measured in the same run by the same Chromium receiver:
 *   CLI -> Chromium:      `chatzyo connect` (werift + ffmpeg) calls a Chromium page
 *   Chromium -> Chromium: a second Chromium page calls the same page (the baseline)
 * For each call, the receiving page records (in-page clock) when `matched` arrived, when its
 * RTCPeerConnection reached "connected" (its connectionstatechange handler's time; a 5 ms poll
 * of the state before 2026-12-05, which the busy main thread below delayed by 20-60 ms), and
 * when the first video frame was shown: the
 * presentation time requestVideoFrameCallback reports for the remote <video>, which a busy main
 * thread does not delay (the page's on-device screening of a new stranger's first frames keeps
 * it busy for a few hundred ms; the getStats poll's first framesDecoded, which that delays, is
 * printed beside it as "stats poll"). Prints the median and p95 of N calls each, the
 * CLI/Chromium ratios (target: <= 1.2), and the CPU seconds per minute of streaming of the CLI
 * peer (its node process and its ffmpeg encoders). `--cli-bin` runs another build's CLI (a
 * before/after in one run of the same page).
 *
 * `--compare-bin OTHER` measures two CLI builds instead, against the same page: this one (or
 * `--cli-bin`) and OTHER, `--rounds` times each in turn (ABBA order, so a drift of the machine
 * falls on both), and prints each build's medians, the ratio of this build's to OTHER's with its
 * 90% bootstrap interval over the calls (src/quality/ratio.ts), and whether the calls show it
 * faster, slower, or no difference. A call that shows no frame within 30 s counts as the slowest.
 *
 *   npm run bench:connect -- [--calls 20] [--cpu-seconds 20] [--width 640 --height 480 --fps 15] [--codec vp8|h264]
 *     [--screening off|flag-only|blur-until-safe] [--cli-bin path/to/other/build/bin/chatzyo.js]
 *     [--compare-bin path/to/before/bin/chatzyo.js --rounds 2]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { startServer } from '../test/helpers/server.js';
import { buildWebClient, launchChromium, openChromiumPage, startIn, waitForStatus, type ChatPage } from '../test/helpers/browsers.js';
import { until } from '../test/helpers/deadline.js';
import { parentPid, processCpuMs } from '../src/peer/proc-stat.js';
import { medianRatioInterval } from '../src/quality/index.js';
import { seededRandom } from '../src/lab/index.js';
import { cleanUpOnStop, quantile, stop, table } from './lib.js';

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
/** Another build's `chatzyo` to compare this one with (no Chromium -> Chromium baseline then). */
const COMPARE_BIN = args.includes('--compare-bin') ? opt('compare-bin', '') : null;
const ROUNDS = Number(opt('rounds', '2'));
/** How long each call stays up after its first frame before the receiver presses Next, ms. */
const DWELL_MS = Number(opt('dwell', '0'));
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

/**
 * Runs in the receiving page: every 5 ms it looks at the client's debug hook; a new match id
 * is the moment `matched` was handled, then it waits for "connected" and the first decoded frame.
 */
const PAGE_PROBE = `(() => {
  const calls = {};
  window.__bench = { calls };
  let current = null;
  // The call's milestones (first time each is seen, in-page clock): the client's own marks, each
  // remote description and candidate as it is applied, and the ICE and DTLS transport states.
  const note = (name, at) => { const c = current && calls[current]; if (c && !(name in c.events)) c.events[name] = at ?? performance.now(); };
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.name.startsWith('chatzyo:')) note('mark ' + e.name.slice(8), e.startTime); }).observe({ entryTypes: ['mark'] });
  const proto = RTCPeerConnection.prototype;
  const setRemote = proto.setRemoteDescription;
  proto.setRemoteDescription = function (d, ...rest) { note('remote ' + (d && d.type)); return setRemote.call(this, d, ...rest).then((r) => { note('remote ' + (d && d.type) + ' applied'); return r; }); };
  const addCandidate = proto.addIceCandidate;
  proto.addIceCandidate = function (c, ...rest) { note(c && c.candidate ? 'first remote candidate' : 'end of remote candidates'); return addCandidate.call(this, c, ...rest); };
  const tick = async () => {
    const h = window.__chatzyo;
    if (h && h.matchId && h.matchId !== current) {
      current = h.matchId;
      const c0 = calls[current] = { matchedAt: performance.now(), connectedAt: null, firstFrameAt: null, presentedAt: null, events: {} };
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
      note('ice ' + pc.iceConnectionState);
      const dtls = pc.getReceivers()[0] && pc.getReceivers()[0].transport;
      if (dtls) note('dtls ' + dtls.state);
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

/** One call's times from `matched`, ms; `events` are its milestones (PAGE_PROBE). */
interface Timing { connectMs: number; firstFrameMs: number; presentedMs: number; events: Record<string, number> }

async function openReceiver(browser: Browser, url: string, name: string): Promise<ChatPage> {
  const page = await openChromiumPage(browser, url, name);
  await page.eval(PAGE_PROBE);
  return page;
}

/** Waits for the next call on `page` that has decoded a frame and was not seen before. */
async function nextTiming(page: ChatPage, seen: Set<string>): Promise<Timing> {
  let found: Timing | null = null;
  await until(async () => {
    const calls = await page.eval<Record<string, { matchedAt: number; connectedAt: number | null; firstFrameAt: number | null; presentedAt: number | null; events: Record<string, number> }>>('window.__bench.calls');
    for (const [id, c] of Object.entries(calls)) {
      if (seen.has(id) || c.firstFrameAt === null || c.connectedAt === null || c.presentedAt === null) continue;
      seen.add(id);
      const events = Object.fromEntries(Object.entries(c.events).map(([k, t]) => [k, t - c.matchedAt]));
      // Connected: when the client's connectionstatechange handler ran (its mark), not when the
      // 5 ms poll next saw it, which a busy main thread delays (the page screening a first frame).
      const connectedAt = c.events['mark connected'] ?? c.connectedAt;
      found = { connectMs: connectedAt - c.matchedAt, firstFrameMs: c.firstFrameAt - c.matchedAt, presentedMs: c.presentedAt - c.matchedAt, events };
      return true;
    }
    return false;
  }, 30_000, `${page.name}: a call that decodes a frame`, 50);
  return found!;
}

/** utime + stime of a process, seconds; 0 once it has exited. */
const cpuSecondsOf = (pid: number): number => (processCpuMs(pid) ?? 0) / 1000;

/** The processes whose parent is `pid`. */
const childrenOf = (pid: number): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d) && parentPid(Number(d)) === pid).map(Number);

function summarize(name: string, t: Timing[]): (string | number)[] {
  const q = (f: (x: Timing) => number) => [quantile(t.map(f), 0.5), quantile(t.map(f), 0.95)];
  return [name, String(t.length), ...q((x) => x.connectMs), ...q((x) => x.presentedMs), ...q((x) => x.firstFrameMs)];
}

/**
 * `--compare-bin`: this build (CLI_BIN) and COMPARE_BIN in ABBA rounds against the same page;
 * each build's medians and the ratio of this one's to the other's with its interval.
 */
async function compareBuilds(cliCalls: (bin: string) => Promise<{ times: Timing[] }>): Promise<void> {
  const ours: Timing[] = [];
  const theirs: Timing[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [CLI_BIN, COMPARE_BIN!] : [COMPARE_BIN!, CLI_BIN];
    for (const bin of order) (bin === CLI_BIN ? ours : theirs).push(...(await cliCalls(bin)).times);
  }
  const random = seededRandom(1);
  const row = (name: string, t: Timing[]) => summarize(name, t).slice(0, 6);
  const interval = (f: (x: Timing) => number) => {
    const i = medianRatioInterval(ours.map(f), theirs.map(f), { random })!;
    const says = i.high < 1 ? 'faster' : i.low > 1 ? 'slower' : 'no difference found';
    return [i.ratio, `${i.low.toFixed(2)}-${i.high.toFixed(2)}`, says];
  };
  process.stdout.write('\n' + table([
    ['CLI build (ms from matched)', 'calls', 'connected p50', 'connected p95', 'first frame p50', 'first frame p95'],
    row(`this (${path.relative(root, CLI_BIN)})`, ours),
    row(`other (${COMPARE_BIN})`, theirs),
  ]) + '\n\n');
  process.stdout.write(table([
    ['this / other, medians', 'ratio', '90% interval', 'the calls show this build'],
    ['connected', ...interval((x) => x.connectMs)],
    ['first frame shown', ...interval((x) => x.presentedMs)],
  ]) + '\n\n');
  // Where the time goes: each milestone's median from matched, in the order this build reaches them.
  const milestone = (t: Timing[], name: string) => {
    const v = t.flatMap((x) => (name in x.events ? [x.events[name]!] : []));
    return { p50: v.length ? quantile(v, 0.5) : NaN, calls: v.length };
  };
  const rows = [...new Set([...ours, ...theirs].flatMap((t) => Object.keys(t.events)))]
    .map((name) => ({ name, a: milestone(ours, name), b: milestone(theirs, name) }))
    .sort((x, y) => (x.a.p50 || x.b.p50) - (y.a.p50 || y.b.p50));
  process.stdout.write(table([
    ['page milestone (ms from matched)', 'this p50', 'other p50', 'this - other', 'calls (this / other)'],
    ...rows.map(({ name, a, b }) => [name, a.p50, b.p50, a.p50 - b.p50, `${a.calls} / ${b.calls}`]),
  ]) + '\n');
}

async function main(): Promise<void> {
  const pages: ChatPage[] = [];
  let cli: ChildProcess | null = null;
  let web: Awaited<ReturnType<typeof buildWebClient>> | null = null;
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let browser: Browser | null = null;
  // The same clean-up when the run ends and when a person stops it (SIGINT, SIGTERM): no CLI
  // peer, Chromium or server left behind.
  const cleanUp = cleanUpOnStop(async () => {
    if (cli) await stop(cli);
    for (const p of pages) await p.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
    web?.remove();
  });
  try {
    web = await buildWebClient();
    server = await startServer({ webRoot: web.dir, rematchCooldownMs: 0, nextsPerMinute: 1000, messagesPerSecond: 500, screening: SCREENING });
    browser = await launchChromium();
    const serverUrl = server.url;
    const receiver = await openReceiver(browser, serverUrl, 'receiver');
    pages.push(receiver);
    const seen = new Set<string>();

    let started = false;
    /**
     * `bin`'s CLI calls the receiver CALLS times (Next after each first frame); with `cpuSeconds`,
     * the last call then stays up that long for the CLI's CPU per minute of streaming.
     */
    const cliCalls = async (bin: string, cpuSeconds?: number): Promise<{ times: Timing[]; nodeCpu: number; ffmpegCpu: number }> => {
      log(`CLI -> Chromium: ${CALLS} calls (${CODEC} ${WIDTH}x${HEIGHT}@${FPS}, ${bin})`);
      if (!started) await startIn(receiver, 'tamil');
      started = true;
      await waitForStatus(receiver, /position 1/, 15_000, 'receiver waits');
      cli = spawn(process.execPath, [bin, 'connect', '--json', '--server', serverUrl, '--room', 'tamil',
        '--codec', CODEC, '--width', WIDTH, '--height', HEIGHT, '--fps', FPS, '--no-audio'], {
        // A session of its own, as from a terminal: it raises its session (src/peer/thread-priority.ts), not this bench's.
        stdio: ['pipe', 'pipe', 'inherit'], detached: true,
      });
      let cliOut = '';
      cli.stdout!.on('data', (d) => { cliOut += d; });
      const times: Timing[] = [];
      for (let i = 0; i < CALLS; i++) {
        try {
          times.push(await nextTiming(receiver, seen));
        } catch (err) {
          // Comparing builds: a call that never shows a frame counts as the slowest, and the next one goes on.
          if (COMPARE_BIN === null) throw err;
          log(`a call showed no frame within 30 s (${bin}): counted as the slowest`);
          times.push({ connectMs: Infinity, firstFrameMs: Infinity, presentedMs: Infinity, events: {} });
          for (const id of Object.keys(await receiver.eval<Record<string, unknown>>('window.__bench.calls'))) seen.add(id);
        }
        if (DWELL_MS > 0) await new Promise((r) => setTimeout(r, DWELL_MS));
        if (i < CALLS - 1) await receiver.click('next');
      }
      let nodeCpu = 0;
      let ffmpegCpu = 0;
      if (cpuSeconds) {
        const pid = cli.pid!;
        const kids = childrenOf(pid);
        const before = { node: cpuSecondsOf(pid), ffmpeg: kids.reduce((n, k) => n + cpuSecondsOf(k), 0), at: Date.now() };
        log(`measuring CLI CPU for ${cpuSeconds} s of streaming`);
        await new Promise((r) => setTimeout(r, cpuSeconds * 1000));
        const minutes = (Date.now() - before.at) / 60_000;
        nodeCpu = (cpuSecondsOf(pid) - before.node) / minutes;
        ffmpegCpu = (kids.reduce((n, k) => n + cpuSecondsOf(k), 0) - before.ffmpeg) / minutes;
      }
      cli.stdin!.write('/quit\n');
      await stop(cli);
      cli = null;
      if (!cliOut.includes('"event":"connected"')) throw new Error('the CLI peer never reported connected');
      await until(async () => /left|Next/i.test(await receiver.text('status')), 15_000, 'receiver sees the CLI leave', 50);
      await receiver.click('next');
      return { times, nodeCpu, ffmpegCpu };
    };

    if (COMPARE_BIN !== null) {
      await compareBuilds(cliCalls);
      return;
    }

    // ---- CLI -> Chromium
    const { times: cliTimes, nodeCpu, ffmpegCpu } = await cliCalls(CLI_BIN, CPU_SECONDS);

    // ---- Chromium -> Chromium
    log(`Chromium -> Chromium: ${CALLS} calls`);
    const caller = await openChromiumPage(browser, serverUrl, 'caller');
    pages.push(caller);
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
    await cleanUp();
  }
}

await main();
