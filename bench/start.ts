/**
 * bench:start — from the Start click to the first decoded frame of the partner's video, when a
 * partner is already waiting: a real server on loopback (port 0) with one demo bot (a werift
 * media bot replaying the test-pattern clip, `chatzyo serve --demo-bots 1`) waiting in the hub,
 * and real Chromium (Debian's, fake camera, flags of test/helpers/browsers.ts) whose camera
 * permission is already granted (--use-fake-ui-for-media-stream).
 *
 * Each run is a fresh load of the page (the load is not counted; the page connects its
 * WebSocket and is welcomed while it loads, before Start can be pressed), then, before Start:
 * the baseline (below), which also is the run's warm-up getUserMedia, so the camera permission
 * and the fake device are hot; then the bench waits until the bot waits alone in the hub, and
 * clicks Start. The page's own performance.mark() calls (src/web: 'chatzyo:start', 'camera',
 * 'landmarks', 'join', 'match', 'remote-offer', 'local-answer', 'ice-connected', 'connected')
 * and a requestVideoFrameCallback on the remote <video> ('chatzyo:first-frame', the first frame
 * presented) give where the time went, in the page's clock, from the Start click.
 *
 * Baseline, in the same page and run: two RTCPeerConnections in the page call each other (the
 * warm-up camera stream, candidates handed over directly): createOffer to the first frame
 * presented. Its ratio shows what chatzyo adds over the bare browser WebRTC set-up.
 *
 * `--no-nearby` unticks "Prefer strangers near me" before each Start (no landmark timing, so the
 * join goes as soon as the camera is ready), to show what that timing costs.
 *
 *   npm run bench:start -- [--runs 20] [--warmup 1] [--time-limit 300] [--no-nearby]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { demoBots, runServe, stopServe } from '../src/cli/serve.js';
import type { SignalServer } from '../src/signal/server.js';
import { buildWebClient, launchChromium, openChromiumPage, type ChatPage } from '../test/helpers/browsers.js';
import { until, withTimeout } from '../test/helpers/deadline.js';
import { numberArg, quantile, table } from './lib.js';

/** The hub the demo bot waits in (the server's first hub). */
const HUB = 'tamil';
/** Targets of the brief, ms from the Start click to the first decoded frame. */
const TARGET = { p50: 700, p95: 1500 };

/**
 * The phases, in the order a call goes through them. `mark` is the page's performance mark;
 * `after` the phases the step waits for (the latest of them present; none: the Start click).
 * Optional ones may be missing: the landmarks (none listed, or "Prefer strangers near me" off),
 * and the offer and answer when the page happens to be the offerer.
 */
export const PHASES = [
  { key: 'camera', mark: 'chatzyo:camera', label: 'camera ready (getUserMedia resolved)', after: [], optional: false },
  { key: 'landmarks', mark: 'chatzyo:landmarks', label: 'landmarks timed (nearby pairing)', after: [], optional: true },
  { key: 'join', mark: 'chatzyo:join', label: 'join sent', after: ['camera', 'landmarks'], optional: false },
  { key: 'match', mark: 'chatzyo:match', label: 'matched (server message handled)', after: ['join'], optional: false },
  { key: 'offer', mark: 'chatzyo:remote-offer', label: "partner's offer in", after: ['match'], optional: true },
  { key: 'answer', mark: 'chatzyo:local-answer', label: 'answer sent', after: ['offer'], optional: true },
  { key: 'ice', mark: 'chatzyo:ice-connected', label: 'ICE connected', after: ['match', 'answer'], optional: false },
  { key: 'dtls', mark: 'chatzyo:connected', label: 'DTLS connected (connectionState)', after: ['ice'], optional: false },
  // The connection-state event is a task Chromium queues after the handshake, and the frame's
  // mark is the compositor's presentation time: the two can cross by a few ms (seen: frame 244,
  // event 252). Media flows once ICE and DTLS are done, so the frame's step counts from ICE.
  { key: 'frame', mark: 'chatzyo:first-frame', label: 'first decoded frame (rVFC)', after: ['ice'], optional: false },
] as const;
type PhaseKey = (typeof PHASES)[number]['key'];

