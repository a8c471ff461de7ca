// No wasted upload when the remote tab is hidden (issue 14), in two real Chromium pages (fake
// camera and microphone) through a real server: when B's page is hidden, B tells A over the
// state channel (`{"t":"media",...,"hidden":true}`), and A turns its video encoding off
// (`active: false`, no renegotiation) while its audio goes on; when B shows again, A's video
// goes out again and B decodes new frames at once (Chromium starts a reactivated encoding with a
// keyframe). A shows "Stranger's page is hidden" meanwhile. Audio only and the partner's hidden
// page both turn the encoding off, and neither turns it on while the other wants it off. The
// headless werift peer honours it too: it forwards no video to a hidden page, and on its return
// sends the encoder's last keyframe at once, then live video from the next keyframe.
//
// Hiding a tab is emulated: headless Chromium keeps every page visible (and a background tab or
// a minimized window cannot be made on a display-less machine), so the test overrides
// `document.visibilityState` and `document.hidden` in B's page and dispatches `visibilitychange`
// there, the event a browser fires when the tab is hidden. The page's own listener (the session's)
// then runs exactly as for a real hidden tab.
import { afterEach, describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openRigPage, pairRigPages, pollUntil, saveScreenshot, startIn, waitForStatus, waitForVideo, type ChatPage,
} from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from '../peer/helpers.js';

/** What the tests saw, printed at the end (the README's numbers). */
const seen: Record<string, unknown> = {};

/** Emulates B's tab being hidden or shown again (see the top of the file). */
async function setPageHidden(p: ChatPage, hidden: boolean): Promise<void> {
  await p.eval(`(() => {
    const state = ${JSON.stringify(hidden ? 'hidden' : 'visible')};
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  })()`);
}

interface Counters {
  /** When the reading was taken (Date.now() in the test), ms. */
  at: number;
  videoBytesSent: number;
  audioBytesSent: number;
  framesEncoded: number;
  keyFramesEncoded: number;
  /** PLIs the partner sent about our video. */
  pliCount: number;
  framesDecoded: number;
  keyFramesDecoded: number;
}

/** A page's RTP counters from getStats() (through the debug hook): what it sends and what it decodes. */
async function counters(p: ChatPage): Promise<Counters> {
  const stats = await p.eval<Record<string, unknown>[]>('window.__chatzyo.stats()');
  const of = (type: string, kind: string) => stats.filter((s) => s.type === type && (s.kind ?? s.mediaType) === kind);
  const sum = (rows: Record<string, unknown>[], key: string) => rows.reduce((n, s) => n + (typeof s[key] === 'number' ? s[key] : 0), 0);
  const vOut = of('outbound-rtp', 'video');
  const vIn = of('inbound-rtp', 'video');
  return {
    at: Date.now(),
    videoBytesSent: sum(vOut, 'bytesSent'), audioBytesSent: sum(of('outbound-rtp', 'audio'), 'bytesSent'),
    framesEncoded: sum(vOut, 'framesEncoded'), keyFramesEncoded: sum(vOut, 'keyFramesEncoded'), pliCount: sum(vOut, 'pliCount'),
    framesDecoded: sum(vIn, 'framesDecoded'), keyFramesDecoded: sum(vIn, 'keyFramesDecoded'),
  };
}

/** `active` of the page's video encoding (null without a video sender). */
const encodingActive = (p: ChatPage) => p.eval<boolean | null>('window.__chatzyo.videoSenderParameters()?.encodings[0]?.active ?? null');

