// "Prefer strangers near me" (src/web/landmarks.ts): the page times the server's landmarks
// through ICE gathering (time to the first srflx candidate) and sends the round trips with
// `join`; off, it times nothing and sends none. The server of the rig runs its built-in STUN
// responder (startServer: stunPort 0), which `welcome` lists as the landmark `local`.
//
// Chromium here runs with --use-fake-ui-for-media-stream=deny (the last copy of a switch wins,
// so it overrides the rig's accepting one): the pages have no camera permission and join
// receive-only. With permission (the rig's default), Chromium binds its ICE sockets to every
// interface and shows host addresses as they are; a Binding request from 192.0.2.2 to the
// responder on 127.0.0.1 then comes back with 192.0.2.2:port, the host candidate's own address,
// and libwebrtc drops such a srflx candidate as redundant, so no landmark can be timed on a
// machine without NAT. Without permission it gathers from the default route with mDNS host
// names, and the srflx candidate (127.0.0.1:port) is reported: the same thing a browser behind
// a NAT sees, and what a first visit sees before the camera is allowed.
import { describe, expect, it } from 'vitest';
import { MAX_LANDMARK_RTT_MS, rttBucket, type Landmark } from '../../src/protocol/index.js';
import { launchChromium, openChromiumPage, pollUntil, startIn, useBrowserRig, waitForStatus, type ChatPage } from '../helpers/browsers.js';

const rig = useBrowserRig(() => launchChromium(['--use-fake-ui-for-media-stream=deny']));

const CHECKBOX = 'document.querySelector(\'[data-testid="prefer-near"]\')';

/** Opens the client, records every RTCPeerConnection it creates, and waits for the welcome. */
async function open(name: string): Promise<ChatPage> {
  const p = await openChromiumPage(rig.browser, rig.server.url, name);
  rig.pages.push(p);
  // The client names the global constructor when it creates one, so a subclass put in its place
  // sees them all: with the session's state and the configuration each was made with.
  await p.eval(`(() => {
    const Native = window.RTCPeerConnection;
    const made = [];
    window.__pcs = made;
    window.RTCPeerConnection = class extends Native {
      constructor(config) {
        super(config);
        made.push({ pc: this, state: window.__chatzyo?.state ?? null, iceServers: JSON.stringify(config?.iceServers ?? []) });
      }
    };
  })()`);
  // Enabled once a welcome listed landmarks.
  await pollUntil(() => p.eval<boolean>(`!${CHECKBOX}.disabled`), (on) => on, 10_000, () => `${name}: "Prefer strangers near me" is enabled`);
  return p;
}

/** The peer connections made before the page was matched: the landmark timings (the call's is made in `searching`). */
interface TimingPc { state: string | null; iceServers: string; closed: boolean }
const timingPcs = (p: ChatPage) => p.eval<TimingPc[]>(
  'window.__pcs.filter((x) => x.state === "idle" || x.state === "preparing").map((x) => ({ state: x.state, iceServers: x.iceServers, closed: x.pc.signalingState === "closed" }))',
);

const parsed = (frames: string[]) => frames.map((f) => JSON.parse(f) as { type: string } & Record<string, unknown>);
const joinsSent = (p: ChatPage) => parsed(p.wsSent).filter((m) => m.type === 'join');
const welcomeLandmarks = (p: ChatPage) => parsed(p.wsReceived).find((m) => m.type === 'welcome')?.landmarks as Landmark[] | undefined;
const matchId = (p: ChatPage) => p.eval<string | null>('window.__chatzyo.matchId');

