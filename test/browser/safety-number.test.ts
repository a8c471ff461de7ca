/**
 * The safety number in real Chromium pages (docs/safety-number.md): the same on both pages of
 * an honest call; different on the two sides when the signaling server is a man in the middle
 * that terminates DTLS on both legs and runs the exchange on each (test/helpers/mitm.ts), for
 * browser<->browser and browser<->headless peer; a warning, never a number, when it relays the
 * exchange between its legs; "unavailable" when the partner never opens the safety channel; and
 * no number at all when a server merely swaps a fingerprint.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { sdpFingerprints, type SignalData } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import {
  buildWebClient, closeAll, CONNECTED, launchChromium, openChromiumPage, pollUntil, saveScreenshot, startIn, waitForStatus,
  type ChatPage,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { MitmServer } from '../helpers/mitm.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from '../peer/helpers.js';

let web: Awaited<ReturnType<typeof buildWebClient>>;
let browser: Browser;
/** An honest server (also the matchmaker behind the middlemen), and one that swaps the answer's DTLS fingerprint. */
let honest: SignalServer;
let tampering: SignalServer;
/** Men in the middle in front of the honest server: one runs its own exchange per leg, one relays it. */
let mitmOwn: MitmServer;
let mitmRelay: MitmServer;
/** And one that never opens the safety channel, like a client without the exchange. */
let mitmSilent: MitmServer;
let swapped = 0;
const pages: ChatPage[] = [];
const sessions = new Sessions();

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
    startServer({ webRoot: web.dir, rematchCooldownMs: 0, screening: 'off' }).then(async (s) => {
      honest = s;
      mitmOwn = await MitmServer.start(s, 'own');
      mitmRelay = await MitmServer.start(s, 'relay');
      mitmSilent = await MitmServer.start(s, 'silent');
    }),
    startServer({ webRoot: web.dir, screening: 'off' }, { tamper: (data) => swapFingerprint(data) }).then((s) => { tampering = s; }),
  ]);
});
// Calls of one test must not load the machine during the next one.
afterEach(async () => {
  await sessions.closeAll();
  await closeAll(pages);
});
afterAll(async () => {
  await closeAll(pages);
  await browser?.close();
  await Promise.all([mitmOwn?.close(), mitmRelay?.close(), mitmSilent?.close()]);
  await Promise.all([honest?.close(), tampering?.close()]);
  web?.remove();
});

async function open(url: string, name: string): Promise<ChatPage> {
  const p = await openChromiumPage(browser, url, name);
  pages.push(p);
  return p;
}

async function pairUp(url: string, hub: string): Promise<[ChatPage, ChatPage]> {
  const a = await open(url, `A@${hub}`);
  const b = await open(url, `B@${hub}`);
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 10_000, 'A queued');
  await startIn(b, hub);
  return [a, b];
}

/** What the page's safety box shows: its check state and text. */
async function safetyBox(p: ChatPage): Promise<{ check: string; text: string; matchId: string | null }> {
  return p.eval(`(() => {
    const el = document.querySelector('[data-testid="safety-number"]');
    return { check: el.dataset.check ?? '', text: el.textContent ?? '', matchId: window.__chatzyo.matchId };
  })()`);
}

/** Waits until the page's safety check has ended (verified, failed or unavailable). */
async function safetyOutcome(p: ChatPage): Promise<{ check: string; text: string; matchId: string | null }> {
  return pollUntil(() => safetyBox(p), (s) => ['verified', 'failed', 'unavailable'].includes(s.check), 20_000,
    (last) => `${p.name}: the safety check ends (have ${JSON.stringify(last)})`);
}

/** The sorted sha-256 fingerprints of the page's local and remote description. */
async function certs(p: ChatPage): Promise<{ local: string[]; remote: string[] }> {
  const [l, r] = await p.eval<[string, string]>('[window.__chatzyo.pc.localDescription.sdp, window.__chatzyo.pc.remoteDescription.sdp]');
  return { local: sdpFingerprints(l), remote: sdpFingerprints(r) };
}

