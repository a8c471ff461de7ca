import { describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, startIn, waitForStatus, waitForVideo,
  type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';

const rig = useBrowserRig(launchChromium);
const { pages } = rig;

async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  pages.push(p);
  return p;
}

describe('two Chromium pages', () => {
  it('match in hub tamil, each decodes the other\'s video, and chat crosses the data channel', async () => {
    const a = await open('chromium A');
    const b = await open('chromium B');
    await startIn(a, 'tamil');
    await waitForStatus(a, /position 1/, 10_000, 'A waits first in the tamil queue');
    await startIn(b, 'tamil');
    await Promise.all([
      waitForStatus(a, CONNECTED, 20_000, 'A connected'),
      waitForStatus(b, CONNECTED, 20_000, 'B connected'),
    ]);
    expect(await a.eval<string>('window.__chatzyo.matchId')).toBe(await b.eval<string>('window.__chatzyo.matchId'));
    expect(await a.text('status')).toMatch(/direct/);

    const [va, vb] = await Promise.all([waitForVideo(a, 30, 20_000), waitForVideo(b, 30, 20_000)]);
    expect(va.frameWidth * va.frameHeight).toBeGreaterThan(0);
    expect(vb.frameWidth * vb.frameHeight).toBeGreaterThan(0);

    await a.fill('chat-input', 'vanakkam from A');
    await a.click('chat-send');
    await until(async () => (await b.text('chat-log')).includes('vanakkam from A'), 10_000, 'B shows A\'s chat message');
    await b.fill('chat-input', 'hello back from B');
    await b.click('chat-send');
    await until(async () => (await a.text('chat-log')).includes('hello back from B'), 10_000, 'A shows B\'s chat message');
    // Chat is peer to peer: the text never went to the signaling server, nor came from it.
    // Positive control first: the frame hook recorded both directions (each page's hello, join
    // and SDP; the server's welcome, the matched for this match and the partner's signals),
    // so an empty list from a broken hook cannot pass the checks below.
    const matchId = await a.eval<string>('window.__chatzyo.matchId');
    for (const p of [a, b]) {
      const sent = p.wsSent.map((f) => JSON.parse(f) as { type: string });
      const received = p.wsReceived.map((f) => JSON.parse(f) as { type: string; matchId?: string });
      expect(sent.map((m) => m.type), `${p.name} sent`).toEqual(expect.arrayContaining(['hello', 'join', 'signal']));
      expect(p.wsSent.some((f) => f.includes('"type":"signal"') && f.includes('v=0')), `${p.name}: its SDP recorded`).toBe(true);
      expect(received.map((m) => m.type), `${p.name} received`).toEqual(expect.arrayContaining(['welcome', 'signal']));
      expect(received, `${p.name} received matched`).toContainEqual(expect.objectContaining({ type: 'matched', matchId }));
    }
    for (const text of ['vanakkam', 'hello back']) {
      expect([...a.wsSent, ...b.wsSent].filter((f) => f.includes(text)), `"${text}" sent to the server`).toEqual([]);
      expect([...a.wsReceived, ...b.wsReceived].filter((f) => f.includes(text)), `"${text}" received from the server`).toEqual([]);
    }

    await saveScreenshot(a, 'chromium-call-a');
    await saveScreenshot(b, 'chromium-call-b');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });
});
