import { afterEach, describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchFirefox, openFirefoxPage, saveScreenshot, startIn, waitForStatus, waitForVideo,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { rtxFor, sameSizeAsSent, Sessions } from './helpers.js';

const rig = useBrowserRig(launchFirefox);
const { pages } = rig;
const sessions = new Sessions();

// Registered after the rig's hooks, so peers stop before their pages close.
afterEach(() => sessions.closeAll());

describe('headless peer and a Firefox page', () => {
  it('the page decodes the CLI test pattern at the requested size, the peer counts the page\'s camera, chat both ways', async () => {
    const page = await openFirefoxPage(rig.browser, rig.server.url, 'firefox');
    pages.push(page);
    await startIn(page, 'tamil');
    await waitForStatus(page, /position 1/, 15_000, 'page waits first in tamil');
    const [peer, rec] = sessions.create({ server: rig.server.url }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    await rec.next('connected', 30_000);
    // Resends go on the RTX stream (RFC 4588): the partner took it for the video codec.
    expect(rtxFor(peer)).toEqual(true);
    await waitForStatus(page, CONNECTED, 30_000, 'page connected');
    const v = await waitForVideo(page, 60, 40_000);
    expect([v.frameWidth, v.frameHeight]).toEqual([320, 240]);
    expect(await page.eval<number[]>(`(() => { const v = document.querySelector('[data-testid="remote-video"]'); return [v.videoWidth, v.videoHeight]; })()`)).toEqual([320, 240]);
    const s = await rec.next('stats', 30_000, (x) => x.framesReceived >= 30);
    expect(s.keyframesReceived).toBeGreaterThanOrEqual(1);
    expect(s.audioPacketsReceived).toBeGreaterThan(0);
    expect(s).toMatchObject({ codec: 'VP8', audioCodec: 'opus' });
    await sameSizeAsSent(page, peer);
    const n = await rec.next('safety', 5000);
    await until(async () => (await page.text('safety-number')).includes(n.safetyNumber), 10_000, 'page shows the same safety number');
    await rec.next('chat-open', 10_000);
    expect(peer.sendChat('hello firefox')).toBe(true);
    await until(async () => (await page.text('chat-log')).includes('hello firefox'), 10_000, 'page shows the peer\'s chat');
    await page.fill('chat-input', 'hello terminal');
    await page.click('chat-send');
    expect((await rec.next('chat', 10_000)).text).toBe('hello terminal');
    await saveScreenshot(page, 'peer-firefox');
  });
});