/** Shown: not hidden and laid out with a size. */
const visible = (p: ChatPage, id: string) => p.eval<boolean>(`(() => {
  const e = document.querySelector('[data-testid="${id}"]');
  const r = e.getBoundingClientRect();
  return !e.hidden && getComputedStyle(e).display !== 'none' && r.width > 0 && r.height > 0;
})()`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `bytes` of what `read` returns stops growing (two readings `gapMs` apart the
 * same). Returns when that was seen, ms after `since` (the later of the two readings: an upper
 * bound on when the last byte moved), and that reading.
 */
async function stopsGrowing<T extends { at: number }>(
  read: () => Promise<T>, bytes: (c: T) => number, since: number, ms: number, what: string, gapMs = 400,
): Promise<{ afterMs: number; at: T }> {
  let prev = await read();
  const readings: number[] = [bytes(prev)];
  try {
    await until(async () => {
      await sleep(gapMs);
      const now = await read();
      readings.push(bytes(now));
      const still = bytes(now) === bytes(prev);
      prev = now;
      return still;
    }, ms, what, 0);
  } catch (err) {
    throw new Error(`${(err as Error).message} (bytes every ${gapMs} ms: ${readings.join(', ')})`);
  }
  return { afterMs: prev.at - since, at: prev };
}

describe('a hidden partner page gets no video', () => {
  const rig = useBrowserRig(launchChromium);
  const sessions = new Sessions();
  // Registered after the rig's hooks, so peers stop before their pages close.
  afterEach(() => sessions.closeAll());

  it('A stops sending video (audio goes on) within ~2 s of B hiding, and B decodes new frames at once when it shows again', async () => {
    const [a, b] = await pairRigPages(rig, 'global');
    await waitForVideo(b, 10, 20_000);
    expect(await encodingActive(a)).toBe(true);
    // Video flows before: A's bytes grow over half a second.
    const v0 = await counters(a);
    await sleep(500);
    const v1 = await counters(a);
    expect(v1.videoBytesSent, 'A sends video before B hides').toBeGreaterThan(v0.videoBytesSent);
    expect(await visible(a, 'partner-away')).toBe(false);

    const hiddenAt = Date.now();
    await setPageHidden(b, true);
    const stop = await stopsGrowing(() => counters(a), (c) => c.videoBytesSent, hiddenAt, 5000, 'A: outgoing video bytes stop growing after B hides');
    // The bound: within about two seconds of the tab being hidden.
    expect(stop.afterMs, 'ms from B hiding to A sending no more video').toBeLessThan(2000);
    expect(await encodingActive(a)).toBe(false);
    await until(() => visible(a, 'partner-away'), 5000, 'A shows that the stranger\'s page is hidden');
    expect(await a.text('partner-away')).toMatch(/page is hidden/);
    await saveScreenshot(a, 'hidden-tab-partner-away');

    // Over the next two seconds: no video bytes at all, audio keeps going; B decodes nothing new.
    const h0 = stop.at;
    const hb0 = await counters(b);
    await sleep(2000);
    const h1 = await counters(a);
    const hb1 = await counters(b);
    const hidden = { videoBytes: h1.videoBytesSent - h0.videoBytesSent, audioBytes: h1.audioBytesSent - h0.audioBytesSent, framesEncoded: h1.framesEncoded - h0.framesEncoded, bDecoded: hb1.framesDecoded - hb0.framesDecoded };
    expect(hidden.videoBytes, 'A video bytes sent while B is hidden').toBe(0);
    expect(hidden.framesEncoded, 'A video frames encoded while B is hidden').toBe(0);
    expect(hidden.audioBytes, 'A audio bytes sent while B is hidden (2 s of Opus)').toBeGreaterThan(2000);
    expect(hidden.bDecoded, 'frames B decoded while hidden').toBe(0);
    // A's preview and its own state are untouched: its camera is not "off", and B is not told so.
    expect(await visible(b, 'partner-camera-off')).toBe(false);

    // B shows again: A's video goes out again and B decodes new frames, starting on a keyframe.
    const a0 = await counters(a);
    const b0 = await counters(b);
    const shownAt = Date.now();
    await setPageHidden(b, false);
    const b1 = await pollUntil(() => counters(b), (c) => c.framesDecoded > b0.framesDecoded, 5000,
      (last) => `B decodes a new frame after showing again (have ${JSON.stringify(last)}, before ${JSON.stringify(b0)})`, 50);
    const firstFrameMs = b1.at - shownAt;
    await until(async () => (await counters(b)).framesDecoded >= b0.framesDecoded + 10, 5000, 'B decodes 10 new frames', 100);
    const a1 = await counters(a);
    const b2 = await counters(b);
    seen.hiddenTab = {
      stopAfterMs: stop.afterMs, hidden, firstFrameAfterShowMs: firstFrameMs,
      resumed: {
        aVideoBytes: a1.videoBytesSent - a0.videoBytesSent, aKeyFramesEncoded: a1.keyFramesEncoded - a0.keyFramesEncoded,
        aPliReceived: a1.pliCount - a0.pliCount, bFramesDecoded: b2.framesDecoded - b0.framesDecoded, bKeyFramesDecoded: b2.keyFramesDecoded - b0.keyFramesDecoded,
      },
    };
    expect(await encodingActive(a)).toBe(true);
    expect(a1.videoBytesSent, 'A sends video again').toBeGreaterThan(a0.videoBytesSent);
    // Quickly: the reactivated encoding starts with a keyframe, so B need not wait for one.
    expect(firstFrameMs, 'ms from B showing to its first new decoded frame').toBeLessThan(2000);
    expect(b2.keyFramesDecoded, 'B decoded a keyframe after showing again').toBeGreaterThan(b0.keyFramesDecoded);
    expect(a1.keyFramesEncoded, 'A encoded a keyframe on resuming').toBeGreaterThan(a0.keyFramesEncoded);
    await until(async () => !(await visible(a, 'partner-away')), 5000, 'A no longer shows the stranger\'s page hidden');
    expect([...a.errors, ...b.errors]).toEqual([]);
    console.log('hidden tab', JSON.stringify(seen));
  });

  it('audio only and a hidden partner page do not fight: video goes out only when neither wants it off', async () => {
    const [a, b] = await pairRigPages(rig, 'usa');
    await waitForVideo(b, 10, 20_000);
    // The pill shows once the call has a quality reading; audio only needs one to show its state.
    await until(() => a.eval<boolean>(`!document.querySelector('[data-testid="quality"]').hidden`), 15_000, 'A shows the quality pill');
    /** Presses A's audio-only toggle (its button shows only after a poor stretch; the click is the same). */
    const toggleAudioOnly = async (want: boolean) => {
      await a.eval(`document.querySelector('[data-testid="audio-only"]').click()`);
      await until(async () => (await a.eval<string>(`document.querySelector('[data-testid="audio-only"]').getAttribute('aria-pressed')`)) === String(want),
        5000, `A audio only ${want}`, 50);
    };
    const settles = async (want: boolean, what: string) => {
      await pollUntil(() => encodingActive(a), (v) => v === want, 5000, (last) => `A's video encoding active=${want} (${what}; is ${last})`);
      // And stays so: nothing undoes it a moment later.
      await sleep(700);
      expect(await encodingActive(a), what).toBe(want);
    };

    await toggleAudioOnly(true);
    await settles(false, 'audio only');
    await setPageHidden(b, true);
    await settles(false, 'audio only, B hidden');
    await setPageHidden(b, false);
    await settles(false, 'audio only, B shown again: still audio only');
    await setPageHidden(b, true);
    await settles(false, 'audio only, B hidden again');
    await toggleAudioOnly(false);
    await settles(false, 'audio only released, B still hidden');
    await setPageHidden(b, false);
    await settles(true, 'B shown, no audio only');
    const b0 = await counters(b);
    await until(async () => (await counters(b)).framesDecoded >= b0.framesDecoded + 10, 5000, 'B decodes A\'s video again', 100);
    // B was told A's camera is off only while A was in audio only, never for its own hidden page.
    expect(await visible(b, 'partner-camera-off')).toBe(false);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('the headless peer forwards no video to a hidden page (audio goes on) and resumes with a keyframe at once', async () => {
    const b = await openRigPage(rig, 'B');
    await startIn(b, 'uk');
    await waitForStatus(b, /position 1/, 10_000, 'B queued');
    const [peer, rec] = sessions.create({ server: rig.server.url, target: { kind: 'hub', hub: 'uk' } }, 'peer');
    await withTimeout(peer.start(), 15_000, 'peer start');
    await rec.next('connected', 20_000);
    await waitForStatus(b, CONNECTED, 20_000, 'B connected');
    await waitForVideo(b, 10, 20_000);
    // The state channel is up (the safety exchange runs on its neighbour) before B hides.
    await rec.next('safety', 20_000);

    /** What B receives: video and audio bytes, and what it decodes. */
    const inbound = async () => {
      const stats = await b.eval<Record<string, unknown>[]>('window.__chatzyo.stats()');
      const of = (kind: string) => stats.find((x) => x.type === 'inbound-rtp' && (x.kind ?? x.mediaType) === kind) ?? {};
      const n = (v: unknown) => (typeof v === 'number' ? v : 0);
      const v = of('video');
      return { at: Date.now(), videoBytes: n(v.bytesReceived), audioBytes: n(of('audio').bytesReceived), framesDecoded: n(v.framesDecoded), keyFramesDecoded: n(v.keyFramesDecoded) };
    };
    const hiddenAt = Date.now();
    await setPageHidden(b, true);
    const stop = await stopsGrowing(inbound, (c) => c.videoBytes, hiddenAt, 5000, 'B stops receiving video from the peer after hiding');
    const stopAfterMs = stop.afterMs;
    expect(stopAfterMs, 'ms from B hiding to no more video from the peer').toBeLessThan(2000);
    const h0 = stop.at;
    await sleep(2000);
    const h1 = await inbound();
    expect(h1.videoBytes - h0.videoBytes, 'video bytes from the peer while B is hidden').toBe(0);
    expect(h1.audioBytes - h0.audioBytes, 'audio bytes from the peer while B is hidden').toBeGreaterThan(2000);

    const shownAt = Date.now();
    await setPageHidden(b, false);
    const first = await pollUntil(inbound, (c) => c.framesDecoded > h1.framesDecoded, 5000,
      (last) => `B decodes the peer's video again (have ${JSON.stringify(last)}, before ${JSON.stringify(h1)})`, 50);
    await until(async () => (await inbound()).framesDecoded >= h1.framesDecoded + 10, 5000, 'B decodes 10 new frames from the peer', 100);
    const after = await inbound();
    seen.peer = { stopAfterMs, hiddenAudioBytes: h1.audioBytes - h0.audioBytes, firstFrameAfterShowMs: first.at - shownAt, keyFramesDecoded: after.keyFramesDecoded - h1.keyFramesDecoded };
    // At once: the cached keyframe goes out as soon as the page says it shows.
    expect(first.at - shownAt, 'ms from B showing to its first new frame from the peer').toBeLessThan(1500);
    expect(after.keyFramesDecoded, 'B decoded a keyframe from the peer after showing').toBeGreaterThan(h1.keyFramesDecoded);
    expect(rec.all('warning')).toEqual([]);
    expect(b.errors).toEqual([]);
    console.log('hidden tab, headless peer', JSON.stringify(seen.peer));
  });
});
