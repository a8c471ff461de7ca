/**
 * bench:screening — what the on-device screening of the stranger's video (issue 16) costs, in
 * real Chromium (Debian's, fake camera, flags of test/helpers/browsers.ts) through a real
 * server on loopback: page A screens, page B is its partner.
 *
 * - Model load: from the first Start to a warm classifier (the page's own `loadMs`).
 * - Time to clear: a new stranger's first frame to the shield's `clear`, with the model warm,
 *   over `--rounds` Nexts (the page's own `clearMs`; target < 1 s).
 * - Inference: ms per sampled frame (canvas draw + classify) while `clear`, one frame a second.
 * - CPU: the CPU time of the renderer processes (DevTools `SystemInfo.getProcessInfo`, both
 *   pages) over `--window` seconds of a call while A screens at 1 fps, against the baseline
 *   measured in the same call and run right after: the same pages once "Show anyway" stopped
 *   A's classifier (everything else, B's screening, decoding, rendering and A's black/frozen
 *   check, goes on). The difference is the cost of A's screening (target < 15% of a core).
 *   A's main-thread busy time (`TaskDuration`, wall clock, so inflated when other processes
 *   compete for the cores) is shown too.
 *
 * The page's CSP must allow WebAssembly ('wasm-unsafe-eval'); where it does not, the page falls
 * back to TF.js's CPU backend, and the table says which backend ran.
 *
 *   npm run bench:screening -- [--rounds 5] [--window 15]
 */
import type { CDPSession, Page } from 'playwright-core';
import type { SignalServer } from '../src/signal/server.js';
import { buildWebClient, launchChromium, openChromiumPage, pollUntil, type ChatPage } from '../test/helpers/browsers.js';
import { withTimeout } from '../test/helpers/deadline.js';
import { startServer } from '../test/helpers/server.js';
import { numberArg, quantile, table } from './lib.js';

const HUB = 'tamil';
const TARGET = { clearMs: 1000, coreShare: 0.15 };


interface Hook { state: string; backend: string | null; loadMs: number | null; clearMs: number[]; inferenceMs: number[] }

const hook = (p: ChatPage): Promise<Hook> => p.eval<Hook>(
  '(() => { const s = window.__chatzyo.screening; return { state: s.state, backend: s.backend, loadMs: s.loadMs, clearMs: s.clearMs, inferenceMs: s.inferenceMs }; })()');

const inCall = (p: ChatPage) => pollUntil(() => p.eval<string>('document.body.dataset.state'), (s) => s === 'in-call', 20_000, (s) => `${p.name} in a call (state ${s})`);

const shieldState = (p: ChatPage) => p.eval<string>('document.querySelector(\'[data-testid="remote-shield"]\').dataset.state');

/** Main-thread busy seconds of the page (DevTools Performance domain). */
async function taskSeconds(cdp: CDPSession): Promise<number> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
}

/** CPU seconds used so far by the browser's renderer processes. */
async function rendererCpuSeconds(browserCdp: CDPSession): Promise<number> {
  const { processInfo } = await browserCdp.send('SystemInfo.getProcessInfo') as { processInfo: { type: string; cpuTime: number }[] };
  return processInfo.filter((p) => p.type === 'renderer').reduce((sum, p) => sum + p.cpuTime, 0);
}

/** Over `seconds`: the share of one core the renderers used, and A's main thread was busy. */
async function coreShare(pageCdp: CDPSession, browserCdp: CDPSession, seconds: number): Promise<{ cpu: number; busy: number }> {
  const t0 = Date.now();
  const [busy0, cpu0] = [await taskSeconds(pageCdp), await rendererCpuSeconds(browserCdp)];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const [busy1, cpu1] = [await taskSeconds(pageCdp), await rendererCpuSeconds(browserCdp)];
  const wall = (Date.now() - t0) / 1000;
  return { cpu: (cpu1 - cpu0) / wall, busy: (busy1 - busy0) / wall };
}

