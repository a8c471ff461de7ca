// The call controls of the browser client, in real Chromium pages (fake camera and microphone)
// through a real server: Mute disables the outgoing audio track and stays on across Next; Camera
// off disables the outgoing video track and the partner shows a "camera off" placeholder (told
// over the state channel, docs/protocol.md "The state channel"), gone again on Camera on;
// typing in the chat input shows "Stranger is typing" on the other page until the message
// comes (or ~3 s pass); Switch camera is hidden with one camera, and with three (Chromium's
// `device-count=3` fake devices) it cycles the sent track through them without a new offer.
import { describe, expect, it } from 'vitest';
import {
  useBrowserRig, CONNECTED, launchChromium, openRigPage, pairRigPages, pollUntil, saveScreenshot, startIn, waitForStatus, waitForVideo,
  type ChatPage,
} from '../helpers/browsers.js';
import { until } from '../helpers/deadline.js';

const pressed = (p: ChatPage, id: string) => p.eval<string | null>(`document.querySelector('[data-testid="${id}"]').getAttribute('aria-pressed')`);
const disabled = (p: ChatPage, id: string) => p.eval<boolean>(`document.querySelector('[data-testid="${id}"]').disabled`);
/** Shown: not hidden and laid out with a size (so a person sees it). */
const visible = (p: ChatPage, id: string) => p.eval<boolean>(`(() => {
  const e = document.querySelector('[data-testid="${id}"]');
  const r = e.getBoundingClientRect();
  return !e.hidden && getComputedStyle(e).display !== 'none' && r.width > 0 && r.height > 0;
})()`);
/** `enabled` of the track the current call sends for `kind` (null without a sender track). */
const sending = (p: ChatPage, kind: 'audio' | 'video') =>
  p.eval<boolean | null>(`window.__chatzyo.pc.getSenders().find((s) => s.track && s.track.kind === '${kind}')?.track.enabled ?? null`);

async function waitVisible(p: ChatPage, id: string, want: boolean, ms: number, what: string): Promise<void> {
  await pollUntil(() => visible(p, id), (v) => v === want, ms, (last) => `${p.name}: ${what} (${id} visible: ${last})`);
}

