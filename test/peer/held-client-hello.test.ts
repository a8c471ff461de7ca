// Regression: the page's first ClientHello, held because it came before werift's DTLS server
// existed (holdEarlyDtls in src/peer/werift-seam.ts), was handed over in a setImmediate. On a
// loaded machine that ran after the page's repeated ClientHellos had already finished the
// handshake; werift's server, connected, took the old ClientHello for a new handshake and
// dropped its session keys. SRTP has keys of its own, so video and audio went on, but every
// SCTP record after failed: the safety number never came (CI: chromium.test.ts and
// firefox.test.ts waited 5 s for it) and chat died without a word.
//
// This test makes that timing certain: werift's DTLS endpoint comes up 300 ms after its ICE
// (so the page's ClientHello arrives first and is held), and what is scheduled for the check
// phase at that moment runs 1.5 s late (a busy event loop). The call must still verify the
// safety number and carry chat both ways after that 1.5 s.
import { RTCDtlsTransport } from 'werift';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBrowserRig, CONNECTED, launchChromium, openChromiumPage, startIn, waitForStatus } from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from './helpers.js';

const rig = useBrowserRig(launchChromium);
const { pages } = rig;
const sessions = new Sessions();

// Registered after the rig's hooks, so peers stop before their pages close.
afterEach(() => sessions.closeAll());

/** How late werift's DTLS endpoint comes up after its ICE, and how late the check phase runs then. */
const DTLS_START_LATE_MS = 300;
const CHECK_PHASE_LATE_MS = 1500;

type DtlsInternals = { start(): Promise<void>; setState(state: string, emit?: boolean): void };
const proto = RTCDtlsTransport.prototype as unknown as DtlsInternals;
const { start, setState } = proto;
/** Callbacks scheduled late, and how many of them have run. */
const late = { scheduled: 0, ran: 0 };

beforeAll(() => {
  proto.start = async function (this: DtlsInternals) {
    await new Promise((r) => setTimeout(r, DTLS_START_LATE_MS));
    return start.call(this);
  };
  proto.setState = function (this: DtlsInternals, state: string, emit?: boolean) {
    if (state !== 'connecting') { setState.call(this, state, emit); return; }
    // Only what the 'connecting' listeners schedule runs late, nothing else in this process.
    const immediate = globalThis.setImmediate;
    globalThis.setImmediate = ((f: (...a: unknown[]) => void, ...a: unknown[]) => {
      late.scheduled++;
      return setTimeout(() => { late.ran++; f(...a); }, CHECK_PHASE_LATE_MS);
    }) as unknown as typeof setImmediate;
    try {
      setState.call(this, state, emit);
    } finally {
      globalThis.setImmediate = immediate;
    }
  };
});
afterAll(() => {
  proto.start = start;
  proto.setState = setState;
});

describe('a ClientHello held before werift\'s DTLS server existed', () => {
  it('never reaches the server after the handshake: the safety number and chat still work once the late check phase has run', async () => {
    const page = await openChromiumPage(rig.browser, rig.server.url, 'chromium (held hello)');
    pages.push(page);
    await startIn(page, 'tamil');
    await waitForStatus(page, /position 1/, 10_000, 'page waits first in tamil');
    const [peer, rec] = sessions.create({ server: rig.server.url, audio: null }, 'peer');
    // The page's DTLS records that reach the peer before its DTLS transport starts (what is held).
    let early = 0;
    peer.once('matched', () => {
      for (const t of peer.call!.pc.dtlsTransports) {
        t.iceTransport.connection.onData.subscribe((buf: Buffer) => { if (t.state === 'new' && buf[0] === 22) early++; });
      }
    });
    await withTimeout(peer.start(), 15_000, 'peer start');
    await rec.next('connected', 20_000);
    await waitForStatus(page, CONNECTED, 20_000, 'page connected');
    expect(early, 'the page\'s ClientHello came before werift\'s DTLS server (the timing this test is about)').toBeGreaterThan(0);

    const n = await rec.next('safety', 15_000);
    await until(async () => (await page.text('safety-number')).includes(n.safetyNumber), 10_000, 'page shows the same safety number');
    // Past the late check phase: whatever was scheduled for it has run.
    await until(() => late.ran === late.scheduled, CHECK_PHASE_LATE_MS + 5000, `the late callbacks ran (${late.ran} of ${late.scheduled})`);
    expect(peer.sendChat('after the late check phase')).toBe(true);
    await until(async () => (await page.text('chat-log')).includes('after the late check phase'), 10_000, 'page shows the peer\'s chat');
    await page.fill('chat-input', 'and back');
    await page.click('chat-send');
    expect((await rec.next('chat', 10_000)).text).toBe('and back');
    expect(page.errors).toEqual([]);
  });
});