describe('safety number', () => {
  it('is the same on both pages of an honest call', async () => {
    const [a, b] = await pairUp(honest.url, 'uk');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
    const [sa, sb] = await Promise.all([safetyOutcome(a), safetyOutcome(b)]);
    expect(sa.check).toBe('verified');
    expect(sa.text).toMatch(SAFETY);
    expect(sa.matchId).toBe(sb.matchId);
    expect(sb.text).toBe(sa.text);
    await saveScreenshot(a, 'safety-number-match');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('differs on the two pages when the server is a man in the middle that runs the exchange on each leg', async () => {
    const [a, b] = await pairUp(mitmOwn.url, 'hindi');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected (to the middleman)'), waitForStatus(b, CONNECTED, 20_000, 'B connected (to the middleman)')]);
    const [sa, sb] = await Promise.all([safetyOutcome(a), safetyOutcome(b)]);
    expect([sa.check, sb.check]).toEqual(['verified', 'verified']);
    expect(sa.text).toMatch(SAFETY);
    expect(sb.text).toMatch(SAFETY);
    expect(sa.matchId).toBe(sb.matchId);
    expect(sa.text).not.toBe(sb.text);
    // Each page's number is the one the middleman agreed with it on its leg: it held both DTLS sessions.
    const legs = mitmOwn.pair(sa.matchId!)!;
    const own = await Promise.all(legs.map((l) => withTimeout(l.safety, 5000, 'middleman leg outcome')));
    expect(own.map((o) => (o.state === 'verified' ? o.number : o.state)).sort()).toEqual([sa.text, sb.text].sort());
    const [ca, cb] = await Promise.all([certs(a), certs(b)]);
    expect(ca.remote).not.toEqual(cb.local);
    expect(cb.remote).not.toEqual(ca.local);
    await saveScreenshot(a, 'safety-number-mitm-a');
    await saveScreenshot(b, 'safety-number-mitm-b');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('shows a warning and no number on both pages when the middleman relays the exchange between its legs', async () => {
    const [a, b] = await pairUp(mitmRelay.url, 'tamil');
    const [sa, sb] = await Promise.all([safetyOutcome(a), safetyOutcome(b)]);
    expect([sa.check, sb.check]).toEqual(['failed', 'failed']);
    for (const s of [sa, sb]) {
      expect(s.text).toMatch(/safety check failed/i);
      expect(s.text).not.toMatch(/\d{4}/);
    }
    // The middleman did see both sides' commitments and nonces, and passed them on.
    const legs = mitmRelay.pair(sa.matchId!)!;
    expect(legs.every((l) => l.safetyIn.some((m) => m.includes('"commit"')))).toBe(true);
    await saveScreenshot(a, 'safety-number-mitm-relay');
  });

  it('differs between a page and a headless peer when the server is a man in the middle', async () => {
    const page = await open(mitmOwn.url, 'page@malayalam');
    await startIn(page, 'malayalam');
    await waitForStatus(page, /position 1/, 10_000, 'page queued');
    const [peer, rec] = sessions.create({ server: mitmOwn.url, target: { kind: 'hub', hub: 'malayalam' }, video: null, audio: null }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    const n = await rec.next('safety', 20_000);
    const s = await safetyOutcome(page);
    expect(s.check).toBe('verified');
    expect(s.matchId).toBe(n.matchId);
    expect(s.text).toMatch(SAFETY);
    expect(n.safetyNumber).toMatch(SAFETY);
    expect(s.text).not.toBe(n.safetyNumber);
    expect(page.errors).toEqual([]);
  });

  it('is unavailable, and the call goes on, when the partner never opens the safety channel', async () => {
    const [a, b] = await pairUp(mitmSilent.url, 'global');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected'), waitForStatus(b, CONNECTED, 20_000, 'B connected')]);
    // The page waits SAFETY_TIMEOUT_MS (10 s) for the partner's side of the exchange.
    const [sa, sb] = await Promise.all([safetyOutcome(a), safetyOutcome(b)]);
    for (const s of [sa, sb]) {
      expect(s.check).toBe('unavailable');
      expect(s.text).toMatch(/^Unavailable/);
    }
    expect(await a.text('status')).toMatch(CONNECTED);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('is never shown when a server only swaps a DTLS fingerprint: DTLS fails and the call never connects', async () => {
    const [a, b] = await pairUp(tampering.url, 'usa');
    // DTLS checks the certificate against the (swapped) fingerprint: the handshake fails.
    const state = (p: typeof a) => p.eval<string | null>('window.__chatzyo.pc?.connectionState ?? null');
    await until(async () => (await state(a)) === 'failed' || (await state(b)) === 'failed', 20_000, 'one side sees DTLS fail');
    expect(swapped).toBeGreaterThan(0);
    // The side that checked the swapped fingerprint refuses the call. The other side's DTLS may
    // have finished first (the checking side can verify the digest after sending its Finished;
    // a CI run saw the other page say "connected" for a moment): it must still never see a
    // safety number, because nothing reaches it over a transport its partner refused.
    const failed = (await state(a)) === 'failed' ? a : b;
    expect(await failed.text('status')).not.toMatch(CONNECTED);
    for (const p of [a, b]) {
      const box = await safetyBox(p);
      expect(box.text).not.toMatch(/\d{4}/);
      expect(box.check).not.toBe('verified');
    }
    await saveScreenshot(b, 'safety-number-tampered');
  });
});
