/**
 * Real browsers for the browser-client tests: Debian's chromium driven by playwright-core and
 * Debian's firefox-esr driven by puppeteer-core over WebDriver BiDi, both headless with a fake
 * camera and microphone. A small {@link ChatPage} adapter gives both the same few verbs, so a
 * test reads the same whichever browser it drives.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium as playwrightChromium, type Browser as PwBrowser, type BrowserContext, type Page as PwPage } from 'playwright-core';
import puppeteer, { type Browser as PpBrowser, type Page as PpPage } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { until, withTimeout } from './deadline.js';
import { startServer } from './server.js';

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
const CHROMIUM_PATH = process.env.CHATZYO_CHROMIUM ?? '/usr/bin/chromium';
const FIREFOX_PATH = process.env.CHATZYO_FIREFOX ?? '/usr/bin/firefox-esr';
/** Where screenshots go (ignored by git). */
const RESULTS_DIR = path.join(ROOT, 'test-results');

function requireExecutable(file: string, pkg: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: install the Debian package ${pkg} (scripts/ensure-test-deps.js does it as root)`);
  }
}

/**
 * Bundles the current src/web into a fresh temporary directory (the same esbuild step as
 * `npm run build`), so the tests always drive the source under test, never a stale dist/.
 * Returns the directory and a function that removes it. Under `npm run test:media`, which
 * bundles the source once before its files run and names that directory in
 * CHATZYO_TEST_WEB_DIR, every file serves that one bundle (about 2.5 s a file on the 2-core CI
 * box), and only test-media removes it.
 */
export async function buildWebClient(): Promise<{ dir: string; remove(): void }> {
  const shared = process.env.CHATZYO_TEST_WEB_DIR;
  if (shared) {
    requireBundle(shared);
    return { dir: shared, remove: () => {} };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-web-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/build-web.js'), dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', resolve)), 60_000, 'bundling src/web with esbuild');
  if (code !== 0) throw new Error(`scripts/build-web.js failed (${code}):\n${out}`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fails clearly when CHATZYO_TEST_WEB_DIR names no bundle (test-media removed it, or a typo). */
function requireBundle(dir: string): void {
  try {
    accessSync(path.join(dir, 'app.js'), constants.R_OK);
  } catch {
    throw new Error(`CHATZYO_TEST_WEB_DIR=${dir} holds no bundled client (app.js): unset it, and each file bundles src/web itself`);
  }
}

/** Chromium flags: headless, quiet, fake camera and microphone granted without a prompt. */
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream',
  // Under vitest the fake camera runs at 15 fps, not 30: each page encodes and decodes half the
  // frames, and the browser files of test:media took 12% less time on the 2-core box (168 s ->
  // 148 s, 4 files). The benchmarks (bench:start's first frame, say) keep Chromium's 30.
  process.env.VITEST ? '--use-fake-device-for-media-stream=fps=15' : '--use-fake-device-for-media-stream',
  // Pages in the background must not have their timers throttled: both ends of a call are "background" to each other.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];

/** Launches Debian's chromium with playwright-core. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<PwBrowser> {
  requireExecutable(CHROMIUM_PATH, 'chromium');
  return withTimeout(playwrightChromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs], headless: true }), 30_000, 'chromium launch');
}

/**
 * Firefox prefs: fake media without a permission prompt, autoplay allowed, and loopback ICE
 * (without it Firefox will not use a TURN server on 127.0.0.1, as the coturn of the tests is).
 * Host addresses are not hidden behind mDNS names while the page holds camera permission, so
 * `media.peerconnection.ice.obfuscate_host_addresses` can stay as it is (as can Chromium's
 * WebRtcHideLocalIpsWithMdns, for the same reason).
 */
const FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.peerconnection.ice.loopback': true,
};

/**
 * Launches Debian's firefox-esr with puppeteer-core over WebDriver BiDi. `acceptInsecureCerts`:
 * accept a self-signed certificate (a test's own TLS proxy).
 */
export async function launchFirefox(opts: { acceptInsecureCerts?: boolean } = {}): Promise<PpBrowser> {
  requireExecutable(FIREFOX_PATH, 'firefox-esr');
  return withTimeout(puppeteer.launch({
    browser: 'firefox', protocol: 'webDriverBiDi', executablePath: FIREFOX_PATH, headless: true, extraPrefsFirefox: FIREFOX_PREFS,
    ...(opts.acceptInsecureCerts ? { acceptInsecureCerts: true } : {}),
  }), 60_000, 'firefox-esr launch');
}

/** The verbs the tests need, the same for both drivers. Elements are named by `data-testid`. */
export interface ChatPage {
  readonly name: string;
  goto(url: string): Promise<void>;
  click(testId: string): Promise<void>;
  fill(testId: string, text: string): Promise<void>;
  select(testId: string, value: string): Promise<void>;
  check(testId: string): Promise<void>;
  /** Text content of an element. */
  text(testId: string): Promise<string>;
  /** Value of an input. */
  value(testId: string): Promise<string>;
  /** Evaluates a JavaScript expression in the page (awaiting a promise result). */
  eval<T>(expression: string): Promise<T>;
  screenshot(file: string): Promise<void>;
  /** Page errors and console errors seen so far. */
  readonly errors: string[];
  /** Text of WebSocket frames the page sent (Chromium only; empty under Firefox). */
  readonly wsSent: string[];
  /** Text of WebSocket frames the page received (Chromium only; empty under Firefox). */
  readonly wsReceived: string[];
  close(): Promise<void>;
}

const sel = (testId: string) => `[data-testid="${testId}"]`;
const STEP_MS = 10_000;

/**
 * Run before the page's own scripts in the pages these helpers open: the person confirmed they
 * are 18 or older on this device before (src/web/age-gate.ts), so Start starts at once. The
 * gate itself is tested with pages of their own (test/browser/safety.test.ts).
 */
export const ADULT_CONFIRMED = "try { localStorage.setItem('chatzyo.adult', 'confirmed'); } catch {}";

class PlaywrightChatPage implements ChatPage {
  readonly errors: string[] = [];
  readonly wsSent: string[] = [];
  readonly wsReceived: string[] = [];
  constructor(readonly name: string, private readonly context: BrowserContext, private readonly page: PwPage) {
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (e) => this.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') this.errors.push(`console: ${m.text()}`); });
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => { if (typeof f.payload === 'string') this.wsSent.push(f.payload); });
      ws.on('framereceived', (f) => { if (typeof f.payload === 'string') this.wsReceived.push(f.payload); });
    });
  }
  async goto(url: string) { await this.page.goto(url, { waitUntil: 'load' }); }
  async click(id: string) { await this.page.locator(sel(id)).click(); }
  async fill(id: string, text: string) { await this.page.locator(sel(id)).fill(text); }
  async select(id: string, value: string) {
    await until(() => this.page.locator(`${sel(id)} option[value="${value}"]`).count().then((n) => n > 0), STEP_MS, `${this.name}: ${id} offers "${value}"`);
    await this.page.locator(sel(id)).selectOption(value);
  }
  async check(id: string) { await this.page.locator(sel(id)).check(); }
  async text(id: string) { return (await this.page.locator(sel(id)).textContent()) ?? ''; }
  async value(id: string) { return this.page.locator(sel(id)).inputValue(); }
  async eval<T>(expression: string) { return (await this.page.evaluate(expression)) as T; }
  async screenshot(file: string) { await this.page.screenshot({ path: file, fullPage: true }); }
  async close() { await this.context.close().catch(() => {}); }
}

class PuppeteerChatPage implements ChatPage {
  readonly errors: string[] = [];
  readonly wsSent: string[] = [];
  readonly wsReceived: string[] = [];
  constructor(readonly name: string, private readonly page: PpPage) {
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (e) => this.errors.push(`pageerror: ${(e as Error).message}`));
    page.on('console', (m) => { if (m.type() === 'error') this.errors.push(`console: ${m.text()}`); });
  }
  async goto(url: string) { await this.page.goto(url, { waitUntil: 'load' }); }
  async click(id: string) {
    await this.#enabled(id);
    await this.page.locator(sel(id)).click();
  }
  async fill(id: string, text: string) {
    await this.#enabled(id);
    await this.page.locator(sel(id)).fill(text);
  }
  async select(id: string, value: string) {
    await until(async () => (await this.page.$$(`${sel(id)} option[value="${value}"]`)).length > 0, STEP_MS, `${this.name}: ${id} offers "${value}"`);
    await this.page.select(sel(id), value);
  }
  async check(id: string) {
    await this.#enabled(id);
    if (!(await this.eval<boolean>(`document.querySelector('${sel(id)}').checked`))) await this.page.locator(sel(id)).click();
  }
  async text(id: string) { return this.eval<string>(`document.querySelector('${sel(id)}')?.textContent ?? ''`); }
  async value(id: string) { return this.eval<string>(`document.querySelector('${sel(id)}')?.value ?? ''`); }
  async eval<T>(expression: string) { return (await this.page.evaluate(expression)) as T; }
  async screenshot(file: string) { await this.page.screenshot({ path: file as `${string}.png`, fullPage: true }); }
  async close() { await this.page.close().catch(() => {}); }
  async #enabled(id: string) {
    await until(() => this.eval<boolean>(`(() => { const e = document.querySelector('${sel(id)}'); return !!e && !e.disabled; })()`),
      STEP_MS, `${this.name}: ${id} is enabled`, 50);
  }
}

/**
 * Opens the client at `url` in a fresh Chromium context (its own camera grant and storage).
 * `ignoreHTTPSErrors`: accept a self-signed certificate (a test's own TLS proxy).
 */
export async function openChromiumPage(browser: PwBrowser, url: string, name: string, opts: { ignoreHTTPSErrors?: boolean } = {}): Promise<ChatPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...(opts.ignoreHTTPSErrors ? { ignoreHTTPSErrors: true } : {}) });
  await context.addInitScript({ content: ADULT_CONFIRMED });
  const page = new PlaywrightChatPage(name, context, await context.newPage());
  await page.goto(url);
  return page;
}

/**
 * A raw playwright page of its own context (camera grant, storage, the browser's language
 * `locale`), for tests that drive the viewport, keyboard or DevTools themselves; closed with the
 * rig's pages. `eval` lets the page-check helpers (page-checks.ts) use it like a ChatPage.
 */
export async function openRawChromiumPage(
  rig: { readonly browser: PwBrowser; readonly pages: ChatPage[] }, url: string,
  opts: { locale?: string; viewport?: { width: number; height: number } } = {},
): Promise<PwPage & { eval<T>(expression: string): Promise<T> }> {
  const context = await rig.browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 }, locale: opts.locale ?? 'en-US' });
  rig.pages.push({ name: `raw ${url}`, close: () => context.close() } as unknown as ChatPage);
  await context.addInitScript({ content: ADULT_CONFIRMED });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  await page.goto(url);
  return Object.assign(page, { eval: <T>(e: string) => page.evaluate(e) as Promise<T> });
}

/** Opens the client at `url` in a new Firefox tab. */
export async function openFirefoxPage(browser: PpBrowser, url: string, name: string): Promise<ChatPage> {
  const p = await browser.newPage();
  await p.evaluateOnNewDocument(ADULT_CONFIRMED);
  await p.setViewport({ width: 1100, height: 800 });
  const page = new PuppeteerChatPage(name, p);
  await page.goto(url);
  return page;
}

/** What the rig helpers below need of {@link useBrowserRig}'s fixture. */
interface ChromiumRig { readonly browser: PwBrowser; readonly server: SignalServer; readonly pages: ChatPage[] }

/** A Chromium page on the rig's server, closed with the rig's pages. */
export async function openRigPage(rig: ChromiumRig, name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  rig.pages.push(p);
  return p;
}

/** Pages A and B of the rig in a call in `hub` (A waits first, so A is the answerer). */
export async function pairRigPages(rig: ChromiumRig, hub: string): Promise<[ChatPage, ChatPage]> {
  const [a, b] = await Promise.all([openRigPage(rig, 'A'), openRigPage(rig, 'B')]);
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 10_000, 'A queued');
  await startIn(b, hub);
  await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
  return [a, b];
}

// ------------------------------------------------------------ steps shared by the tests

/**
 * Polls `read` until `ok` holds; on timeout the message names the last value read (which a
 * message built before polling could not).
 */
export async function pollUntil<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms: number, what: (last: T | undefined) => string, everyMs = 50): Promise<T> {
  let last: T | undefined;
  try {
    await until(async () => ok((last = await read())), ms, 'poll', everyMs);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timeout after')) throw new Error(`timeout after ${ms} ms: ${what(last)}`);
    throw err;
  }
  return last as T;
}

/** Waits until the status line matches `re`. */
export async function waitForStatus(page: ChatPage, re: RegExp, ms: number, what: string): Promise<string> {
  return pollUntil(() => page.text('status'), (t) => re.test(t), ms, (last) => `${page.name}: ${what} (status: ${JSON.stringify(last)})`);
}

/** `connected` as a word (so "disconnected" does not count). */
export const CONNECTED = /\bconnected\b/;

/** Picks a hub and presses Start; waits for the client to be welcomed first. */
export async function startIn(page: ChatPage, hub: string, opts: { interests?: string; hideIp?: boolean } = {}): Promise<void> {
  await page.select('hub-select', hub);
  if (opts.interests) await page.fill('interests', opts.interests);
  if (opts.hideIp) await page.check('hide-ip');
  await page.click('start');
}

/** Decoding progress of the partner's video, from `getStats()` inbound-rtp. */
export interface VideoIn {
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
}

/** The inbound video of the page's current call (zeros when there is none yet). */
async function inboundVideo(page: ChatPage): Promise<VideoIn> {
  const stats = await page.eval<Record<string, unknown>[]>('window.__chatzyo.stats()');
  const v = stats.find((s) => s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video'));
  return { framesDecoded: Number(v?.framesDecoded ?? 0), frameWidth: Number(v?.frameWidth ?? 0), frameHeight: Number(v?.frameHeight ?? 0) };
}

/** Waits until the page has decoded at least `frames` frames of a non-empty video from its partner. */
export async function waitForVideo(page: ChatPage, frames: number, ms: number): Promise<VideoIn> {
  return pollUntil(() => inboundVideo(page), (v) => v.framesDecoded >= frames && v.frameWidth > 0 && v.frameHeight > 0, ms,
    (last) => `${page.name}: decode ${frames} frames of the partner's video (have ${JSON.stringify(last)})`, 100);
}

