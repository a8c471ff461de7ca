import { afterEach, describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, startIn, waitForStatus, waitForVideo,
  type ChatPage,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { rtxFor, sameSizeAsSent, Sessions } from './helpers.js';

const rig = useBrowserRig(launchChromium);
const { pages } = rig;
const sessions = new Sessions();

// Registered after the rig's hooks, so peers stop before their pages close.
afterEach(() => sessions.closeAll());

async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  pages.push(p);
  return p;
}

describe('headless peer and a Chromium page', () => {
  for (const codec of ['vp8', 'h264'] as const) {
    it(`${codec}: the page decodes the CLI test pattern at the requested size, the peer counts the page's camera, chat both ways`, async () => {
      const page = await open(`chromium (${codec})`);
      await startIn(page, 'tamil');
      await waitForStatus(page, /position 1/, 10_000, 'page waits first in tamil');
      const [peer, rec] = sessions.create({ server: rig.server.url, encode: { codec, width: 320, height: 240, fps: 15, bitrateKbps: 300 } }, 'peer');
      await withTimeout(peer.start(), 15_000, 'peer start');
      const c = await rec.next('connected', 20_000);
      expect(c.candidateType).toMatch(/^(host|srflx|prflx)$/);
      // Resends go on the RTX stream (RFC 4588): the partner took it for the video codec.
      expect(rtxFor(peer)).toEqual(true);
      await waitForStatus(page, CONNECTED, 20_000, 'page connected');
      const v = await waitForVideo(page, 60, 30_000);
      expect([v.frameWidth, v.frameHeight]).toEqual([320, 240]);
    expect(await page.eval<number[]>(`(() => { const v = document.querySelector('[data-testid="remote-video"]'); return [v.videoWidth, v.videoHeight]; })()`)).toEqual([320, 240]);
      expect(await page.eval<number[]>(`(() => { const v = document.querySelector('[data-testid="remote-video"]'); return [v.videoWidth, v.videoHeight]; })()`)).toEqual([320, 240]);
      const s = await rec.next('stats', 20_000, (x) => x.framesReceived >= 30);
      expect(s.keyframesReceived).toBeGreaterThanOrEqual(1);
      expect(s).toMatchObject({ codec: codec === 'vp8' ? 'VP8' : 'H264', audioCodec: 'opus' });
      await sameSizeAsSent(page, peer);
      // Safety numbers agree.
      const n = await rec.next('safety', 5000);
      await until(async () => (await page.text('safety-number')).includes(n.safetyNumber), 10_000, 'page shows the same safety number');
      // Chat both ways over the negotiated data channel.
      await rec.next('chat-open', 10_000);
      expect(peer.sendChat('hello from the terminal')).toBe(true);
      await until(async () => (await page.text('chat-log')).includes('hello from the terminal'), 10_000, 'page shows the peer\'s chat');
      await page.fill('chat-input', 'hello from chromium');
      await page.click('chat-send');
      expect((await rec.next('chat', 10_000)).text).toBe('hello from chromium');
      await saveScreenshot(page, `peer-chromium-${codec}`);
      expect(page.errors).toEqual([]);
    });
  }

  it('the page measures the round trip of the video it only receives when the peer offered: it sends RTCP XR reference time reports (the codec says rrtr) and the peer answers each', async () => {
    // The peer waits first, so it offers, with rrtr in its video codec's feedback.
    const [peer, rec] = sessions.create({ server: rig.server.url, encode: { codec: 'vp8', width: 320, height: 240, fps: 15, bitrateKbps: 300 } }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    await rec.next('queued', 10_000);
    const page = await open('chromium (rrtr)');
    await startIn(page, 'tamil');
    await rec.next('connected', 20_000);
    await waitForStatus(page, CONNECTED, 20_000, 'page connected');
    await waitForVideo(page, 15, 30_000);
    const measured = () => page.eval<number>(`window.__chatzyo.stats().then((all) => all.filter((x) => x.type === 'remote-outbound-rtp' && x.kind === 'video').reduce((n, x) => n + (x.roundTripTimeMeasurements ?? 0), 0))`);
    await until(async () => (await measured()) > 0, 15_000, 'the page measured the video\'s round trip');
    expect(page.errors).toEqual([]);
  });

  it('Next both ways: the page sees the peer leave, the peer sees the page press Next and waits again', async () => {
    const page = await open('chromium (next)');
    await startIn(page, 'tamil');
    await waitForStatus(page, /position 1/, 10_000, 'page waits first in tamil');
    const [peer, rec] = sessions.create({ server: rig.server.url, audio: null }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    await rec.next('connected', 20_000);
    await waitForStatus(page, CONNECTED, 20_000, 'page connected');
    peer.next();
    await waitForStatus(page, /left/i, 10_000, 'page says the partner left');
    // The page presses Next (it is idle now) and meets the peer again, who was re-queued.
    await page.click('next');
    await rec.next('connected', 20_000);
    await waitForStatus(page, CONNECTED, 20_000, 'page connected again');
    await page.click('next');
    expect((await rec.next('partner-left', 10_000)).reason).toBe('next');
    await rec.next('queued', 10_000);
    expect(peer.state).toBe('queued');
    expect(page.errors).toEqual([]);
  });
});