/** One measured run. Times are ms from the Start click, in the page's clock. */
interface StartRun {
  at: Partial<Record<PhaseKey, number>>;
  /** How long before the Start click the page's WebSocket opened (it opens while the page loads). */
  wsOpenBeforeStartMs: number;
  /** The warm-up getUserMedia of this page load (before Start, not counted). */
  warmupCameraMs: number;
  /** The in-page loopback call: ms from createOffer. */
  baseline: { iceMs: number; connectedMs: number; firstFrameMs: number };
  /** Size of the partner's first frame. */
  frame: { width: number; height: number };
}

/** What {@link runStartBench} measured. */
interface StartBenchResult {
  runs: StartRun[];
  failures: string[];
  /** The overall time limit cut the runs short. */
  timedOut: boolean;
  elapsedMs: number;
}

/** Options of {@link runStartBench}. */
interface StartBenchOptions {
  runs: number;
  /** Runs made and thrown away first (JIT, the bot's first call, caches). */
  warmup: number;
  /** Stops starting runs after this long, ms (the runs measured so far are reported). */
  timeLimitMs: number;
  /** Gives up after this many failed runs. */
  maxFailures?: number;
  /** Leave "Prefer strangers near me" on (the default, as a person finds the page); off: no landmark timing before the join. */
  preferNear?: boolean;
  log?: (line: string) => void;
}

/**
 * In the page, after it loads: the first frame presented in the remote <video> is marked
 * 'chatzyo:first-frame' (at its presentation time) and `window.__benchFrame` resolves with it.
 */
const WATCH_FIRST_FRAME = `(() => {
  const v = document.querySelector('[data-testid="remote-video"]');
  window.__benchFrame = new Promise((resolve) => {
    v.requestVideoFrameCallback((now, md) => {
      performance.mark('chatzyo:first-frame', { startTime: md.presentationTime });
      resolve({ width: md.width, height: md.height });
    });
  });
})()`;

/**
 * In the page, before Start: the warm-up getUserMedia (the client's own constraints, see
 * src/web/local-media.ts), then a loopback call between two peer connections of the page with
 * that stream, timed from createOffer to the first frame presented; everything is closed after.
 */
const BASELINE_CALL = `(async () => {
  const g0 = performance.now();
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30, max: 30 } },
  });
  const warmupCameraMs = performance.now() - g0;
  const a = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const b = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const t = {};
  a.onicecandidate = (e) => { if (e.candidate) b.addIceCandidate(e.candidate).catch(() => {}); };
  b.onicecandidate = (e) => { if (e.candidate) a.addIceCandidate(e.candidate).catch(() => {}); };
  b.addEventListener('iceconnectionstatechange', () => { if (b.iceConnectionState === 'connected' && t.ice === undefined) t.ice = performance.now(); });
  b.addEventListener('connectionstatechange', () => { if (b.connectionState === 'connected' && t.connected === undefined) t.connected = performance.now(); });
  const v = document.createElement('video');
  v.muted = true; v.autoplay = true; v.playsInline = true;
  v.style.cssText = 'position:fixed;left:0;top:0;width:160px;height:120px';
  document.body.append(v);
  const frame = new Promise((resolve) => v.requestVideoFrameCallback((now, md) => resolve(md.presentationTime)));
  b.ontrack = (e) => { if (e.track.kind === 'video') { v.srcObject = new MediaStream([e.track]); v.play().catch(() => {}); } };
  for (const track of stream.getTracks()) a.addTrack(track, stream);
  let timer;
  try {
    const t0 = performance.now();
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    const shown = await Promise.race([frame, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('baseline: no frame within 10 s')), 10000); })]);
    return { warmupCameraMs, iceMs: t.ice - t0, connectedMs: t.connected - t0, firstFrameMs: shown - t0 };
  } finally {
    clearTimeout(timer);
    a.close(); b.close(); v.remove();
    for (const track of stream.getTracks()) track.stop();
  }
})()`;