/** A value of /metrics; 0 when the series does not exist yet (a labelled histogram before its first observation). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${rig.server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').pop()) : 0;
}
const ESTIMATES = 'chatzyo_match_rtt_estimate_ms_count';
const PAIR_WAIT = 'chatzyo_match_pair_wait_seconds_count';

/** A waits in `hub`, B arrives, and both are told of the same match. */
async function matchInHub(a: ChatPage, b: ChatPage, hub: string): Promise<void> {
  await startIn(a, hub);
  await waitForStatus(a, /position 1/, 10_000, 'A queued');
  await startIn(b, hub);
  await pollUntil(() => Promise.all([matchId(a), matchId(b)]), ([x, y]) => x !== null && x === y, 20_000,
    (last) => `A and B matched in ${hub} (match ids ${JSON.stringify(last)})`);
}

describe('Prefer strangers near me', () => {
  it('is a labelled checkbox, on by default; the join carries the round trip to the landmark, timed through ICE, and the server estimates the pair', async () => {
    const a = await open('A');
    const b = await open('B');
    const landmarks = welcomeLandmarks(a);
    expect(landmarks, 'the welcome lists the built-in STUN responder').toEqual([{ name: 'local', url: expect.stringMatching(/^stun:127\.0\.0\.1:\d+$/) }]);
    const box = await a.eval<{ checked: boolean; type: string; labels: string[] }>(
      `(() => { const i = ${CHECKBOX}; return { checked: i.checked, type: i.type, labels: [...i.labels].map((l) => l.textContent.replace(/\\s+/g, ' ').trim()) }; })()`);
    expect(box.checked).toBe(true);
    expect(box.type).toBe('checkbox');
    expect(box.labels).toHaveLength(1);
    expect(box.labels[0]).toMatch(/^Prefer strangers near me\b/);

    const estimates = await metric(ESTIMATES);
    const known = await metric(PAIR_WAIT, '{estimate="known"}');
    await matchInHub(a, b, 'tamil');

    for (const p of [a, b]) {
      const joins = joinsSent(p);
      expect(joins, `${p.name}: one join`).toHaveLength(1);
      const rtts = joins[0]!.rtts as Record<string, number> | undefined;
      expect(Object.keys(rtts ?? {}), `${p.name}: join's rtts`).toEqual(['local']);
      const ms = rtts!.local!;
      // A measured bucket, not the cap a landmark that never answered would get.
      expect(rttBucket(ms), `${p.name}: ${ms} is a bucket`).toBe(ms);
      expect(ms).toBeLessThan(MAX_LANDMARK_RTT_MS);
      // Timed by one peer connection whose only ICE server is the landmark, closed afterwards.
      const pcs = await timingPcs(p);
      expect(pcs, `${p.name}: the timing peer connections`).toEqual([{ state: 'idle', iceServers: JSON.stringify([{ urls: landmarks![0]!.url }]), closed: true }]);
    }
    expect(await metric(ESTIMATES), 'a match whose round trip the server estimated').toBe(estimates + 1);
    expect(await metric(PAIR_WAIT, '{estimate="known"}')).toBe(known + 1);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('off: nothing is timed, the join carries no rtts, and the match is paired without an estimate', async () => {
    const c = await open('C');
    const d = await open('D');
    for (const p of [c, d]) {
      await p.click('prefer-near');
      expect(await p.eval<boolean>(`${CHECKBOX}.checked`), `${p.name}: unchecked`).toBe(false);
    }
    const estimates = await metric(ESTIMATES);
    const unknown = await metric(PAIR_WAIT, '{estimate="unknown"}');
    await matchInHub(c, d, 'hindi');

    for (const p of [c, d]) {
      const joins = joinsSent(p);
      expect(joins, `${p.name}: one join`).toHaveLength(1);
      expect(joins[0], `${p.name}: join without rtts`).not.toHaveProperty('rtts');
      expect(await timingPcs(p), `${p.name}: no landmark timed`).toEqual([]);
    }
    expect(await metric(ESTIMATES), 'no estimate for this match').toBe(estimates);
    expect(await metric(PAIR_WAIT, '{estimate="unknown"}')).toBe(unknown + 1);
    expect([...c.errors, ...d.errors]).toEqual([]);
  });
});