async function main(): Promise<void> {
  const rounds = numberArg('rounds', 5);
  const windowS = numberArg('window', 15);
  const web = await buildWebClient();
  let server: SignalServer | undefined;
  const browser = await launchChromium();
  const pages: ChatPage[] = [];
  try {
    server = await startServer({ webRoot: web.dir, screening: 'blur-until-safe' });
    const a = await openChromiumPage(browser, server.url, 'A');
    const b = await openChromiumPage(browser, server.url, 'B');
    pages.push(a, b);
    for (const p of [a, b]) {
      await p.select('hub-select', HUB);
      await p.click('start');
    }
    await inCall(a);
    await pollUntil(() => hook(a), (h) => h.loadMs !== null, 60_000, (h) => `A's model loaded (${JSON.stringify(h)})`);
    await pollUntil(() => shieldState(a), (s) => s === 'clear', 60_000, (s) => `A's shield clears (${s})`);

    // New strangers with the model warm: A presses Next, B (left behind, idle) presses Next too.
    for (let i = 0; i < rounds; i++) {
      const before = (await hook(a)).clearMs.length;
      await a.click('next');
      await b.click('next');
      await inCall(a);
      await pollUntil(() => hook(a), (h) => h.clearMs.length > before, 20_000, (h) => `A clears stranger ${i + 1} (${JSON.stringify(h)})`);
    }
    const warm = (await hook(a)).clearMs.slice(1);

    const raw = (a as unknown as { page: Page }).page;
    const cdp = await raw.context().newCDPSession(raw);
    await cdp.send('Performance.enable');
    const browserCdp = await browser.newBrowserCDPSession();
    const screening = await coreShare(cdp, browserCdp, windowS);
    const h = await hook(a);
    // One frame a second: the window's frames are the last `windowS` (the list is bounded).
    const steady = h.inferenceMs.slice(-windowS);

    // Baseline: the same call, the classifier stopped by "Show anyway" (after an injected flag).
    await a.eval('window.__chatzyo.screening.inject({ drawing: 0, hentai: 0, neutral: 0.1, porn: 0.9, sexy: 0 })');
    await pollUntil(() => shieldState(a), (s) => s === 'flagged', 5_000, (s) => `A flags the injected frame (${s})`);
    await a.click('shield-show');
    const baseline = await coreShare(cdp, browserCdp, windowS);

    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const ms = (x: number) => `${Math.round(x)} ms`;
    console.log(table([
      ['measure', 'value', 'target'],
      ['backend', h.backend ?? 'none', 'wasm'],
      ['model load (first Start to warm classifier)', ms(h.loadMs ?? NaN), ''],
      [`time to clear, p50 of ${warm.length} new strangers (model warm)`, ms(quantile(warm, 0.5)), `< ${TARGET.clearMs} ms`],
      ['time to clear, max', ms(Math.max(...warm)), ''],
      [`inference per frame, p50 of ${steady.length}`, ms(quantile(steady, 0.5)), ''],
      ['inference per frame, p90', ms(quantile(steady, 0.9)), ''],
      [`renderer CPU, A screening at 1 fps (${windowS} s, both pages)`, pct(screening.cpu), ''],
      ['renderer CPU, same call, A\'s classifier stopped (baseline)', pct(baseline.cpu), ''],
      ['cost of screening (difference)', pct(screening.cpu - baseline.cpu), `< ${pct(TARGET.coreShare)} of a core`],
      ['ratio screening / baseline', (screening.cpu / baseline.cpu).toFixed(2), ''],
      ['A main thread busy (wall clock), screening / baseline', `${pct(screening.busy)} / ${pct(baseline.busy)}`, ''],
    ]));
  } finally {
    await Promise.all(pages.map((p) => withTimeout(p.close(), 10_000, `${p.name}: close`).catch(() => {})));
    await browser.close();
    await server?.close();
    web.remove();
  }
}

await main();
