/**
 * Calls measured as a viewer in Chromium sees them: the stamped picture (sequence number and
 * send time) goes out of a Chromium page's injected camera or out of the CLI's werift peer,
 * from behind a lab profile (impairment relay in front of a real coturn, relay-only ICE); a
 * clean Chromium page reads the stamps off its remote <video> (requestVideoFrameCallback ->
 * canvas -> luma). The numbers must move the right way: frames with readable stamps at a
 * near-source quality on a good link, and the 3g link's delay in the call's round trip and latency.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNetworkProfile } from '../../src/lab/index.js';
import { resolveFfmpeg } from '../../src/peer/index.js';
import { readStamp } from '../../src/quality/stamp.js';
import type { SignalServer } from '../../src/signal/server.js';
import { browserCallRow, measureBrowserCall, type BrowserCallMeasurement, type BrowserCallSender } from '../helpers/browser-call-quality.js';
import { summarizeFrames, writeStampedY4m } from '../helpers/browser-stamps.js';
import { buildWebClient, launchChromium } from '../helpers/browsers.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let turn: Coturn | undefined;
let server: SignalServer | undefined;
let browser: Browser | undefined;
let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
const ffmpeg = resolveFfmpeg().path;
const results = new Map<string, BrowserCallMeasurement>();

beforeAll(async () => {
  web = await buildWebClient();
  turn = await startCoturn();
  server = await startServer({ webRoot: web.dir, turnUrls: [turn.url], turnSecret: turn.secret });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await turn?.stop();
  web?.remove();
  console.log(Object.fromEntries([...results].map(([k, m]) => [k, { ...browserCallRow(m), frames: m.viewer.frames, sent: m.sentFrames, unreadable: m.unreadable, lost: m.viewer.framesLost, size: `${m.width}x${m.height}`, loss: m.lossPercent, rtx: m.rtx, rtt: m.rttMs }])));
});

/**
 * One call: 3 s measured after 1 s of warm-up. On a good link the warm-up also lasts until the
 * viewer presented 10 readable frames at the source's size in a row: in the busy lab lane a
 * just-launched Chromium once showed one frame in its first 4 s (the y4m file read, and once a
 * camera call that needed 8 retransmissions on a clean link), and the CLI sender, which starts on
 * the rung its first estimate fits and probes up, was once still at 480x360 when a 3 s window
 * closed. The window then measures the picture flowing at full size; how soon the CLI reaches its
 * best rung is test/lab/adaptation.test.ts's to check, on a quiet machine.
 */
async function measure(sender: BrowserCallSender, profileName: string): Promise<BrowserCallMeasurement> {
  const warmupFrames = profileName === 'good' ? 10 : 0;
  const m = await withTimeout(measureBrowserCall({
    server: server!.url, browser: browser!, sender, profile: parseNetworkProfile(profileName), ffmpegPath: ffmpeg, measureMs: 3000, warmupMs: 1000, warmupFrames, stepTimeoutMs: 30_000,
  }), 100_000, `${sender} -> chromium across ${profileName}`);
  results.set(`${sender} ${profileName}`, m);
  return m;
}

describe('summarizeFrames', () => {
  it('counts only the window, unwraps the stamp time and averages PSNR as the PSNR of the mean MSE', () => {
    const f = (renderedAt: number, seq: number | null, mse: number | null) => ({ renderedAt, seq, timeLow: seq === null ? null : renderedAt - 100, width: 640, height: 480, mse, presentedFrames: 0 });
    const s = summarizeFrames([f(900, 0, 0), f(1000, 1, 10), f(1100, 3, 30), f(1200, null, null), f(2500, 4, 0)], 1000, 2000);
    expect(s.viewer.frames).toBe(2);
    expect(s.viewer.framesLost).toBe(1);
    expect(s.unreadable).toBe(1);
    expect(s.viewer.latencyMs!.p50).toBe(100);
    expect(s.windowFps).toBe(2);
    expect(s.psnrDb).toBeCloseTo(10 * Math.log10((255 * 255) / 20), 6);
  });

  it('unwraps a looping file\'s sequence numbers and reports no latency for it', () => {
    const f = (renderedAt: number, seq: number) => ({ renderedAt, seq, timeLow: 0, width: 640, height: 480, mse: null, presentedFrames: 0 });
    const s = summarizeFrames([f(0, 148), f(100, 149), f(200, 0), f(300, 0), f(400, 2)], 0, 1000, 150);
    expect(s.viewer.frames).toBe(4);
    expect(s.viewer.framesLost).toBe(1);
    expect(s.viewer.latencyMs).toBeNull();
    expect(s.psnrDb).toBeNull();
  });
});

