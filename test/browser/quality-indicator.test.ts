/**
 * The connection-quality indicator, the video sender's settings and "audio only", in two real
 * Chromium pages (fake camera and microphone) through a real server: on loopback the
 * indicator says good and the sender carries the cap for its camera size; with one page behind
 * the lab's impairment relay (in front of a real coturn, relay-only ICE) it turns weak or poor
 * and says why; when it stays poor the page offers audio only, which stops the outgoing video
 * (frames no longer encoded) while audio goes on, and undoing it sends video again.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImpairmentRelay, parseNetworkProfile, udpTurnTarget } from '../../src/lab/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { maxBitrateFor } from '../../src/web/sender-settings.js';
import { openStampedPage, type StampedPage } from '../helpers/browser-stamps.js';
import { waitForStatus } from '../helpers/browser-call-quality.js';
import { buildWebClient, launchChromium } from '../helpers/browsers.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let turn: Coturn | undefined;
let server: SignalServer | undefined;
let browser: Browser | undefined;
let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
const pages: StampedPage[] = [];
const relays: ImpairmentRelay[] = [];
/** What the impaired pages showed, printed at the end (the README's numbers). */
const seen: Record<string, unknown> = {};

beforeAll(async () => {
  web = await buildWebClient();
  turn = await startCoturn();
  server = await startServer({ webRoot: web.dir, turnUrls: [turn.url], turnSecret: turn.secret, screening: 'off' });
  browser = await launchChromium();
}, 90_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => withTimeout(p.close(), 10_000, `${p.name}: close`).catch(() => {})));
  await Promise.allSettled(relays.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await turn?.stop();
  web?.remove();
  console.log('quality indicator', seen);
});

const sel = (testId: string): string => `[data-testid="${testId}"]`;

interface Quality { hidden: boolean; level: string | null; text: string; audioOnlyShown: boolean; pressed: string | null }

/** What the page shows: the quality pill and the audio-only button. */
function shown(p: StampedPage): Promise<Quality> {
  return p.page.evaluate(() => {
    const q = document.querySelector<HTMLElement>('[data-testid="quality"]')!;
    const b = document.querySelector<HTMLButtonElement>('[data-testid="audio-only"]')!;
    return { hidden: q.hidden, level: q.dataset.level ?? null, text: document.querySelector('[data-testid="quality-text"]')!.textContent ?? '', audioOnlyShown: !b.hidden, pressed: b.getAttribute('aria-pressed') };
  });
}

/** Polls what the page shows until `ok`; the timeout names the last reading. */
async function waitShown(p: StampedPage, ok: (q: Quality) => boolean, ms: number, what: string): Promise<Quality> {
  let last: Quality | undefined;
  try {
    await until(async () => ok(last = await shown(p)), ms, what, 200);
  } catch {
    throw new Error(`timeout after ${ms} ms: ${p.name}: ${what} (shows ${JSON.stringify(last)})`);
  }
  return last!;
}


async function startIn(p: StampedPage, hub: string): Promise<void> {
  await p.page.locator(`${sel('hub-select')} option[value="${hub}"]`).first().waitFor({ state: 'attached', timeout: 10_000 });
  await p.page.locator(sel('hub-select')).selectOption(hub);
  await p.page.locator(sel('start')).click();
}

/**
 * Two pages in a call in `hub`: A (behind a relay with `profile`, or on loopback) and B
 * (clean). Both use Chromium's fake camera; with a profile both are relay-only through coturn.
 */