/** The candidate types of the page's selected ICE candidate pair. */
export async function selectedPair(page: ChatPage): Promise<{ local: string; remote: string } | null> {
  const pair = await selectedPairAddresses(page);
  return pair && { local: pair.local, remote: pair.remote };
}

/**
 * The selected candidate pair's types and each end's transport address (`address:port`): a
 * remote candidate the page learned from the partner's check before the partner's own
 * candidate came by signaling is `prflx`, and its address says what it is.
 */
export async function selectedPairAddresses(page: ChatPage): Promise<{ local: string; remote: string; localAddress: string; remoteAddress: string } | null> {
  const stats = await page.eval<Record<string, unknown>[]>('window.__chatzyo.stats()');
  const byId = new Map(stats.map((s) => [s.id as string, s]));
  const transport = stats.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
  const pair = (transport && byId.get(transport.selectedCandidatePairId as string))
    ?? stats.find((s) => s.type === 'candidate-pair' && (s.selected === true || (s.nominated === true && s.state === 'succeeded')));
  if (!pair) return null;
  const local = byId.get(pair.localCandidateId as string);
  const remote = byId.get(pair.remoteCandidateId as string);
  const at = (c: Record<string, unknown>) => `${String(c.address ?? c.ip)}:${String(c.port)}`;
  return local && remote ? { local: String(local.candidateType), remote: String(remote.candidateType), localAddress: at(local), remoteAddress: at(remote) } : null;
}