describe('call controls, one camera', () => {
  const rig = useBrowserRig(launchChromium);

  it('mute and camera off: aria-pressed, disabled tracks, and the partner shows the camera-off placeholder until the camera is on again', async () => {
    const [a, b] = await pairRigPages(rig, 'tamil');
    expect(await disabled(a, 'mute')).toBe(false);
    expect(await disabled(a, 'camera-off')).toBe(false);
    expect([await pressed(a, 'mute'), await pressed(a, 'camera-off')]).toEqual(['false', 'false']);
    expect(await sending(a, 'audio')).toBe(true);
    await waitForVideo(b, 10, 20_000);

    await a.click('mute');
    expect(await pressed(a, 'mute')).toBe('true');
    expect(await sending(a, 'audio')).toBe(false);
    expect(await sending(a, 'video')).toBe(true);
    // The partner is told: a small "microphone is off" badge, not the camera placeholder.
    await waitVisible(b, 'partner-mic-off', true, 5000, 'B shows A is muted');
    expect(await visible(b, 'partner-camera-off')).toBe(false);
    await a.click('mute');
    expect(await pressed(a, 'mute')).toBe('false');
    expect(await sending(a, 'audio')).toBe(true);
    await waitVisible(b, 'partner-mic-off', false, 5000, 'B no longer shows A muted');

    await a.click('camera-off');
    expect(await pressed(a, 'camera-off')).toBe('true');
    expect(await sending(a, 'video')).toBe(false);
    await waitVisible(b, 'partner-camera-off', true, 5000, 'B shows the camera-off placeholder');
    expect(await b.text('partner-camera-off')).toMatch(/camera off/i);
    expect(await visible(a, 'partner-camera-off')).toBe(false);
    await saveScreenshot(b, 'call-controls-partner-camera-off');
    await a.click('camera-off');
    expect(await pressed(a, 'camera-off')).toBe('false');
    expect(await sending(a, 'video')).toBe(true);
    await waitVisible(b, 'partner-camera-off', false, 5000, 'B hides the placeholder again');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('the buttons are usable only in a call, and mute stays on across Next', async () => {
    const [a, b, c] = await Promise.all([openRigPage(rig, 'A'), openRigPage(rig, 'B'), openRigPage(rig, 'C')]);
    expect(await disabled(a, 'mute')).toBe(true);
    expect(await disabled(a, 'camera-off')).toBe(true);
    await startIn(a, 'usa');
    await waitForStatus(a, /position 1/, 10_000, 'A queued');
    expect(await disabled(a, 'mute')).toBe(true); // searching is not a call
    await startIn(b, 'usa');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected to B'), waitForStatus(b, CONNECTED, 20_000, 'B connected to A')]);
    await a.click('mute');
    expect(await sending(a, 'audio')).toBe(false);

    await startIn(c, 'usa');
    await waitForStatus(c, /position 1/, 10_000, 'C queued');
    await a.click('next');
    await Promise.all([waitForStatus(a, CONNECTED, 20_000, 'A connected to C'), waitForStatus(c, CONNECTED, 20_000, 'C connected to A')]);
    expect(await pressed(a, 'mute')).toBe('true');
    expect(await sending(a, 'audio')).toBe(false);
    // The new partner is told at once, when the state channel opens.
    await waitVisible(c, 'partner-mic-off', true, 5000, 'C shows A is muted');
    expect(await disabled(b, 'mute')).toBe(true); // B was left, not in a call
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([]);
  });

  it('"Stranger is typing" shows while the partner types, and clears when the message comes or ~3 s later', async () => {
    const [a, b] = await pairRigPages(rig, 'uk');
    await until(() => a.eval<boolean>(`!document.querySelector('[data-testid="chat-input"]').disabled`), 10_000, 'A chat opens');
    expect(await b.text('typing')).toBe('');
    await a.fill('chat-input', 'hel');
    await pollUntil(() => b.text('typing'), (t) => /typing/i.test(t), 5000, (t) => `B shows A typing (typing: ${JSON.stringify(t)})`);
    expect(await a.text('typing')).toBe('');
    await a.click('chat-send');
    await until(async () => (await b.text('chat-log')).includes('hel'), 5000, 'B gets the message');
    expect(await b.text('typing')).toBe('');

    // At most one typing message per 2 s: wait that out, type again, and let the indicator time out.
    await new Promise((r) => setTimeout(r, 2100));
    await a.fill('chat-input', 'again');
    await pollUntil(() => b.text('typing'), (t) => /typing/i.test(t), 5000, (t) => `B shows A typing again (typing: ${JSON.stringify(t)})`);
    const shownAt = Date.now();
    await pollUntil(() => b.text('typing'), (t) => t === '', 6000, (t) => `B's typing indicator times out (typing: ${JSON.stringify(t)})`);
    expect(Date.now() - shownAt).toBeGreaterThan(2000);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('switch camera is hidden with one camera', async () => {
    const [a] = await pairRigPages(rig, 'hindi');
    const cameras = await a.eval<number>(`navigator.mediaDevices.enumerateDevices().then((d) => d.filter((x) => x.kind === 'videoinput').length)`);
    expect(cameras).toBe(1);
    expect(await visible(a, 'switch-camera')).toBe(false);
  });
});

describe('call controls, several cameras', () => {
  // Chromium's fake capture with three devices. fake_device_1 is a Y16 (depth) camera, which
  // plays in a <video> but which Chromium's encoder takes no frames from; fake_device_2 (MJPEG)
  // is encoded like fake_device_0. So the cycle is checked on all three, the video on the third.
  const rig = useBrowserRig(() => launchChromium(['--use-fake-device-for-media-stream=fps=15,device-count=3']));

  it('switch camera cycles through the cameras with replaceTrack (no new offer), and keeps camera off', async () => {
    const [a, b] = await pairRigPages(rig, 'malayalam');
    await waitVisible(a, 'switch-camera', true, 5000, 'A offers Switch camera');
    expect(await disabled(a, 'switch-camera')).toBe(false);
    expect(await a.eval<string | null>(`document.querySelector('[data-testid="switch-camera"]').getAttribute('aria-pressed')`)).toBeNull();
    await waitForVideo(b, 10, 20_000);
    const devices = await a.eval<string[]>(`navigator.mediaDevices.enumerateDevices().then((d) => d.filter((x) => x.kind === 'videoinput').map((x) => x.deviceId))`);
    expect(devices).toHaveLength(3);
    const deviceOf = () => a.eval<string | null>(`window.__chatzyo.pc.getSenders().find((s) => s.track && s.track.kind === 'video')?.track.getSettings().deviceId ?? null`);
    const descriptions = () => a.wsSent.filter((f) => /"kind":"(offer|answer)"/.test(f)).length;
    const first = await deviceOf();
    expect(first).toBe(devices[0]);
    const descriptionsBefore = descriptions();

    await a.click('switch-camera');
    await pollUntil(deviceOf, (d) => d === devices[1], 10_000, (d) => `A sends the second camera (device ${d})`);
    await a.click('switch-camera');
    await pollUntil(deviceOf, (d) => d === devices[2], 10_000, (d) => `A sends the third camera (device ${d})`);
    // The preview shows the camera in use, and the partner decodes it.
    expect(await a.eval<string>(`document.querySelector('[data-testid="local-video"]').srcObject.getVideoTracks()[0].getSettings().deviceId`)).toBe(devices[2]);
    const decoded = (await waitForVideo(b, 1, 5000)).framesDecoded;
    await waitForVideo(b, decoded + 30, 20_000);
    expect(descriptions()).toBe(descriptionsBefore);

    // Camera off carries over to the next camera; the cycle wraps around to the first.
    await a.click('camera-off');
    await waitVisible(b, 'partner-camera-off', true, 5000, 'B shows camera off');
    await a.click('switch-camera');
    await pollUntil(deviceOf, (d) => d === devices[0], 10_000, (d) => `A is back on the first camera (device ${d})`);
    expect(await sending(a, 'video')).toBe(false);
    expect(await visible(b, 'partner-camera-off')).toBe(true);
    expect(descriptions()).toBe(descriptionsBefore);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });
});
