import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, openChromiumPage, pollUntil, saveScreenshot, startIn, waitForStatus,
  type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let browser: Browser;
/** An honest server, and one that plays a man in the middle by swapping the answer's DTLS fingerprint. */
let honest: SignalServer;
let tampering: SignalServer;
let swapped = 0;
const pages: ChatPage[] = [];

const SAFETY = /^\d{4} \d{4} \d{4}$/;

/** Rewrites the sha-256 fingerprint of an answer (the key a middleman would substitute for its own). */
function swapFingerprint(data: SignalData): SignalData {
  if (data.kind !== 'answer') return data;
  const sdp = data.sdp.replace(/^(a=fingerprint:sha-256 )([0-9A-F]{2})/im, (_, head: string, first: string) => {
    swapped++;
    return head + (first.toUpperCase() === 'AA' ? 'BB' : 'AA');
  });
  return { ...data, sdp };
}

beforeAll(async () => {
  web = await buildWebClient();
  // Each result is kept as soon as it exists, so afterAll cleans up even when another one fails.
  await Promise.all([
    launchChromium().then((b) => { browser = b; }),
    startServer({ webRoot: web.dir }).then((s) => { honest = s; }),
    startServer({ webRoot: web.dir }, { tamper: (data) => swapFingerprint(data) }).then((s) => { tampering = s; }),
  ]);
});
afterAll(async () => {
  await closeAll(pages);
  await browser?.close();
  await Promise.all([honest?.close(), tampering?.close()]);
  web?.remove();
});

async function pairUp(server: SignalServer, hub: string): Promise<[ChatPage, ChatPage]> {
  const a = await openChromiumPage(browser, server.url, `A@${hub}`);
  pages.push(a);
  const b = await openChromiumPage(browser, server.url, `B@${hub}`);
  pages.push(b);
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 10_000, 'A queued');
  await startIn(b, hub);
  return [a, b];
}

/** Both pages' safety numbers for one and the same match (match ids read before and after agree). */
async function safetyNumbers(a: ChatPage, b: ChatPage): Promise<[string, string]> {
  const matchIds = async () => [await a.eval<string | null>('window.__chatzyo.matchId'), await b.eval<string | null>('window.__chatzyo.matchId')];
  const read = async () => {
    const before = await matchIds();
    const numbers: [string, string] = [await a.text('safety-number'), await b.text('safety-number')];
    const after = await matchIds();
    const oneMatch = before[0] !== null && [before[1], after[0], after[1]].every((id) => id === before[0]);
    return { oneMatch, numbers };
  };
  const got = await pollUntil(read, (r) => r.oneMatch && SAFETY.test(r.numbers[0]) && SAFETY.test(r.numbers[1]), 20_000,
    (last) => `both pages show a safety number for the same match (have ${JSON.stringify(last)})`);
  return got.numbers;
}

describe('safety number', () => {
  it('is the same on both pages of a call', async () => {
    const [a, b] = await pairUp(honest, 'uk');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
    const [na, nb] = await safetyNumbers(a, b);
    expect(na).toBe(nb);
    await saveScreenshot(a, 'safety-number-match');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('differs when the signaling server swaps a DTLS fingerprint, and the call never connects', async () => {
    const [a, b] = await pairUp(tampering, 'hindi');
    const [na, nb] = await safetyNumbers(a, b);
    expect(swapped).toBeGreaterThan(0);
    expect(na).not.toBe(nb);
    // DTLS checks the certificate against the (swapped) fingerprint: the handshake fails.
    await until(async () => (await a.eval<string | null>('window.__chatzyo.pc?.connectionState ?? null')) === 'failed'
      || (await b.eval<string | null>('window.__chatzyo.pc?.connectionState ?? null')) === 'failed', 20_000, 'one side sees DTLS fail');
    expect(await a.text('status')).not.toMatch(CONNECTED);
    expect(await b.text('status')).not.toMatch(CONNECTED);
    await saveScreenshot(b, 'safety-number-tampered');
  });
});
