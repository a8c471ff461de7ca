import { describe, expect, it } from 'vitest';
import { isSrflxCandidate, measureLandmarksInBrowser } from '../../src/web/landmarks.js';

/** What a fake peer connection does once its offer is set: set the clock, emit candidates. */
type Script = (pc: FakePc, at: (ms: number) => void) => void;

/** The few RTCPeerConnection members measureLandmarksInBrowser uses. */
class FakePc {
  onicecandidate: ((ev: { candidate: Partial<RTCIceCandidate> | null }) => void) | null = null;
  closed = false;
  channels: string[] = [];
  constructor(readonly config: RTCConfiguration, private readonly run: () => void) {}
  createDataChannel(label: string) { this.channels.push(label); return {}; }
  async createOffer() { return { type: 'offer' as const, sdp: 'v=0\r\n' }; }
  // Later (a task, not a microtask): every landmark's clock has started by then.
  async setLocalDescription() { setTimeout(this.run, 0); }
  close() { this.closed = true; }
  emit(candidate: Partial<RTCIceCandidate> | null) { this.onicecandidate?.({ candidate }); }
}

const host = { type: 'host', candidate: 'candidate:1 1 udp 2122194687 192.0.2.2 40000 typ host generation 0' } as const;
const srflx = (port: number) => ({ type: 'srflx', candidate: `candidate:2 1 udp 1677729535 203.0.113.9 ${port} typ srflx raddr 0.0.0.0 rport 0` } as const);

/**
 * A fake page: a clock, which stands still while every landmark starts and which the scripts
 * then set (`at(12)`: 12 ms after the start), and the peer connections it made.
 */
function rig(scripts: Record<string, Script>) {
  const START = 1000;
  let t = START;
  const at = (ms: number) => { t = START + ms; };
  const made: FakePc[] = [];
  return {
    made,
    opts: {
      now: () => t,
      createPeerConnection: (config: RTCConfiguration) => {
        const script = scripts[String(config.iceServers?.[0]?.urls)] ?? (() => {});
        const pc: FakePc = new FakePc(config, () => script(pc, at));
        made.push(pc);
        return pc as unknown as RTCPeerConnection;
      },
    },
  };
}

describe('isSrflxCandidate', () => {
  it('takes the type, or " typ srflx" in the candidate line when the type is missing', () => {
    expect(isSrflxCandidate(srflx(1))).toBe(true);
    expect(isSrflxCandidate({ type: null, candidate: 'candidate:2 1 udp 1 203.0.113.9 5 typ srflx' })).toBe(true);
    expect(isSrflxCandidate({ type: null, candidate: 'candidate:2 1 udp 1 203.0.113.9 5 typ srflx raddr 0.0.0.0 rport 0' })).toBe(true);
    expect(isSrflxCandidate(host)).toBe(false);
    expect(isSrflxCandidate({ type: null, candidate: 'candidate:3 1 udp 1 198.51.100.1 5 typ relay raddr 203.0.113.9 rport 7' })).toBe(false);
    expect(isSrflxCandidate({ type: null, candidate: '' })).toBe(false);
  });
});

describe('measureLandmarksInBrowser', () => {
  it('times each landmark to its first srflx candidate, buckets it, leaves out the silent ones and closes every peer connection', async () => {
    const page = rig({
      // The first srflx counts, not a later one.
      'stun:near.example:3478': (pc, at) => { at(2); pc.emit(host); at(12); pc.emit(srflx(1)); at(62); pc.emit(srflx(2)); },
      'stun:far.example:3478': (pc, at) => { at(140); pc.emit({ type: null, candidate: 'candidate:2 1 udp 1 203.0.113.9 5 typ srflx raddr 0.0.0.0 rport 0' }); },
      // Gathering ends without a srflx candidate: left out at once, not at the budget.
      'stun:dropped.example:3478': (pc) => { pc.emit(host); pc.emit(null); },
      // Never answers: left out when the budget runs out.
      'stun:silent.example:3478': () => {},
    });
    const started = Date.now();
    const rtts = await measureLandmarksInBrowser([
      { name: 'near', url: 'stun:near.example:3478' },
      { name: 'far', url: 'stun:far.example:3478' },
      { name: 'dropped', url: 'stun:dropped.example:3478' },
      { name: 'silent', url: 'stun:silent.example:3478' },
    ], { ...page.opts, budgetMs: 200 });
    expect(rtts).toEqual({ near: 15, far: 150 });
    // The silent one was waited for until the budget ran out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(page.made.map((pc) => pc.config)).toEqual([
      { iceServers: [{ urls: 'stun:near.example:3478' }] }, { iceServers: [{ urls: 'stun:far.example:3478' }] },
      { iceServers: [{ urls: 'stun:dropped.example:3478' }] }, { iceServers: [{ urls: 'stun:silent.example:3478' }] },
    ]);
    expect(page.made.every((pc) => pc.closed && pc.channels.length === 1 && pc.onicecandidate === null)).toBe(true);
  });

  it('leaves out a landmark whose peer connection cannot be made, and returns nothing without WebRTC', async () => {
    const page = rig({ 'stun:ok:3478': (pc) => pc.emit(srflx(1)) });
    const rtts = await measureLandmarksInBrowser([{ name: 'bad', url: 'stun:bad:3478' }, { name: 'ok', url: 'stun:ok:3478' }], {
      ...page.opts,
      createPeerConnection: (config) => {
        if (String(config.iceServers?.[0]?.urls) === 'stun:bad:3478') throw new SyntaxError('bad URL');
        return page.opts.createPeerConnection(config);
      },
    });
    expect(rtts).toEqual({ ok: 5 });
    // Node has no RTCPeerConnection: the default finds none.
    expect(typeof globalThis.RTCPeerConnection).toBe('undefined');
    expect(await measureLandmarksInBrowser([{ name: 'ok', url: 'stun:ok:3478' }])).toEqual({});
  });

  it('does not outlast its budget when nothing answers', async () => {
    const page = rig({});
    const started = Date.now();
    expect(await measureLandmarksInBrowser([{ name: 'a', url: 'stun:a:1' }, { name: 'b', url: 'stun:b:2' }], { ...page.opts, budgetMs: 60 })).toEqual({});
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(55);
    expect(took).toBeLessThan(1000);
    expect(page.made.every((pc) => pc.closed)).toBe(true);
  });
});
