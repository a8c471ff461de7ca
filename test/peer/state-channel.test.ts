// The headless peer on the call-state channel with a Chromium page (docs/protocol.md, "The state
// channel"): it opens the channel, reports the page's `media` messages as `partner-media` (camera
// and microphone), ignores the page's `typing`, and the connect screen says the camera is off.
import React from 'react';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectView } from '../../src/cli/connect-view.js';
import { initialModel, reduce } from '../../src/cli/connect-model.js';
import type { PeerSessionEvents } from '../../src/peer/index.js';
import { useBrowserRig, CONNECTED, launchChromium, openChromiumPage, startIn, waitForStatus, type ChatPage } from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from './helpers.js';

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

type PartnerMedia = PeerSessionEvents['partner-media'][0];

describe('headless peer and the state channel', () => {
  it('reports the page\'s camera and microphone as partner-media, ignores typing, and the screen says the camera is off', async () => {
    const page = await open('chromium (state)');
    await startIn(page, 'tamil');
    await waitForStatus(page, /position 1/, 10_000, 'page waits first in tamil');
    const [peer, rec] = sessions.create({ server: rig.server.url }, 'peer');
    const seen: PartnerMedia[] = [];
    peer.on('partner-media', (m) => { seen.push(m); });
    const latest = async (want: Omit<PartnerMedia, 'matchId'>, what: string) => {
      await until(() => {
        const last = seen.at(-1);
        return last?.camera === want.camera && last.mic === want.mic;
      }, 15_000, `${what} (partner-media seen: ${JSON.stringify(seen)})`);
      return seen.at(-1)!;
    };
    await withTimeout(peer.start(), 15_000, 'peer start');
    const matched = await rec.next('matched', 20_000);
    await rec.next('connected', 20_000);
    await waitForStatus(page, CONNECTED, 20_000, 'page connected');
    // The data channels carry messages both ways (the safety exchange is done) before the page is used.
    await rec.next('safety', 20_000);

    // Camera and microphone on is what a partner assumes: the page says nothing until a change.
    expect(seen).toEqual([]);
    await page.click('camera-off');
    expect((await latest({ camera: false, mic: true }, 'the page says its camera is off')).matchId).toBe(matched.matchId);
    await page.click('mute');
    await latest({ camera: false, mic: false }, 'the page says it is muted too');

    // Typing goes on the same channel: the peer ignores it (no event, no warning), and chat still works.
    await rec.next('chat-open', 10_000);
    const before = seen.length;
    await page.fill('chat-input', 'typing at a terminal');
    await page.click('chat-send');
    expect((await rec.next('chat', 10_000)).text).toBe('typing at a terminal');
    expect(seen.length).toBe(before);
    expect(rec.all('warning')).toEqual([]);

    await page.click('camera-off');
    await latest({ camera: true, mic: false }, 'the page says its camera is on again');

    // The connect screen, fed the events the peer emitted.
    const model = seen.slice(0, -1).reduce((m, data) => reduce(m, { type: 'partner-media', data }), reduce(initialModel('hub tamil'), { type: 'matched', data: matched }));
    const screen = render(React.createElement(ConnectView, { model, input: '', composing: false }));
    expect(screen.lastFrame()).toMatch(/Partner's camera and microphone are off/);
    screen.unmount();
    expect(page.errors).toEqual([]);
  });
});
