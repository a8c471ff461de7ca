import { describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, waitForStatus, type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';

const rig = useBrowserRig(launchChromium);
const { pages } = rig;

async function open(url: string, name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, url, name);
  pages.push(p);
  return p;
}

const matchId = (p: ChatPage) => p.eval<string | null>('window.__chatzyo.matchId');

describe('private call link', () => {
  it('joins exactly the two pages; a third who opens it is told the call is full', async () => {
    const host = await open(rig.server.url, 'host');
    await host.click('private-create');
    let link = '';
    await until(async () => (link = await host.value('private-link')) !== '', 10_000, 'the host gets a private link');
    expect(link).toMatch(new RegExp(`^${rig.server.url}/#/call/[A-Za-z0-9_-]{22,}$`));

    const guest = await open(link, 'guest');
    await Promise.all([
      waitForStatus(host, CONNECTED, 20_000, 'host connected in the private call'),
      waitForStatus(guest, CONNECTED, 20_000, 'guest connected in the private call'),
    ]);
    const id = await matchId(host);
    expect(id).not.toBeNull();
    expect(await matchId(guest)).toBe(id);
    expect(await host.text('status')).toMatch(/private call/);
    // The used link is cleared from the guest's address bar, so a reload does not knock again.
    expect(await guest.eval<string>('location.hash')).toBe('');

    const third = await open(link, 'third');
    await waitForStatus(third, /already has two people/, 10_000, 'the third page is told the call is full');
    expect(await third.eval<string>('window.__chatzyo.state')).toBe('idle');
    expect(await matchId(third)).toBeNull();
    // The two in the call are undisturbed.
    expect(await matchId(host)).toBe(id);
    expect(await matchId(guest)).toBe(id);
    expect(await host.text('status')).toMatch(CONNECTED);

    await saveScreenshot(guest, 'private-call-guest');
    await saveScreenshot(third, 'private-call-full');
    expect([...host.errors, ...guest.errors, ...third.errors]).toEqual([]);
  });
});