describe('writeStampedY4m', () => {
  it('writes a 4:2:0 y4m whose frames carry their sequence numbers', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-y4m-test-'));
    try {
      const file = path.join(dir, 's.y4m');
      await writeStampedY4m(file, { width: 160, height: 120, fps: 15, frames: 3 });
      const bytes = readFileSync(file);
      const header = 'YUV4MPEG2 W160 H120 F15:1 Ip A1:1 C420jpeg\n';
      expect(bytes.subarray(0, header.length).toString('latin1')).toBe(header);
      const frameSize = 6 + 160 * 120 * 1.5;
      expect(bytes.length).toBe(header.length + 3 * frameSize);
      const third = header.length + 2 * frameSize;
      expect(bytes.subarray(third, third + 6).toString('latin1')).toBe('FRAME\n');
      expect(readStamp(new Uint8Array(bytes.subarray(third + 6, third + 6 + 160 * 120)), 160, 120)).toEqual({ seq: 2, timeLow: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each<BrowserCallSender>(['chromium', 'cli'])('%s -> Chromium viewer on a good and a lossy link', (sender) => {
  it('good: stamps read at the source size, frames flow, latency is low', async () => {
    const m = await measure(sender, 'good');
    expect(m.viewer.frames, JSON.stringify(m)).toBeGreaterThan(5);
    expect(m.windowFps).toBeGreaterThan(1.5);
    // The message tells a sender that drew or sent few frames (sent: its camera's frames in the
    // window) from a viewer that stood still with frames on their way.
    expect(m.viewer.freezeRatio, JSON.stringify({ sent: m.sentFrames, viewer: m.viewer, lost: m.lossPercent, rtx: m.rtx, rtt: m.rttMs })).toBeLessThan(0.5);
    expect(m.viewer.latencyMs!.p50).toBeGreaterThan(0);
    expect(m.viewer.latencyMs!.p50).toBeLessThan(1000);
    expect(m.width * m.height).toBeGreaterThan(0);
    // On a good link the picture stays at the source size and is compared with the regenerated
    // source frame.
    expect(m.psnrFrames, JSON.stringify(m)).toBeGreaterThan(0);
    expect(m.psnrDb!).toBeGreaterThan(20);
    if (sender === 'chromium') {
      expect(m.sentFrames!).toBeGreaterThan(0);
      // The sender's page used only the impairment relay's TURN URL, never coturn's own.
      expect(m.senderIceUrls!.length).toBeGreaterThan(0);
      for (const url of m.senderIceUrls!) expect(url).toMatch(/^turn:127\.0\.0\.1:\d+\?transport=udp$/);
      expect(m.senderIceUrls!.some((u) => u.includes(`:${turn!.port}?`))).toBe(false);
    }
  }, 120_000);

  it('lossy-5: the viewer asks for what was lost and the resends come on the RTX stream (RFC 4588)', async () => {
    const m = await measure(sender, 'lossy-5');
    expect(m.viewer.frames, JSON.stringify(m)).toBeGreaterThan(0);
    expect(m.rtx.payloadType, 'RTX negotiated for the video').not.toBeNull();
    // Chromium counts a packet as retransmitted only when it came as RTX.
    expect(m.rtx.packetsReceived, JSON.stringify(m.rtx)).toBeGreaterThan(0);
  }, 120_000);
});

// The relay's delay, seen by the viewer, with the CLI sender (the Chromium sender's good call
// above shows that it takes the relay too).
describe('the CLI -> Chromium viewer across 3g', () => {
  const sender: BrowserCallSender = 'cli';
  it('3g: the call\'s round trip carries the profile\'s 250 ms, and the median frame takes at least its one-way half (the relay is really in the path)', async () => {
    const m = await measure(sender, '3g');
    // The good call's round trip, when it ran, only for the message: a retry may run this test alone.
    const good = results.get(`${sender} good`);
    expect(m.viewer.frames, JSON.stringify(m)).toBeGreaterThan(0);
    // Measured on the path, not against the good call's latency: a good call's viewer once held
    // 224 ms in its jitter buffer alone, more than this 3g call's whole latency less 100 ms. The
    // viewer's ICE checks cross the relay both ways; its jitter is spread evenly over +-sqrt(3)
    // times the profile's figure each way (src/lab/link.ts), so the round trip is at least
    // 250 - 2 * 34.6 ms. A frame crosses it once.
    const p = parseNetworkProfile('3g');
    const spread = Math.sqrt(3) * p.jitterMs;
    expect(m.rttMs, `round trip ${m.rttMs} ms under 3g, ${good?.rttMs ?? '-'} ms on good`).toBeGreaterThan(p.rttMs - 2 * spread);
    expect(m.viewer.latencyMs!.p50).toBeGreaterThan(p.rttMs / 2 - spread);
  }, 120_000);
});

describe('Chromium with a y4m fake camera -> Chromium viewer', () => {
  it('good: Chromium\'s own capture path delivers the stamped file (fps and PSNR, no latency)', async () => {
    const m = await measure('chromium-y4m', 'good');
    expect(m.viewer.frames, JSON.stringify(m)).toBeGreaterThan(5);
    expect(m.windowFps).toBeGreaterThan(1.5);
    expect(m.viewer.latencyMs).toBeNull();
    expect(m.psnrFrames, JSON.stringify(m)).toBeGreaterThan(0);
    expect(m.psnrDb!).toBeGreaterThan(20);
    expect(m.senderIceUrls!.length).toBeGreaterThan(0);
    expect(m.senderIceUrls!.every((u) => !u.includes(`:${turn!.port}?`))).toBe(true);
  }, 120_000);
});
