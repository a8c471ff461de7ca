import { describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, startIn, waitForStatus, waitForVideo,
  type ChatPage,
} from '../helpers/browsers.js';

const rig = useBrowserRig(launchChromium, 'all');
const { pages } = rig;

async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  pages.push(p);
  return p;
}

const matchId = (p: ChatPage) => p.eval<string | null>('window.__chatzyo.matchId');

describe('Next', () => {
  it('moves the presser into a call with a third page and tells the one left behind that their partner left', async () => {
    const [a, b, c] = await Promise.all([open('A'), open('B'), open('C')]);
    await startIn(a, 'tamil');
    await waitForStatus(a, /position 1/, 10_000, 'A queued');
    await startIn(b, 'tamil');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected to B'), waitForStatus(b, CONNECTED, 20_000, 'B connected to A')]);
    const first = await matchId(a);
    expect(await matchId(b)).toBe(first);

    // C waits in the same hub; A skips B.
    await startIn(c, 'tamil');
    await waitForStatus(c, /position 1/, 10_000, 'C queued');
    await a.click('next');

    await waitForStatus(b, /partner left/i, 10_000, 'B is told the partner left');
    expect(await b.text('status')).toMatch(/pressed Next/);
    expect(await b.eval<string>('window.__chatzyo.state')).toBe('idle');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected to C'), waitForStatus(c, CONNECTED, 20_000, 'C connected to A')]);
    const second = await matchId(a);
    expect(second).not.toBe(first);
    expect(await matchId(c)).toBe(second);
    await Promise.all([waitForVideo(a, 30, 20_000), waitForVideo(c, 30, 20_000)]);
    // B was left out of the new call and is not queued.
    expect(await matchId(b)).toBeNull();
    expect((await rig.server.matchmaker.counts()).find((h) => h.name === 'tamil')).toEqual({ name: 'tamil', waiting: 0, inCall: 2 });

    await saveScreenshot(b, 'next-left-behind');
    await saveScreenshot(a, 'next-new-call');
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([]);
  });
});
