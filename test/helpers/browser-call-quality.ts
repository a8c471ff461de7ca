/**
 * One call measured as a viewer in Chromium sees it (the browser columns of
 * `npm run bench:quality`): the sender, behind a lab profile (impairment relay in front of the
 * server's TURN, relay-only ICE), is either a Chromium page whose camera is the stamped picture
 * or a werift PeerSession sending the CLI's stamped video (as src/lab/call-quality.ts does); the
 * viewer is always a Chromium page on the clean side (relay-only through the same TURN, not
 * through the relay) that reads the stamps off its remote `<video>`.
 *
 * The numbers cover only the measured window (after the warm-up): fps, freezes, freeze ratio,
 * glass-to-glass p50/p95, frames lost, decoded size and luma PSNR.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { iceServersThroughRelay } from '../../src/lab/ice.js';
import { ImpairmentRelay } from '../../src/lab/relay.js';
import { ThreadedRelay } from '../../src/lab/threaded-relay.js';
import { SenderProcess } from '../../src/lab/sender-process.js';
import { labSenderOptions } from '../../src/lab/lab-sender.js';
import type { NetworkProfile } from '../../src/lab/profiles.js';
import { PeerSession } from '../../src/peer/index.js';
import { parseServerFrame, WS_PATH } from '../../src/protocol/index.js';
import { launchChromium } from './browsers.js';
import { unwrapStampTime } from '../../src/quality/stamp.js';
import { FrameCollector, framesSent, iceLog, openStampedPage, startStampReader, summarizeFrames, writeStampedY4m, STAMP_SOURCE, type BrowserViewerSummary, type StampedPage } from './browser-stamps.js';
import { until, withTimeout } from './deadline.js';
import { TestClient } from './ws-client.js';

/**
 * Who sends the stamped video from behind the profile: a Chromium page whose camera the page
 * draws (with send times), the CLI's werift peer, or a Chromium whose fake camera plays a y4m
 * file of stamped frames (Chromium's own capture path; sequence numbers only, no latency).
 */
export type BrowserCallSender = 'chromium' | 'cli' | 'chromium-y4m';

/** Options of {@link measureBrowserCall}. */
export interface MeasureBrowserCallOptions {
  /** Signaling server URL (http://host:port); it must hand out TURN and serve the web client at /. */
  server: string;
  profile: NetworkProfile;
  sender: BrowserCallSender;
  /** ffmpeg for the CLI sender (unused for a Chromium sender). */
  ffmpegPath: string;
  /** The CLI sender adapts with its ladder (default true, as `connect`); false: one fixed rendition. */
  adapt?: boolean;
  /** The CLI sender answers NACKs (default true); false: what retransmission buys is measured against it. */
  retransmit?: boolean;
  /** The CLI sender's FEC (PeerSession `fec`, default auto). */
  fec?: 'auto' | 'on' | 'off';
  /** A running Chromium (test/helpers/browsers.ts launchChromium); default: one launched and closed here. */
  browser?: Browser;
  /** Hub both join (default global). */
  hub?: string;
  /** Measured window after the warm-up, ms (default 8000). */
  measureMs?: number;
  /** From the first frame the viewer presents to the window's start, ms (default 2000). */
  warmupMs?: number;
  /**
   * The warm-up also lasts until the viewer has presented this many readable frames at the
   * source's size in a row (default 0): a window that must see the full picture flow does not
   * open on a sender still starting up, nor on a CLI sender still probing up to its best rung.
   */
  warmupFrames?: number;
  /** Each step's deadline, ms (default 30000). */
  stepTimeoutMs?: number;
  /**
   * Writes `${trace}-${profile}-${sender}.jsonl` for a look at why a call measured what it did:
   * the CLI sender's adaptation snapshot and the relay thread's lag every 250 ms from the first frame on, then every frame
   * the viewer presented (time, stamp number, glass-to-glass ms), the viewer's inbound-rtp
   * stats, and the measured window.
   */
  trace?: string;
  /**
   * Run the relay on a thread of its own ({@link ThreadedRelay}; under tsx or the compiled
   * code, as `bench:quality` runs): the werift sender's event loop then does not shape its link.
   */
  threadedRelay?: boolean;
  /**
   * Run the CLI sender in a process and session of its own ({@link SenderProcess}), as a real
   * `connect` runs: this process's stalls (the server, the browser driver) then do not time its
   * media, nor does this session's share of the CPUs.
   */
  senderProcess?: boolean;
}