/** The page's chatzyo marks, first of each name, as startTime. */
const READ_MARKS = `(() => {
  const out = {};
  for (const e of performance.getEntriesByType('mark')) if (e.name.startsWith('chatzyo:') && !(e.name in out)) out[e.name] = e.startTime;
  return out;
})()`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the bot waits alone in {@link HUB} and nobody is in a call (the previous call is over). */
async function botWaiting(server: SignalServer, ms: number): Promise<void> {
  await until(async () => {
    const h = (await server.matchmaker.counts()).find((c) => c.name === HUB);
    return !!h && h.waiting === 1 && h.inCall === 0;
  }, ms, `the demo bot waits alone in ${HUB}`, 20);
}

/** One run on an already loaded page: baseline, wait for the bot, Start, first frame. */
async function measureOnce(page: ChatPage, server: SignalServer, timeoutMs: number, preferNear: boolean): Promise<StartRun> {
  // Start is enabled once the page is welcomed and knows the hubs.
  await until(() => page.eval<boolean>('!document.querySelector(\'[data-testid="start"]\').disabled'), timeoutMs, 'Start is enabled', 20);
  await page.select('hub-select', HUB);
  if (!preferNear && await page.eval<boolean>('document.querySelector(\'[data-testid="prefer-near"]\').checked')) await page.click('prefer-near');
  const base = await withTimeout(page.eval<{ warmupCameraMs: number; iceMs: number; connectedMs: number; firstFrameMs: number }>(BASELINE_CALL), timeoutMs, 'baseline loopback call');
  await page.eval(WATCH_FIRST_FRAME);
  await botWaiting(server, timeoutMs);
  // Let the baseline's teardown and the bot's re-queue settle before the click.
  await sleep(250);
  await page.click('start');
  const frame = await withTimeout(page.eval<{ width: number; height: number }>('window.__benchFrame'), timeoutMs, 'the first frame of the partner\'s video');
  // The DTLS mark's event can reach the page after the first frame is shown: read the marks once
  // every phase a call must pass through has its own.
  let marks: Record<string, number> = {};
  const required = PHASES.filter((p) => !p.optional).map((p) => p.mark);
  await until(async () => {
    marks = await page.eval<Record<string, number>>(READ_MARKS);
    return required.every((m) => marks[m] !== undefined);
  }, Math.min(timeoutMs, 5000), () => `every phase's mark after the first frame (missing: ${required.filter((m) => marks[m] === undefined).join(', ')})`, 20);
  const start = marks['chatzyo:start'];
  const wsOpen = marks['chatzyo:ws-open'];
  if (start === undefined) throw new Error('the page set no chatzyo:start mark');
  const at: Partial<Record<PhaseKey, number>> = {};
  for (const p of PHASES) {
    const t = marks[p.mark];
    if (t !== undefined) at[p.key] = t - start;
  }
  return {
    at, frame,
    wsOpenBeforeStartMs: wsOpen === undefined ? NaN : start - wsOpen,
    warmupCameraMs: base.warmupCameraMs,
    baseline: { iceMs: base.iceMs, connectedMs: base.connectedMs, firstFrameMs: base.firstFrameMs },
  };
}

/**
 * Runs the benchmark: server with one demo bot, Chromium, `warmup` + `runs` Start clicks (each
 * on a freshly loaded page), within `timeLimitMs`. Everything it started is stopped again.
 */
