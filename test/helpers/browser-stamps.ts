/**
 * Node side of the browser stamp helpers: a Chromium page whose camera is the stamped picture
 * of src/quality/stamp.ts (drawn in the page with the send time, see browser-stamps-page.ts),
 * whose peer connections are relay-only and, for the participant behind a profile, go through
 * an {@link ImpairmentRelay}; and a reader of the page's remote `<video>` whose frames become
 * the viewer numbers of src/quality/viewer-stats.ts (fps, freezes, glass-to-glass latency,
 * frames lost) plus the luma PSNR against the regenerated source frames.
 *
 * Browser and node run on one machine and both stamp and read with `Date.now()`: one clock.
 */
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { drawStampedFrame, unwrapStampTime } from '../../src/quality/stamp.js';
import { ViewerStats, type ViewerSummary } from '../../src/quality/viewer-stats.js';
import type { LabStampsConfig, PageFrame } from './browser-stamps-page.js';
import { ADULT_CONFIRMED } from './browsers.js';
import { withTimeout } from './deadline.js';

export type { PageFrame } from './browser-stamps-page.js';

/** The stamped camera's picture: the CLI's default size and rate (src/peer). */
export const STAMP_SOURCE = { width: 640, height: 480, fps: 15 } as const;

const PAGE_ENTRY = fileURLToPath(new URL('./browser-stamps-page.ts', import.meta.url));
let bundled: Promise<string> | null = null;

/** The page script as one IIFE (bundled once per process). */
function pageBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [PAGE_ENTRY], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'chrome110', logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text).catch((err: unknown) => { bundled = null; throw err; });
  return bundled;
}

/** Options of {@link openStampedPage}. */
export interface StampedPageOptions {
  /** Name used in error messages. */
  name: string;
  /** Replace the camera with the stamped picture (default true). */
  camera?: boolean;
  /** Relay-only ICE (default true: every lab participant uses TURN). */
  forceRelay?: boolean;
  /** The impairment relay this participant is behind (its TURN URL is rewritten there); null: clean. */
  relay?: { host: string; port: number } | null;
}

/** A Chromium page with the stamp helpers installed. */
export interface StampedPage {
  readonly name: string;
  readonly page: Page;
  /** Closes the page's context; idempotent. */
  close(): Promise<void>;
}

/**
 * Opens `url` in a fresh context of `browser` with the stamp helpers injected before the
 * page's own scripts (an init script is not subject to the page's Content-Security-Policy).
 */
