// Item 10 of the security issue (client half): a page that can reach the chatzyo tab sets only
// its URL fragment to `#/call/CODE`. That must not move a live call (camera on) into that
// page's private call: the tab asks "Join this private call?" and only Yes joins.
import { describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, startIn, waitForStatus, type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';

const rig = useBrowserRig(launchChromium);

async function open(url: string, name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, url, name);
  rig.pages.push(p);
  return p;
}

const matchId = (p: ChatPage) => p.eval<string | null>('window.__chatzyo.matchId');
const promptOpen = (p: ChatPage) => p.eval<boolean>('document.querySelector(\'[data-testid="join-private-confirm"]\').open');
/** Sessions the server holds in match `id`. */
const serverSessionsIn = (id: string) => [...rig.server.sessions.values()].filter((s) => s.matchId === id).length;
/** Messages that would move the session, among those the page sent from frame `from` on. */
const MOVES = ['join', 'leave', 'next', 'private-join', 'private-create'];
const movesSent = (p: ChatPage, from: number) => p.wsSent.slice(from).map((f) => (JSON.parse(f) as { type: string }).type).filter((t) => MOVES.includes(t));

describe('a call link set in the fragment of an open page', () => {
  it('asks before joining: the live call stays (No, or no answer); Yes joins the private call', async () => {
    // A and B in a call, cameras on.
    const a = await open(rig.server.url, 'A');
    const b = await open(rig.server.url, 'B');
    await startIn(a, 'hindi');
    await waitForStatus(a, /position 1/, 10_000, 'A queued');
    await startIn(b, 'hindi');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
    const match = (await matchId(a))!;
    expect(await matchId(b)).toBe(match);

    // The other page's private call.
    const attacker = await open(rig.server.url, 'attacker');
    await attacker.click('private-create');
    let link = '';
    await until(async () => (link = await attacker.value('private-link')) !== '', 10_000, 'the attacker gets a private link');
    const fragment = link.slice(link.indexOf('#'));

    // Only the fragment changes, as a page holding a reference to the tab can do.
    const before = a.wsSent.length;
    await a.eval(`location.hash = ${JSON.stringify(fragment)}`);
    await until(() => promptOpen(a), 5000, 'A asks "Join this private call?"');
    expect(await a.text('join-private-confirm')).toMatch(/Join this private call\?[\s\S]*ends the call you are in now/);
    // The address bar no longer holds the link, so a reload does not ask again.
    expect(await a.eval<string>('location.hash')).toBe('');
    await saveScreenshot(a, 'private-link-prompt');

    // Unanswered, nothing moves: the server keeps the match, B keeps its partner, A sent nothing.
    await new Promise((r) => setTimeout(r, 1500));
    expect(serverSessionsIn(match)).toBe(2);
    expect(await matchId(a)).toBe(match);
    expect(await matchId(b)).toBe(match);
    expect(await b.text('status')).toMatch(CONNECTED);
    expect(await attacker.eval<string>('window.__chatzyo.state')).toBe('private-waiting');
    expect(movesSent(a, before)).toEqual([]);

    // No: the same.
    await a.click('join-private-no');
    await until(async () => !(await promptOpen(a)), 5000, 'the prompt closes on No');
    await new Promise((r) => setTimeout(r, 500));
    expect(serverSessionsIn(match)).toBe(2);
    expect(await matchId(a)).toBe(match);
    expect(movesSent(a, before)).toEqual([]);

    // Yes: A leaves B and joins the private call.
    await a.eval(`location.hash = ${JSON.stringify(fragment)}`);
    await until(() => promptOpen(a), 5000, 'A asks again');
    await a.click('join-private-yes');
    await Promise.all([
      waitForStatus(a, /private call/, 20_000, 'A in the private call'),
      waitForStatus(attacker, CONNECTED, 20_000, 'the link\'s owner connected'),
      waitForStatus(b, /left/i, 10_000, 'B told its partner left'),
    ]);
    const privateMatch = await matchId(a);
    expect(privateMatch).not.toBe(match);
    expect(await matchId(attacker)).toBe(privateMatch);
    expect(serverSessionsIn(match)).toBe(0);
    expect(movesSent(a, before)).toEqual(['leave', 'private-join']);
    expect([...a.errors, ...b.errors, ...attacker.errors]).toEqual([]);
  });

  it('asks an idle page too, with No focused, and a close request (Escape) means No', async () => {
    const owner = await open(rig.server.url, 'owner');
    await owner.click('private-create');
    let link = '';
    await until(async () => (link = await owner.value('private-link')) !== '', 10_000, 'a private link');
    const idle = await open(rig.server.url, 'idle');
    await until(async () => (await idle.eval<string>('window.__chatzyo.state')) === 'idle', 10_000, 'the page is idle');
    const before = idle.wsSent.length;
    await idle.eval(`location.hash = ${JSON.stringify(link.slice(link.indexOf('#')))}`);
    await until(() => promptOpen(idle), 5000, 'the idle page asks');
    expect(await idle.text('join-private-detail')).toMatch(/turns on your camera/);
    expect(await idle.eval<string>('document.activeElement?.dataset.testid ?? ""')).toBe('join-private-no');
    // What Escape does to a modal dialog (HTML "close request": cancel, then close).
    await idle.eval('document.querySelector(\'[data-testid="join-private-confirm"]\').requestClose()');
    await until(async () => !(await promptOpen(idle)), 5000, 'the prompt closes');
    await new Promise((r) => setTimeout(r, 500));
    expect(await idle.eval<string>('window.__chatzyo.state')).toBe('idle');
    expect(movesSent(idle, before)).toEqual([]);
    expect(await owner.eval<string>('window.__chatzyo.state')).toBe('private-waiting');
  });
});
