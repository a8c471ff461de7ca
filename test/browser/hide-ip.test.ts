import { networkInterfaces } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, selectedPair, startIn, waitForStatus,
  waitForVideo, type ChatPage,
} from '../helpers/browsers.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from '../peer/helpers.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let browser: Browser;
let coturn: Coturn;
let server: SignalServer;
const pages: ChatPage[] = [];
const sessions = new Sessions();

beforeAll(async () => {
  web = await buildWebClient();
  // UDP only: the helper picks a port free for UDP, and a TCP listener on the same number can
  // collide with a busy machine's ephemeral TCP ports (coturn then retries its bind forever).
  await Promise.all([launchChromium().then((b) => { browser = b; }), startCoturn({ extraArgs: ['--no-tcp'] }).then((c) => { coturn = c; })]);
  // Screening off, as useBrowserRig does: the model costs each page seconds of CPU to load.
  server = await startServer({ webRoot: web.dir, turnUrls: [coturn.url], turnSecret: coturn.secret, screening: 'off' });
});
// Each test's calls end with it: a call left running (two pages' video, or a headless peer's four
// encoders) took the CPU the next test's pages needed, and the renewal test's pages then took
// 7-8 s to open and 10 s to connect.
afterEach(async () => {
  try {
    await sessions.closeAll();
  } finally {
    await closeAll(pages);
  }
});
afterAll(async () => {
  await sessions.closeAll();
  await closeAll(pages);
  await browser?.close();
  await server?.close();
  await coturn?.stop();
  web?.remove();
});

async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(browser, server.url, name);
  pages.push(p);
  return p;
}

/** This machine's own addresses other than loopback (coturn relays on 127.0.0.1). */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal).map((i) => i!.address);
}

/** Every ICE candidate line a page received from its partner, from SDP and from trickle. */
async function receivedCandidates(p: ChatPage): Promise<{ lines: string[]; raw: string }> {
  const received = await p.eval<{ matchId: string; data: SignalData }[]>('window.__chatzyo.received');
  const lines: string[] = [];
  for (const { data } of received) {
    if (data.kind === 'offer' || data.kind === 'answer') {
      for (const m of data.sdp.matchAll(/^a=(candidate:.*)$/gm)) lines.push(m[1]!.trim());
    } else if (data.kind === 'candidate' && data.candidate.candidate) {
      lines.push(data.candidate.candidate.replace(/^a=/, ''));
    }
  }
  return { lines, raw: JSON.stringify(received) };
}

describe('Hide my IP', () => {
  it('connects through a TURN relay and neither side learns a host or server-reflexive address of the other', async () => {
    const a = await open('A');
    const b = await open('B');
    await startIn(a, 'usa', { hideIp: true });
    await waitForStatus(a, /position 1/, 10_000, 'A queued');
    await startIn(b, 'usa', { hideIp: true });
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
    await Promise.all([waitForStatus(a, /relayed/, 10_000, 'A says relayed'), waitForStatus(b, /relayed/, 10_000, 'B says relayed')]);
    await Promise.all([waitForVideo(a, 30, 20_000), waitForVideo(b, 30, 20_000)]);

    for (const p of [a, b]) {
      let pair: Awaited<ReturnType<typeof selectedPair>> = null;
      await until(async () => (pair = await selectedPair(p)) !== null, 10_000, `${p.name}: a selected candidate pair`);
      expect(pair, `${p.name} selected pair`).toEqual({ local: 'relay', remote: 'relay' });

      const { lines, raw } = await receivedCandidates(p);
      expect(lines.length, `${p.name} received candidates`).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line, `${p.name} received a non-relay candidate`).toMatch(/ typ relay( |$)/);
        expect(line).not.toMatch(/ typ (host|srflx|prflx)( |$)/);
        expect([...line.matchAll(/ raddr (\S+) rport (\S+)/g)].map((m) => `${m[1]}:${m[2]}`), `${p.name}: related address in ${line}`).toEqual(['0.0.0.0:0']);
      }
      for (const addr of ownAddresses()) expect(raw, `${p.name} received this machine's address ${addr}`).not.toContain(addr);
    }
    await saveScreenshot(a, 'hide-ip-relayed');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('a headless peer with --relay-only sends the page relay candidates with no related address, and they connect', async () => {
    const page = await open('page');
    await startIn(page, 'uk', { hideIp: true });
    await waitForStatus(page, /position 1/, 10_000, 'page queued');
    const [peer, rec] = sessions.create({ server: server.url, relayOnly: true, audio: null, target: { kind: 'hub', hub: 'uk' } }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    expect((await rec.next('connected', 20_000)).candidateType).toBe('relay');
    await waitForStatus(page, CONNECTED, 20_000, 'page connected');
    await waitForVideo(page, 10, 20_000);
    await until(async () => (await page.eval<boolean>('window.__chatzyo.received.some((r) => r.data.kind === "end-of-candidates")')), 10_000, 'the peer finished gathering');

    const { lines, raw } = await receivedCandidates(page);
    expect(lines.length, 'the page received candidates from the peer').toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatch(/ typ relay /);
      expect([...line.matchAll(/ raddr (\S+) rport (\S+)/g)].map((m) => `${m[1]}:${m[2]}`), line).toEqual(['0.0.0.0:0']);
    }
    for (const addr of ownAddresses()) expect(raw, `the page received this machine's address ${addr}`).not.toContain(addr);
    expect(page.errors).toEqual([]);
  });

  it('takes renewed TURN credentials during a relayed call, and the call outlives the first ones', async () => {
    const short = await startServer({ webRoot: web.dir, turnUrls: [coturn.url], turnSecret: coturn.secret, turnTtlSeconds: 8, screening: 'off' });
    try {
      const a = await openChromiumPage(browser, short.url, 'A-renew');
      const b = await openChromiumPage(browser, short.url, 'B-renew');
      pages.push(a, b);
      await startIn(a, 'usa', { hideIp: true });
      await waitForStatus(a, /position 1/, 10_000, 'A queued');
      await startIn(b, 'usa', { hideIp: true });
      await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
      const turnUser = () => a.eval<string | null>('(window.__chatzyo.pc?.getConfiguration().iceServers ?? []).find((s) => s.username)?.username ?? null');
      const first = await turnUser();
      expect(first, 'the match brought TURN credentials').toMatch(/^\d+:/);
      // Renewed at three quarters of 8 s. (With lifetimes of 2 and then 5 s a loaded CI box twice
      // left a page unconnected after 20 s, most likely a first TURN allocation made after its
      // credentials had expired, refused by coturn, and the call waiting for an ICE restart.)
      let seen = first;
      await until(async () => { seen = await turnUser() ?? seen; return seen !== first; }, 15_000, 'a renewal reached the page');
      expect(Number(seen!.split(':')[0])).toBeGreaterThan(Number(first!.split(':')[0]));
      const firstExpiresAt = Number(first!.split(':')[0]) * 1000;
      await until(() => Date.now() > firstExpiresAt + 500, 15_000, 'the first credentials expired', 250);
      // The relayed call goes on with its expired credentials (coturn keeps an allocation's key).
      const state = await a.eval<string>('window.__chatzyo.pc?.connectionState');
      expect(state).toBe('connected');
      await waitForVideo(a, 10, 10_000);
      expect([...a.errors, ...b.errors]).toEqual([]);
    } finally {
      await short.close();
    }
  });
});