export async function openStampedPage(browser: Browser, url: string, o: StampedPageOptions): Promise<StampedPage> {
  const config: LabStampsConfig = {
    camera: o.camera ?? true, forceRelay: o.forceRelay ?? true, relay: o.relay ?? null,
    width: STAMP_SOURCE.width, height: STAMP_SOURCE.height, fps: STAMP_SOURCE.fps,
  };
  const script = `${ADULT_CONFIRMED}\nglobalThis.__labStampsConfig = ${JSON.stringify(config)};\n${await pageBundle()}`;
  let context: BrowserContext | null = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const close = async (): Promise<void> => {
    const c = context;
    context = null;
    await c?.close().catch(() => { /* already gone with its browser */ });
  };
  try {
    await context.addInitScript({ content: script });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(url, { waitUntil: 'load' });
    return { name: o.name, page, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Starts reading the stamps of the page's `<video data-testid=testId>` (the partner's video by default). */
export async function startStampReader(p: StampedPage, testId = 'remote-video'): Promise<void> {
  const ok = await p.page.evaluate((id) => globalThis.__labStamps?.startReader(id) ?? null, testId);
  if (ok === null) throw new Error(`${p.name}: the stamp helpers are not installed in the page`);
  if (!ok) throw new Error(`${p.name}: no <video data-testid="${testId}"> with requestVideoFrameCallback`);
}

/** Frames the page's reader saw since the last call (each frame is returned once). */
async function drainFrames(p: StampedPage): Promise<PageFrame[]> {
  return p.page.evaluate(() => globalThis.__labStamps?.drain() ?? []);
}

/** Frames the page's stamped camera drew so far. */
export async function framesSent(p: StampedPage): Promise<number> {
  return p.page.evaluate(() => globalThis.__labStamps?.framesSent ?? 0);
}

/** The TURN URLs the page's peer connections were given and used (to check the rewrite). */
export async function iceLog(p: StampedPage): Promise<{ original: string[]; used: string[] }[]> {
  return p.page.evaluate(() => globalThis.__labStamps?.iceLog ?? []);
}

/** Accumulates the frames a page read, drained every `everyMs` until stopped. */
export class FrameCollector {
  readonly frames: PageFrame[] = [];
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  #error: Error | null = null;

  constructor(private readonly page: StampedPage, everyMs = 250) {
    this.#timer = setInterval(() => { void this.#drain(); }, everyMs);
  }

  async #drain(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      this.frames.push(...await withTimeout(drainFrames(this.page), 10_000, `${this.page.name}: drain frames`));
    } catch (err) {
      this.#error ??= err as Error;
    } finally {
      this.#busy = false;
    }
  }

  /** Drains once more and stops polling; throws what a drain threw. */
  async stop(): Promise<PageFrame[]> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (!this.#error) {
      for (let i = 0; i < 100 && this.#busy; i++) await new Promise((r) => setTimeout(r, 20));
      await this.#drain();
    }
    if (this.#error) throw this.#error;
    return this.frames;
  }

  /** Stops polling without draining (cleanup); idempotent. */
  dispose(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** What a browser viewer saw over a window. */
export interface BrowserViewerSummary {
  /** Frames with a readable stamp, as src/quality/viewer-stats.ts counts them. */
  viewer: ViewerSummary;
  /** Readable frames per second over the whole window (0 when none). */
  windowFps: number;
  /** Frames the reader saw whose stamp did not read (smeared or half-decoded). */
  unreadable: number;
  /** Decoded size of the last frame seen (0 x 0 when none). */
  width: number;
  height: number;
  /**
   * Luma PSNR, dB, against the regenerated source frame: 10·log10(255² / mean MSE), the mean over
   * the readable frames at the source's size (ffmpeg's psnr filter averages the same way: the
   * PSNR of the mean MSE). Null when no frame had the source's size.
   */
  psnrDb: number | null;
  /** Readable frames that went into {@link psnrDb}. */
  psnrFrames: number;
}

/**
 * Summarizes the frames rendered in [fromMs, toMs] (`Date.now()` times). `loopFrames`: the
 * source is a file of that many frames played in a loop (a y4m fake camera): sequence numbers
 * are unwrapped modulo it, and the stamps carry no send time, so there is no latency.
 */
export function summarizeFrames(frames: readonly PageFrame[], fromMs: number, toMs: number, loopFrames?: number): BrowserViewerSummary {
  const stats = new ViewerStats();
  let prevSeq = -1;
  let count = 0;
  let unreadable = 0;
  let readable = 0;
  let mseSum = 0;
  let mseN = 0;
  let width = 0;
  let height = 0;
  for (const f of frames) {
    if (f.renderedAt < fromMs || f.renderedAt > toMs) continue;
    width = f.width;
    height = f.height;
    if (f.seq === null || f.timeLow === null) { unreadable++; continue; }
    if (loopFrames) {
      const step = prevSeq < 0 ? 0 : (f.seq - prevSeq + loopFrames) % loopFrames;
      if (prevSeq >= 0 && step === 0) continue;
      prevSeq = f.seq;
      count += step;
      readable++;
      stats.add({ seq: count & 0xffff, sentAt: f.renderedAt, renderedAt: f.renderedAt });
    } else {
      readable++;
      stats.add({ seq: f.seq, sentAt: unwrapStampTime(f.timeLow, f.renderedAt), renderedAt: f.renderedAt });
    }
    if (f.mse !== null) { mseSum += f.mse; mseN++; }
  }
  const span = toMs - fromMs;
  const psnrDb = mseN === 0 ? null : mseSum === 0 ? Infinity : 10 * Math.log10((255 * 255) / (mseSum / mseN));
  const viewer = stats.summary();
  if (loopFrames) viewer.latencyMs = null;
  return { viewer, windowFps: span > 0 ? (readable * 1000) / span : 0, unreadable, width, height, psnrDb, psnrFrames: mseN };
}

/**
 * Writes a y4m file of `frames` stamped frames (4:2:0, gray chroma) for Chromium's
 * `--use-file-for-fake-video-capture`, which plays it in a loop. The stamps carry the sequence
 * number only (send time 0: the file cannot know when Chromium will show a frame), so a call
 * from it measures fps, freezes, frames lost and PSNR, not latency. 640x480 costs 450 KiB a frame.
 */
export async function writeStampedY4m(file: string, o: { width: number; height: number; fps: number; frames: number }): Promise<void> {
  if (o.width % 2 || o.height % 2) throw new Error('y4m 4:2:0 needs an even width and height');
  const ySize = o.width * o.height;
  const frame = Buffer.alloc(6 + ySize + ySize / 2, 128);
  frame.write('FRAME\n', 0, 'latin1');
  const y = new Uint8Array(frame.buffer, frame.byteOffset + 6, ySize);
  const fh = await open(file, 'w');
  try {
    await fh.write(`YUV4MPEG2 W${o.width} H${o.height} F${o.fps}:1 Ip A1:1 C420jpeg\n`);
    for (let seq = 0; seq < o.frames; seq++) {
      drawStampedFrame(y, o.width, o.height, seq, 0);
      await fh.write(frame);
    }
  } finally {
    await fh.close();
  }
}