/** Saves a screenshot under test-results/ for a person to look at. */
export async function saveScreenshot(page: ChatPage, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.png`);
  await withTimeout(page.screenshot(file), 15_000, `${page.name}: screenshot ${name}`);
  return file;
}

/** Closes pages, ignoring ones already gone. */
export async function closeAll(pages: ChatPage[]): Promise<void> {
  await Promise.all(pages.splice(0).map((p) => withTimeout(p.close(), 10_000, `${p.name}: close`).catch(() => {})));
}

/**
 * The fixture most browser test files share: a fresh build of the web client (test:media's one
 * bundle, {@link buildWebClient}), a server serving
 * it on port 0 and one browser, started in beforeAll (each kept as soon as it exists, so a
 * failure to start one still cleans up the other), plus the pages a test opens, closed after
 * each test (`closePages: 'each'`) or after the file. Registered with vitest's hooks.
 */
export function useBrowserRig<B extends { close(): Promise<void> }>(
  launch: () => Promise<B>, closePages: 'each' | 'all' = 'each',
): { readonly browser: B; readonly server: SignalServer; readonly pages: ChatPage[] } {
  let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
  let browser: B | undefined;
  let server: SignalServer | undefined;
  const pages: ChatPage[] = [];
  beforeAll(async () => {
    // Screening off (`--screening off`): the model costs each page seconds of CPU to load and a
    // share of a core to run, which tests of other features on a 2-core machine should not pay;
    // test/browser/safety.test.ts screens. The browser starts while the client is bundled.
    // Both settle before a failure is thrown, so afterAll closes whatever did start.
    const started = await Promise.allSettled([
      launch().then((b) => { browser = b; }),
      buildWebClient().then((w) => { web = w; return startServer({ webRoot: w.dir, screening: 'off' }); }).then((s) => { server = s; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
  });
  if (closePages === 'each') afterEach(() => closeAll(pages));
  afterAll(async () => {
    await closeAll(pages);
    await browser?.close();
    await server?.close();
    web?.remove();
  });
  return { get browser() { return browser!; }, get server() { return server!; }, pages };
}