async function call(hub: string, profile: string | null): Promise<[StampedPage, StampedPage]> {
  let relay: { host: string; port: number } | null = null;
  if (profile) {
    const r = await ImpairmentRelay.start({ profile: parseNetworkProfile(profile), upstream: udpTurnTarget(turn!.url)! });
    relays.push(r);
    relay = r.address;
  }
  const open = async (name: string, behind: typeof relay): Promise<StampedPage> => {
    const p = await withTimeout(openStampedPage(browser!, server!.url, { name, camera: false, forceRelay: profile !== null, relay: behind }), 30_000, `${name}: open`);
    pages.push(p);
    return p;
  };
  const a = await open(`A${profile ? ` (${profile})` : ''}`, relay);
  const b = await open('B', null);
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 15_000, 'A waits first in the queue');
  await startIn(b, hub);
  await Promise.all([waitForStatus(a, /\bconnected\b/, 30_000, 'A connected'), waitForStatus(b, /\bconnected\b/, 30_000, 'B connected')]);
  return [a, b];
}

interface Outbound { videoFrames: number; videoBytes: number; audioPackets: number }

/** A page's outgoing RTP counters from getStats() (through the debug hook). */
async function outbound(p: StampedPage): Promise<Outbound> {
  const stats = await p.page.evaluate(() => (window as unknown as { __chatzyo: { stats(): Promise<Record<string, unknown>[]> } }).__chatzyo.stats());
  const out = (kind: string) => stats.filter((s) => s.type === 'outbound-rtp' && (s.kind ?? s.mediaType) === kind);
  const sum = (rows: Record<string, unknown>[], key: string) => rows.reduce((n, s) => n + (typeof s[key] === 'number' ? s[key] : 0), 0);
  return { videoFrames: sum(out('video'), 'framesEncoded'), videoBytes: sum(out('video'), 'bytesSent'), audioPackets: sum(out('audio'), 'packetsSent') };
}

/** How many video frames A encodes while ~`audioPackets` more audio packets (20 ms each) go out. */
async function videoFramesOver(p: StampedPage, audioPackets: number, what: string): Promise<{ frames: number; bytes: number }> {
  const start = await outbound(p);
  let last = start;
  await until(async () => (last = await outbound(p)).audioPackets - start.audioPackets >= audioPackets, 20_000, `${p.name}: ${audioPackets} audio packets go out (${what})`, 100);
  return { frames: last.videoFrames - start.videoFrames, bytes: last.videoBytes - start.videoBytes };
}