/** What {@link measureBrowserCall} measured (see {@link BrowserViewerSummary} for the fields). */
export interface BrowserCallMeasurement extends BrowserViewerSummary {
  sender: BrowserCallSender;
  profile: string;
  /** Frames the Chromium sender's page camera drew during the window (null for the other senders). */
  sentFrames: number | null;
  /** The viewer's inbound video from getStats() at the window's end (packets lost over received, percent; null without stats). */
  lossPercent: number | null;
  /**
   * Retransmitted packets the viewer's inbound video took from the RTX stream (RFC 4588;
   * Chromium counts only those: resends on the media stream are not told apart), and the RTX
   * payload type the viewer's description negotiated for the video (null: none).
   */
  rtx: { packetsReceived: number; payloadType: number | null };
  /** Round-trip time of the viewer's selected candidate pair, ms (null without one). */
  rttMs: number | null;
  /** ICE server URLs the Chromium sender's peer connections used, after the rewrite to the relay (null for the CLI sender). */
  senderIceUrls: string[] | null;
}

/** Frames of the y4m file (10 s at 15 fps; Chromium loops it). */
const Y4M_FRAMES = 150;
/** test/helpers/browsers.ts's Chromium flags (it takes no extra ones), plus the file camera. */
/** A Chromium whose fake camera plays `file`. */
function launchChromiumWithY4m(file: string): Promise<Browser> {
  return launchChromium([`--use-file-for-fake-video-capture=${file}`]);
}

const sel = (testId: string): string => `[data-testid="${testId}"]`;

/** Picks `hub` and presses Start, once the page is welcomed (the hub list filled). */
async function startIn(page: Page, hub: string, ms: number): Promise<void> {
  await page.locator(`${sel('hub-select')} option[value="${hub}"]`).first().waitFor({ state: 'attached', timeout: ms });
  await page.locator(sel('hub-select')).selectOption(hub, { timeout: ms });
  await page.locator(sel('start')).click({ timeout: ms });
}

/** The page's status line. */
async function status(page: Page): Promise<string> {
  return (await page.locator(sel('status')).textContent({ timeout: 5000 })) ?? '';
}

/** Waits until the page's status line matches `re`; the timeout says what the status was. */
export async function waitForStatus(p: StampedPage, re: RegExp, ms: number, what: string): Promise<void> {
  let last = '';
  try {
    await until(async () => re.test(last = await status(p.page)), ms, what, 100);
  } catch {
    throw new Error(`timeout after ${ms} ms: ${p.name}: ${what} (status: ${JSON.stringify(last)})`);
  }
}

/** getStats() of the page's current call, from the client's debug hook. */
function clientStats(p: StampedPage): Promise<Record<string, unknown>[]> {
  return p.page.evaluate(() => (window as unknown as { __chatzyo?: { stats(): Promise<Record<string, unknown>[]> } }).__chatzyo?.stats() ?? []);
}