export async function runStartBench(o: StartBenchOptions): Promise<StartBenchResult> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const deadline = t0 + o.timeLimitMs;
  const maxFailures = o.maxFailures ?? 3;
  const sink = { write: (s: string) => { log(s.trimEnd()); return true; } } as unknown as NodeJS.WritableStream;
  const web = await buildWebClient();
  let server: SignalServer | null = null;
  let browser: Browser | null = null;
  let page: ChatPage | null = null;
  const runs: StartRun[] = [];
  const failures: string[] = [];
  let timedOut = false;
  try {
    [server, browser] = await Promise.all([
      runServe({ host: '127.0.0.1', port: 0, stunPort: 0, logLevel: 'silent', webRoot: web.dir, hubs: [HUB, 'global'], demoBots: 1, rematchCooldownMs: 0,
        // The phases of a call, not the screening model's first load (bench:screening measures that).
        screening: 'off' }, {}, sink, sink),
      launchChromium(),
    ]);
    const bots = demoBots(server);
    if (!bots) throw new Error('the demo bot did not start');
    await bots.untilWaiting(1, 30_000);
    const url = server.url;
    for (let i = 0; runs.length < o.runs; i++) {
      const left = deadline - performance.now();
      if (left <= 0) { timedOut = true; break; }
      const warm = i < o.warmup;
      try {
        // A fresh load each run (the first opens the page); leaving the last one ends its call.
        if (!page) page = await openChromiumPage(browser, url, 'start');
        else await page.goto(url);
        const run = await measureOnce(page, server, Math.min(20_000, left), o.preferNear ?? true);
        if (warm) log(`warm-up ${i + 1}: first frame at ${run.at.frame?.toFixed(0)} ms`);
        else {
          runs.push(run);
          log(`run ${runs.length}/${o.runs}: first frame at ${run.at.frame?.toFixed(0)} ms (baseline ${run.baseline.firstFrameMs.toFixed(0)} ms)`);
        }
      } catch (err) {
        const why = `run ${i + 1}: ${(err as Error).message}${page?.errors.length ? ` (page errors: ${page.errors.join('; ')})` : ''}`;
        failures.push(why);
        log(why);
        if (failures.length >= maxFailures) break;
        // Start over from a new page in a fresh context.
        await page?.close();
        page = null;
      }
    }
  } finally {
    await page?.close();
    await browser?.close();
    if (server) await withTimeout(stopServe(server), 15_000, 'stop the demo bot and the server').catch(() => {});
    web.remove();
  }
  return { runs, failures, timedOut, elapsedMs: performance.now() - t0 };
}

// ------------------------------------------------------------ report

/** The step of `key` in one run: its time minus the latest of the phases it waits for. */
function stepOf(run: StartRun, key: PhaseKey): number | undefined {
  const p = PHASES.find((x) => x.key === key)!;
  const t = run.at[key];
  if (t === undefined) return undefined;
  const before = (p.after as readonly PhaseKey[]).map((k) => run.at[k]).filter((x): x is number => x !== undefined);
  return t - (before.length ? Math.max(...before) : 0);
}

const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
const pq = (xs: number[]) => ({ p50: quantile(xs, 0.5), p95: quantile(xs, 0.95) });
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

