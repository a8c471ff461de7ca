import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, openChromiumPage, saveScreenshot, selectedPair, startIn, waitForStatus,
  waitForVideo, type ChatPage,
} from '../helpers/browsers.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { until } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let browser: Browser;
let coturn: Coturn;
let server: SignalServer;
const pages: ChatPage[] = [];

beforeAll(async () => {
  web = await buildWebClient();
  // UDP only: the helper picks a port free for UDP, and a TCP listener on the same number can
  // collide with a busy machine's ephemeral TCP ports (coturn then retries its bind forever).
  await Promise.all([launchChromium().then((b) => { browser = b; }), startCoturn({ extraArgs: ['--no-tcp'] }).then((c) => { coturn = c; })]);
  server = await startServer({ webRoot: web.dir, turnUrls: [coturn.url], turnSecret: coturn.secret });
});
afterAll(async () => {
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
      }
      for (const addr of ownAddresses()) expect(raw, `${p.name} received this machine's address ${addr}`).not.toContain(addr);
    }
    await saveScreenshot(a, 'hide-ip-relayed');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });
});