/** Loss and RTT of the viewer's current call, from the client's debug hook. */
async function viewerStats(p: StampedPage): Promise<{ lossPercent: number | null; rttMs: number | null; rtx: BrowserCallMeasurement['rtx'] }> {
  const stats = await clientStats(p);
  const v = stats.find((s) => s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video'));
  // The video receiver's negotiated codecs (an RTX entry only when both sides took it).
  const rtxPt = await p.page.evaluate(() => {
    const pc = (window as unknown as { __chatzyo?: { pc: RTCPeerConnection | null } }).__chatzyo?.pc;
    const r = pc?.getTransceivers().find((t) => t.receiver.track.kind === 'video')?.receiver;
    return r?.getParameters().codecs.find((c) => c.mimeType.toLowerCase() === 'video/rtx')?.payloadType ?? null;
  });
  const lost = Number(v?.packetsLost ?? NaN);
  const received = Number(v?.packetsReceived ?? NaN);
  const transport = stats.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
  const pair = (transport && stats.find((s) => s.id === transport.selectedCandidatePairId))
    ?? stats.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
  const rtt = Number(pair?.currentRoundTripTime ?? NaN);
  return {
    lossPercent: Number.isFinite(lost) && Number.isFinite(received) ? (100 * lost) / Math.max(1, lost + received) : null,
    rttMs: Number.isFinite(rtt) ? rtt * 1000 : null,
    rtx: { packetsReceived: Number(v?.retransmittedPacketsReceived ?? 0), payloadType: rtxPt },
  };
}

/** What a CLI sender does, as short lines with their time since it started (kept to the last 40). */
function senderLog(session: PeerSession): string[] {
  const log: string[] = [];
  const t0 = Date.now();
  const add = (what: string) => { log.push(`+${Date.now() - t0}ms ${what}`); if (log.length > 40) log.shift(); };
  session.on('state', (s) => add(`state ${s}`));
  session.on('matched', (m) => add(`matched as ${m.role}`));
  session.on('connected', (c) => add(`connected (${c.localCandidateType}/${c.candidateType}) ${c.msFromMatch} ms after the match`));
  session.on('gave-up', (g) => add(`gave up: ${g.reason}`));
  session.on('ice-restart', () => add('ICE restart'));
  session.on('partner-left', (p) => add(`partner left: ${p.reason}`));
  session.on('server-error', (e) => add(`server error ${e.code}: ${e.message}`));
  session.on('warning', (w) => add(`warning: ${w.message.slice(0, 300)}`));
  session.on('disconnected', (d) => add(`disconnected ${d.code}`));
  session.on('ended', (e) => add(`ended ${e.reason}${e.error ? `: ${e.error.message}` : ''}`));
  return log;
}

/** The relay forwards to the server's UDP TURN (asked for as a relay-only client would be). */
async function pointRelayAtTurn(server: string, relay: ImpairmentRelay | ThreadedRelay, ms: number): Promise<void> {
  const probe = await withTimeout(TestClient.connect(server.replace(/^http/, 'ws') + WS_PATH, {}, { relayOnly: true }), ms, 'welcome with TURN');
  try {
    // connect() consumed the parsed welcome; its raw text stays.
    const welcome = probe.raw.map((t) => parseServerFrame(t)).find((r) => r.ok && r.value.type === 'welcome');
    if (!welcome?.ok || welcome.value.type !== 'welcome') throw new Error('the server sent no welcome');
    iceServersThroughRelay(welcome.value.iceServers, relay);
  } finally {
    await probe.close();
  }
}

/**
 * Runs one call and measures it at the Chromium viewer; everything it started (pages, the
 * werift sender, the relay, a browser it launched) is closed before it returns or throws.
 */
export async function measureBrowserCall(o: MeasureBrowserCallOptions): Promise<BrowserCallMeasurement> {
  const step = o.stepTimeoutMs ?? 30_000;
  const measureMs = o.measureMs ?? 8000;
  const warmupMs = o.warmupMs ?? 2000;
  const hub = o.hub ?? 'global';
  const where = `${o.sender} -> chromium across ${o.profile.name}`;
  let browser: Browser | null = null;
  let y4mBrowser: Browser | null = null;
  let y4mDir: string | null = null;
  let relay: ImpairmentRelay | ThreadedRelay | null = null;
  let cli: PeerSession | SenderProcess | null = null;
  let cliEvents: string[] | null = null;
  let collector: FrameCollector | null = null;
  const pages: StampedPage[] = [];
  // The trace's samplers: stopped once the window closes, or on the way out of a call that failed.
  const tracers: NodeJS.Timeout[] = [];
  let loop: ReturnType<typeof monitorEventLoopDelay> | null = null;
  const stopTracing = () => {
    for (const t of tracers.splice(0)) clearInterval(t);
    loop?.disable();
  };
  try {
    browser = o.browser ?? await launchChromium();
    relay = o.threadedRelay ? await ThreadedRelay.start({ profile: o.profile }) : await ImpairmentRelay.start({ profile: o.profile });
    let senderPage: StampedPage | null = null;
    if (o.sender === 'chromium' || o.sender === 'chromium-y4m') {
      await pointRelayAtTurn(o.server, relay, step);
      let senderBrowser = browser;
      if (o.sender === 'chromium-y4m') {
        y4mDir = mkdtempSync(path.join(tmpdir(), 'chatzyo-y4m-'));
        const file = path.join(y4mDir, 'stamped.y4m');
        await writeStampedY4m(file, { width: STAMP_SOURCE.width, height: STAMP_SOURCE.height, fps: STAMP_SOURCE.fps, frames: Y4M_FRAMES });
        senderBrowser = y4mBrowser = await launchChromiumWithY4m(file);
      }
      senderPage = await withTimeout(openStampedPage(senderBrowser, o.server, {
        name: `${o.sender} sender (${o.profile.name})`, relay: relay.address, camera: o.sender === 'chromium',
      }), step, `${where}: open the sender page`);
      pages.push(senderPage);
      await startIn(senderPage.page, hub, step);
      await waitForStatus(senderPage, /position 1/, step, 'the sender waits in the queue');
    } else {
      const r = relay;
      const spec = { server: o.server, hub, adapt: o.adapt !== false, retransmit: o.retransmit !== false, ...(o.fec ? { fec: o.fec } : {}), ffmpegPath: o.ffmpegPath };
      if (o.senderProcess) {
        // The process has the relay pointed at the TURN server its welcome names.
        cli = await SenderProcess.start({ ...spec, relay: relay.address }, relay, step);
      } else {
        const session = new PeerSession(labSenderOptions(spec, (s) => iceServersThroughRelay(s, r)));
        cli = session;
        cliEvents = senderLog(session);
        await withTimeout(session.start(), step, `${where}: CLI sender start`);
      }
    }
    const viewer = await withTimeout(openStampedPage(browser, o.server, { name: `chromium viewer (${where})` }), step, `${where}: open the viewer page`);
    pages.push(viewer);
    await startIn(viewer.page, hub, step);
    // The trace's samplers start with the call, not at its first frame: a start that goes wrong
    // (a probe too high in the first second) is in it.
    const trace = o.trace ? { file: `${o.trace}-${o.profile.name}-${o.sender}.jsonl`, lines: [] as string[] } : null;
    const sender = cli;
    // The longest stall of the sender's event loop in each 250 ms: a sender process measures its
    // own; an in-process one shares this process's loop, measured here.
    loop = trace && !(cli instanceof SenderProcess) ? monitorEventLoopDelay({ resolution: 5 }) : null;
    loop?.enable();
    const delays = loop;
    // The relay thread's own lag (a threaded relay): what the link added beyond the profile.
    const relayLag = trace && relay instanceof ThreadedRelay ? relay : null;
    relayLag?.watchLag();
    if (trace && (sender || relayLag)) {
      tracers.push(setInterval(() => {
        const s = sender ? { a: sender.adaptation, loopMaxMs: sender instanceof SenderProcess ? sender.loopMaxMs : (delays?.max ?? 0) / 1e6 } : {};
        trace.lines.push(JSON.stringify({ at: Date.now(), ...s, ...(relayLag?.lag ? { relay: relayLag.lag } : {}) }));
        delays?.reset();
      }, 250));
    }
    // The viewer's jitter buffers each second (the stats are sums since the call began).
    let jbBusy = false;
    if (trace) tracers.push(setInterval(() => {
      if (jbBusy) return;
      jbBusy = true;
      void clientStats(viewer).then((st) => {
        const jb = st.filter((x) => x.type === 'inbound-rtp').map((x) => ({ kind: x.kind, jitter: x.jitter, emitted: x.jitterBufferEmittedCount, delay: x.jitterBufferDelay, target: x.jitterBufferTargetDelay, min: x.jitterBufferMinimumDelay, decoded: x.framesDecoded, decodeTime: x.totalDecodeTime, assembly: x.totalAssemblyTime, assembled: x.framesAssembledFromMultiplePackets, nack: x.nackCount }));
        // Round trips as the viewer measured them: from our receiver reports about its own streams
        // (remote-inbound-rtp) and from our answers to its reference time reports (remote-outbound-rtp).
        const rtt = st.filter((x) => x.type === 'remote-inbound-rtp' || x.type === 'remote-outbound-rtp').map((x) => ({ type: x.type, kind: x.kind, rtt: x.roundTripTime, n: x.roundTripTimeMeasurements, total: x.totalRoundTripTime }));
        trace.lines.push(JSON.stringify({ at: Date.now(), jb, rtt }));
      }, () => {}).finally(() => { jbBusy = false; });
    }, 1000));
    try {
      await waitForStatus(viewer, /\bconnected\b/, step, `the call ${where} connects`);
    } catch (err) {
      // What the CLI sender saw meanwhile (a call that never connects in CI is read from this line).
      if (cliEvents && cli instanceof PeerSession) {
        const pc = cli.call?.pc;
        const states = pc ? `signaling ${pc.signalingState}, gathering ${pc.iceGatheringState}, ICE ${pc.iceConnectionState}, connection ${pc.connectionState}` : 'no call';
        (err as Error).message += `; the CLI sender (${states}): ${cliEvents.join(', ')}`;
      }
      throw err;
    }
    await startStampReader(viewer);
    const c = new FrameCollector(viewer);
    collector = c;
    // The window opens once the viewer presents a frame, readable or not (as measureCall opens
    // it on the first packet): a link that never lets a picture through then measures zero.
    await until(() => c.frames.length > 0, step, `${where}: the viewer never presented a frame`, 50);
    const warmStart = Date.now();
    await until(() => Date.now() - warmStart >= warmupMs, warmupMs + step, 'warm-up', 50);
    const warmupFrames = o.warmupFrames ?? 0;
    const inARow = (): number => {
      let n = 0;
      for (let i = c.frames.length - 1; i >= 0; i--) {
        const f = c.frames[i]!;
        if (f.seq === null || f.width !== STAMP_SOURCE.width || f.height !== STAMP_SOURCE.height) break;
        n++;
      }
      return n;
    };
    await until(() => inARow() >= warmupFrames, step, () => {
      const last = c.frames.at(-1);
      return `${where}: ${inARow()} of the warm-up's ${warmupFrames} readable ${STAMP_SOURCE.width}x${STAMP_SOURCE.height} frames in a row (${c.frames.length} presented, the last ${last ? `${last.width}x${last.height}` : 'none'})`;
    }, 50);
    const sentBefore = senderPage && o.sender === 'chromium' ? await framesSent(senderPage) : null;
    const windowStart = Date.now();
    await until(() => Date.now() - windowStart >= measureMs, measureMs + step, 'measuring', 50);
    const windowEnd = Date.now();
    const sentAfter = senderPage && o.sender === 'chromium' ? await framesSent(senderPage) : null;
    const frames = await c.stop();
    // A sender thread whose session ended mid-call (ffmpeg failed, say) measured nothing worth keeping.
    if (cli instanceof SenderProcess && cli.ended) throw new Error(`${where}: the CLI sender ended mid-call: ${cli.ended.reason}${cli.ended.message ? ` (${cli.ended.message})` : ''}`);
    stopTracing();
    if (trace) {
      for (const f of frames) trace.lines.push(JSON.stringify({ at: f.renderedAt, seq: f.seq, w: f.width, lat: f.timeLow === null ? null : f.renderedAt - unwrapStampTime(f.timeLow, f.renderedAt), rx: f.timeLow === null || f.receivedAt == null ? null : Math.round(f.receivedAt - unwrapStampTime(f.timeLow, f.renderedAt)), ...(f.receivedAt != null && f.rtpTimestamp != null ? { recv: Math.round(f.receivedAt * 10) / 10, rtp: f.rtpTimestamp } : {}), ...(f.capturedAt != null && f.timeLow !== null ? { cap: Math.round(f.capturedAt - unwrapStampTime(f.timeLow, f.renderedAt)) } : {}) }));
      const st = await clientStats(viewer);
      trace.lines.push(JSON.stringify({ inbound: st.filter((x) => x.type === 'inbound-rtp' || x.type === 'codec' || x.type === 'remote-inbound-rtp' || x.type === 'remote-outbound-rtp' || (x.type === 'candidate-pair' && x.nominated)) }));
      trace.lines.push(JSON.stringify({ windowStart, windowEnd }));
      writeFileSync(trace.file, trace.lines.join('\n') + '\n');
    }
    const { lossPercent, rttMs, rtx } = await withTimeout(viewerStats(viewer), step, `${where}: viewer stats`);
    const senderIceUrls = senderPage ? (await iceLog(senderPage)).flatMap((e) => e.used) : null;
    return {
      ...summarizeFrames(frames, windowStart, windowEnd, o.sender === 'chromium-y4m' ? Y4M_FRAMES : undefined), sender: o.sender, profile: o.profile.name,
      sentFrames: sentBefore !== null && sentAfter !== null ? sentAfter - sentBefore : null, lossPercent, rtx, rttMs, senderIceUrls,
    };
  } finally {
    stopTracing();
    collector?.dispose();
    await Promise.all(pages.map((p) => withTimeout(p.close(), 10_000, `${p.name}: close`).catch(() => {})));
    // Each on its own: one that fails must not leave the others (or the y4m file) behind.
    await Promise.allSettled([cli?.close(), relay?.close()]);
    if (browser && !o.browser) await browser.close().catch(() => {});
    await y4mBrowser?.close().catch(() => {});
    if (y4mDir) rmSync(y4mDir, { recursive: true, force: true });
  }
}

/** One row of a table of browser measurements (fps, freeze ratio, g2g p50/p95 ms, PSNR dB), as bench scripts print them. */
export function browserCallRow(m: BrowserCallMeasurement): { fps: string; freezeRatio: string; p50: string; p95: string; psnr: string } {
  return {
    fps: m.windowFps.toFixed(1),
    freezeRatio: m.viewer.freezeRatio.toFixed(2),
    p50: m.viewer.latencyMs ? String(Math.round(m.viewer.latencyMs.p50)) : '-',
    p95: m.viewer.latencyMs ? String(Math.round(m.viewer.latencyMs.p95)) : '-',
    psnr: m.psnrDb === null ? '-' : m.psnrDb.toFixed(1),
  };
}