describe('connection-quality indicator', () => {
  it('is hidden outside a call, shows good on loopback, and the video sender carries the cap for its camera size', async () => {
    const [a, b] = await call('global', null);
    for (const p of [a, b]) {
      const q = await waitShown(p, (x) => !x.hidden && x.level === 'good', 15_000, 'quality shows good');
      expect(q.text).toBe('Good connection.');
      expect(q.audioOnlyShown).toBe(false);
    }
    // Six readings (1.5 s apart) take the call past the upload estimate's warm-up (6 s): still good.
    const log = () => a.page.evaluate(() => (window as unknown as { __chatzyo: { qualityLog: string[] } }).__chatzyo.qualityLog);
    await until(async () => (await log()).length >= 6, 30_000, 'six quality readings', 250);
    expect((await log()).at(-1)).toBe('good');

    // Both ends, offerer and answerer.
    for (const p of [a, b]) {
      const sender = await p.page.evaluate(() => {
        const hook = (window as unknown as { __chatzyo: { pc: RTCPeerConnection; videoSenderParameters(): { degradationPreference: string | null; encodings: RTCRtpEncodingParameters[] } | null } }).__chatzyo;
        const track = hook.pc.getSenders().find((s) => s.track?.kind === 'video')!.track!;
        const { width, height } = track.getSettings();
        return { width, height, params: hook.videoSenderParameters() };
      });
      seen[`loopbackSender ${p.name}`] = { ...sender, encodings: sender.params?.encodings };
      expect(sender.params, `${p.name}: a video sender`).not.toBeNull();
      expect(sender.params!.encodings[0]!.maxBitrate).toBe(maxBitrateFor(sender.width, sender.height));
      expect(sender.params!.encodings[0]!.active).toBe(true);
      // Chromium reports the preference it was given.
      expect(sender.params!.degradationPreference).toBe('balanced');
    }

    // Stop ends the call: the pill hides and its level is cleared.
    await a.page.locator(sel('stop')).click();
    const gone = await waitShown(a, (x) => x.hidden, 10_000, 'quality hidden after Stop');
    expect(gone.level).toBeNull();
  });

  it('turns weak or poor when the page is behind low-upload, and says why', async () => {
    const [a, b] = await call('global', 'low-upload');
    const t0 = Date.now();
    const q = await waitShown(a, (x) => x.level === 'weak' || x.level === 'poor', 40_000, 'quality turns weak or poor behind low-upload');
    const pair = await a.page.evaluate(async () => {
      const stats = await (window as unknown as { __chatzyo: { stats(): Promise<Record<string, unknown>[]> } }).__chatzyo.stats();
      const t = stats.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
      const p = stats.find((s) => s.id === t?.selectedCandidatePairId);
      return { availableOutgoingBitrate: p?.availableOutgoingBitrate, currentRoundTripTime: p?.currentRoundTripTime };
    });
    seen.lowUploadA = { ...q, afterMs: Date.now() - t0, ...pair };
    seen.lowUploadB = await shown(b);
    expect(q.hidden).toBe(false);
    expect(q.text).toMatch(/upload is slow|losing data|High delay|stranger's connection/);
  });

  it('offers audio only after staying poor, which stops the outgoing video while audio flows, and undoes it', async () => {
    const [a] = await call('global', 'custom:rtt=60ms,up=100kbit');
    const offered = await waitShown(a, (x) => x.audioOnlyShown, 60_000, 'audio only offered after a poor stretch');
    seen.poorA = offered;
    expect(offered.level).toBe('poor');
    expect(offered.pressed).toBe('false');

    const before = await videoFramesOver(a, 100, 'video on');
    expect(before.frames, 'video frames encoded before audio only').toBeGreaterThan(2);

    await a.page.locator(sel('audio-only')).click();
    await waitShown(a, (x) => x.pressed === 'true', 10_000, 'audio only pressed');
    await until(() => a.page.evaluate(() => (window as unknown as { __chatzyo: { videoSenderParameters(): { encodings: RTCRtpEncodingParameters[] } | null } }).__chatzyo
      .videoSenderParameters()?.encodings[0]?.active === false), 10_000, 'the video encoding goes inactive', 100);
    const local = await a.page.evaluate(() => ({
      off: document.getElementById('local')!.hasAttribute('data-video-off'),
      placeholder: document.getElementById('local-placeholder')!.hidden ? '' : document.getElementById('local-placeholder')!.textContent,
    }));
    expect(local).toEqual({ off: true, placeholder: 'Your video is off (audio only)' });
    // A frame already in the encoder may still leave; after that, none while a second of audio goes out.
    await videoFramesOver(a, 10, 'draining');
    const during = await videoFramesOver(a, 100, 'audio only');
    seen.audioOnly = { before, during };
    expect(during.frames, 'video frames encoded in audio only').toBe(0);
    expect(during.bytes, 'video bytes sent in audio only (RTCP padding aside)').toBeLessThan(before.bytes / 2 + 1);

    await a.page.locator(sel('audio-only')).click();
    await waitShown(a, (x) => x.pressed === 'false', 10_000, 'audio only released');
    const after = await videoFramesOver(a, 100, 'video back on');
    seen.audioOnly = { before, during, after };
    expect(after.frames, 'video frames encoded after undoing audio only').toBeGreaterThan(2);

    // Audio only belongs to one call: Next starts the next one with video and the pill cleared.
    await a.page.locator(sel('audio-only')).click();
    await waitShown(a, (x) => x.pressed === 'true', 10_000, 'audio only pressed again');
    await a.page.locator(sel('next')).click();
    const reset = await waitShown(a, (x) => x.hidden, 10_000, 'quality hidden after Next');
    expect(reset).toMatchObject({ level: null, audioOnlyShown: false, pressed: 'false' });
    expect(await a.page.evaluate(() => document.getElementById('local')!.hasAttribute('data-video-off'))).toBe(false);
  });
});
