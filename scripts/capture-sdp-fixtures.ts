/**
 * Captures the sample offers in fixtures/sdp/ (see fixtures/README.md): what a partner receives
 * from each kind of chatzyo client when that client is the offerer. Run once, by hand, when the
 * stacks change; the tests read the committed files.
 *
 *   npx tsx scripts/capture-sdp-fixtures.ts [OUT_DIR]     (default fixtures/sdp)
 *
 * - chromium, firefox: the browser client (bundled from src/web) in Debian's chromium and
 *   firefox-esr with a fake camera and microphone, waiting first in a hub; a raw protocol client
 *   joins second, so the page offers, and records the `signal` messages it gets.
 * - werift: the headless peer's Call (src/peer/call.ts), sending VP8 video and Opus audio.
 *
 * Each stack writes `<stack>-offer.sdp` (the offer as sent, line endings kept) and
 * `<stack>-candidates.jsonl` (each trickled signal `data`, one JSON object a line, up to
 * end-of-candidates). Addresses are rewritten into documentation ranges (RFC 5737, RFC 3849):
 * host addresses to 203.0.113.0/24, server-reflexive and relayed ones to 198.51.100.0/24, IPv6
 * to 2001:db8::/32 (the test STUN server runs on loopback, so a server-reflexive 127.0.0.1 becomes
 * a 198.51.100.x too); the same address gets the same replacement in both files. mDNS names, ICE
 * credentials and fingerprints are left as generated (random per call, they say nothing).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Call } from '../src/peer/call.js';
import type { SignalData } from '../src/protocol/index.js';
import {
  buildWebClient, launchChromium, launchFirefox, openChromiumPage, openFirefoxPage, startIn, waitForStatus, type ChatPage,
} from '../test/helpers/browsers.js';
import { until, withTimeout } from '../test/helpers/deadline.js';
import { startServer } from '../test/helpers/server.js';
import { TestClient } from '../test/helpers/ws-client.js';

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../..');
const OUT = path.resolve(process.argv[2] ?? path.join(ROOT, 'fixtures/sdp'));

/** The signals an offerer sent, up to its end-of-candidates. */
interface Capture { offer: string; candidates: SignalData[] }

function done(signals: SignalData[]): boolean {
  return signals.some((s) => s.kind === 'offer') && signals.some((s) => s.kind === 'end-of-candidates');
}

/** A raw client joins `hub` after the page and records what the page (the offerer) sends. */
async function captureFromPage(wsUrl: string, page: ChatPage): Promise<Capture> {
  await startIn(page, 'global');
  await waitForStatus(page, /position 1/, 10_000, `${page.name} waits first`);
  const answerer = await TestClient.connect(wsUrl);
  try {
    answerer.send({ type: 'join', hub: 'global' });
    const m = await answerer.next('matched', 10_000);
    if (m.role !== 'answerer') throw new Error(`expected to answer, got ${m.role}`);
    const signals: SignalData[] = [];
    await until(async () => {
      for (const s of answerer.pending('signal')) {
        signals.push((await answerer.next('signal')).data);
        void s;
      }
      return done(signals);
    }, 15_000, `${page.name}: offer and end-of-candidates`);
    return split(signals);
  } finally {
    await answerer.close();
  }
}

/** The headless peer's Call as the offerer (no media sources needed to make the offer). */
async function captureFromWerift(stunUrl: string): Promise<Capture> {
  const signals: SignalData[] = [];
  const call = new Call({
    matchId: 'fixture-capture', role: 'offerer', iceServers: [{ urls: stunUrl }], relayOnly: false,
    videoCodec: 'vp8', sendVideo: true, sendAudio: true, sendSignal: (d) => signals.push(d), matchedAt: Date.now(),
  });
  try {
    call.start();
    await until(() => done(signals), 15_000, 'werift: offer and end-of-candidates');
    return split(signals);
  } finally {
    await call.close();
  }
}

function split(signals: SignalData[]): Capture {
  const offer = signals.find((s) => s.kind === 'offer');
  if (!offer || offer.kind !== 'offer') throw new Error('no offer');
  const eoc = signals.findIndex((s) => s.kind === 'end-of-candidates');
  return { offer: offer.sdp, candidates: signals.filter((s, i) => s.kind !== 'offer' && i <= eoc) };
}

const IPV4 = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
const IPV6 = /(?<![\w:.-])(?:[0-9a-f]{1,4}:){1,7}(?::|(?::[0-9a-f]{1,4}){1,6}|[0-9a-f]{1,4})(?![\w:.-])/gi;
/** Unspecified addresses say nothing; loopback is kept outside candidates (Chromium's `o=` line). */
const KEEP = new Set(['0.0.0.0', '::']);
const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** Rewrites every address of one capture into documentation ranges, consistently. */
function rewrite(c: Capture): Capture {
  const map = new Map<string, string>();
  let host = 10;
  let outside = 10;
  let v6 = 0x10;
  // Server-reflexive and relayed addresses, and related addresses, are "outside" ones.
  const outsideAddrs = new Set<string>();
  const lines = [...c.offer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')), ...c.candidates.flatMap((s) => (s.kind === 'candidate' ? [s.candidate.candidate] : []))];
  for (const l of lines) {
    const t = l.replace(/^a=/, '').split(' ');
    if (t[7] === 'srflx' || t[7] === 'relay') outsideAddrs.add(t[4]!);
  }
  const to = (addr: string): string => {
    if (KEEP.has(addr) || (LOOPBACK.has(addr) && !outsideAddrs.has(addr))) return addr;
    let r = map.get(addr);
    if (!r) {
      if (addr.includes(':')) r = `2001:db8::${(v6++).toString(16)}`;
      else if (outsideAddrs.has(addr)) r = `198.51.100.${outside++}`;
      else r = `203.0.113.${host++}`;
      map.set(addr, r);
    }
    return r;
  };
  const fix = (s: string) => s.replace(IPV6, (a) => (a.includes('::') || a.split(':').length >= 3 ? to(a.toLowerCase()) : a)).replace(IPV4, to);
  return {
    offer: fix(c.offer),
    candidates: c.candidates.map((s) => (s.kind === 'candidate' ? { ...s, candidate: { ...s.candidate, candidate: fix(s.candidate.candidate) } } : s)),
  };
}

function write(stack: string, c: Capture): void {
  const r = rewrite(c);
  writeFileSync(path.join(OUT, `${stack}-offer.sdp`), r.offer);
  writeFileSync(path.join(OUT, `${stack}-candidates.jsonl`), r.candidates.map((s) => JSON.stringify(s)).join('\n') + '\n');
  process.stdout.write(`${stack}: offer ${r.offer.length} bytes, ${r.candidates.length} candidate signals\n`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const web = await buildWebClient();
  const server = await startServer({ webRoot: web.dir });
  try {
    const stunUrl = `stun:127.0.0.1:${server.stunPort}`;
    write('werift', await captureFromWerift(stunUrl));

    const chromium = await launchChromium();
    try {
      const page = await openChromiumPage(chromium, server.url, 'chromium');
      write('chromium', await captureFromPage(server.wsUrl, page));
      await page.close();
    } finally {
      await chromium.close();
    }

    const firefox = await launchFirefox();
    try {
      const page = await openFirefoxPage(firefox, server.url, 'firefox');
      write('firefox', await captureFromPage(server.wsUrl, page));
      await page.close();
    } finally {
      await withTimeout(firefox.close(), 20_000, 'firefox close').catch(() => { /* gone */ });
    }
  } finally {
    await server.close();
    web.remove();
  }
}

await main();