function report(r: StartBenchResult, opts: StartBenchOptions): string {
  const runs = r.runs;
  const rows: (string | number)[][] = [['phase (ms from the Start click)', 'p50', 'p95', 'step p50', 'step p95', 'step from']];
  const ws = pq(runs.map((x) => x.wsOpenBeforeStartMs));
  rows.push([`WebSocket open + welcome (open ${Math.round(ws.p50)} ms before Start)`, 0, 0, 0, 0, 'already open']);
  for (const p of PHASES) {
    const at = defined(runs.map((x) => x.at[p.key]));
    if (!at.length) { rows.push([p.label, '-', '-', '-', '-', '']); continue; }
    const step = defined(runs.map((x) => stepOf(x, p.key)));
    const from = p.after.length ? p.after.join('/') : 'click';
    rows.push([`${p.label}${at.length < runs.length ? ` (${at.length} runs)` : ''}`, quantile(at, 0.5), quantile(at, 0.95), quantile(step, 0.5), quantile(step, 0.95), from]);
  }
  const total = pq(defined(runs.map((x) => x.at.frame)));
  const call = pq(defined(runs.map((x) => (x.at.frame ?? NaN) - (x.at.match ?? NaN))));
  const base = pq(runs.map((x) => x.baseline.firstFrameMs));
  const baseIce = pq(runs.map((x) => x.baseline.iceMs));
  const baseDtls = pq(runs.map((x) => x.baseline.connectedMs));
  const warmCam = pq(runs.map((x) => x.warmupCameraMs));
  const lines = [
    `bench:start  ${runs.length} runs (${opts.warmup} warm-up)${opts.preferNear === false ? ', "Prefer strangers near me" off' : ''}, ${r.failures.length} failed${r.timedOut ? ', cut short by the time limit' : ''}, ${(r.elapsedMs / 1000).toFixed(0)} s, node ${process.version}`,
    '',
    table(rows),
    '',
    table([
      ['baseline: in-page loopback call (ms from createOffer)', 'p50', 'p95'],
      ['ICE connected', baseIce.p50, baseIce.p95],
      ['DTLS connected', baseDtls.p50, baseDtls.p95],
      ['first decoded frame', base.p50, base.p95],
    ]),
    '',
    table([
      ['start to first frame', 'p50', 'p95'],
      ['chatzyo: Start click to first frame', total.p50, total.p95],
      ['chatzyo: matched to first frame', call.p50, call.p95],
      ['baseline: createOffer to first frame', base.p50, base.p95],
      ['ratio Start-to-frame / baseline', total.p50 / base.p50, total.p95 / base.p95],
      ['ratio matched-to-frame / baseline', call.p50 / base.p50, call.p95 / base.p95],
    ]),
    '',
    `target: p50 < ${TARGET.p50} ms: ${total.p50 < TARGET.p50 ? 'met' : 'NOT met'} (${Math.round(total.p50)}); p95 < ${TARGET.p95} ms: ${total.p95 < TARGET.p95 ? 'met' : 'NOT met'} (${Math.round(total.p95)})`,
    `camera permission granted by --use-fake-ui-for-media-stream; each page load made one warm-up getUserMedia before Start (p50 ${Math.round(warmCam.p50)} ms, not counted); the WebSocket opens while the page loads, so it costs Start nothing`,
    `partner: one demo bot (werift, ${runs[0] ? `${runs[0].frame.width}x${runs[0].frame.height}` : '?'} VP8 test-pattern clip), waiting in ${HUB} before each click`,
  ];
  for (const f of r.failures) lines.push(`failed: ${f}`);
  const phases: Record<string, { p50: number; p95: number }> = {};
  for (const p of PHASES) {
    const at = defined(runs.map((x) => x.at[p.key]));
    if (at.length) phases[p.key] = { p50: round1(quantile(at, 0.5)), p95: round1(quantile(at, 0.95)) };
  }
  lines.push(JSON.stringify({
    bench: 'start', runs: runs.length, failed: r.failures.length, preferNear: opts.preferNear ?? true,
    firstFrameMs: { p50: round1(total.p50), p95: round1(total.p95) }, target: TARGET,
    met: total.p50 < TARGET.p50 && total.p95 < TARGET.p95,
    phasesMs: phases,
    baselineMs: { p50: round1(base.p50), p95: round1(base.p95) },
    ratio: { p50: round2(total.p50 / base.p50), p95: round2(total.p95 / base.p95) },
    callRatio: { p50: round2(call.p50 / base.p50), p95: round2(call.p95 / base.p95) },
  }));
  return lines.join('\n');
}


async function main(): Promise<void> {
  const opts: StartBenchOptions = {
    runs: Math.max(1, Math.floor(numberArg('runs', 20, { zeroOk: true }))),
    warmup: Math.floor(numberArg('warmup', 1, { zeroOk: true })),
    timeLimitMs: numberArg('time-limit', 300, { zeroOk: true }) * 1000,
    preferNear: !process.argv.includes('--no-nearby'),
    log: (s) => process.stderr.write(`[bench] ${s}\n`),
  };
  const r = await runStartBench(opts);
  process.stdout.write(`\n${report(r, opts)}\n`);
  if (!r.runs.length) process.exitCode = 1;
}

// The CLI runs only when this file is executed, not when the test imports it.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
