// The session's side of "Prefer strangers near me": when it times the landmarks, what `join`
// carries, and that a join never waits longer than the timing (src/web/browser-session.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientMessage, Landmark, LandmarkRtts, ServerMessageOf } from '../../src/protocol/index.js';
import { TypedEmitter, type SignalLoss } from '../../src/protocol/client/index.js';
import { BrowserSession } from '../../src/web/browser-session.js';
import type { SignalClient } from '../../src/web/signal-client.js';

/** The few members of the web SignalClient the session uses. */
class FakeSignal extends TypedEmitter<{ welcome: [ServerMessageOf<'welcome'>]; message: [never]; disconnected: [SignalLoss] }> {
  ready = true;
  readonly sent: ClientMessage[] = [];
  async connect() {}
  send(m: ClientMessage) { this.sent.push(m); }
  async close() {}
}

function welcome(landmarks?: Landmark[]): ServerMessageOf<'welcome'> {
  return {
    type: 'welcome', version: 2, sessionId: 's1', iceServers: [], turn: false, hubs: ['tamil'],
    limits: { maxFrameBytes: 65536, messagesPerSecond: 50, nextsPerMinute: 30, interestFallbackMs: 5000, rematchCooldownMs: 60000, privateCodeTtlMs: 600000, heartbeatMs: 10000 },
    ...(landmarks ? { landmarks } : {}),
  } as ServerMessageOf<'welcome'>;
}
const LANDMARKS: Landmark[] = [{ name: 'local', url: 'stun:127.0.0.1:3478' }];

/** A measurement the test settles by hand. */
function pendingMeasure() {
  const calls: { landmarks: readonly Landmark[]; resolve: (r: LandmarkRtts) => void }[] = [];
  const measure = vi.fn((landmarks: readonly Landmark[]) => new Promise<LandmarkRtts>((resolve) => calls.push({ landmarks, resolve })));
  return { calls, measure };
}

const joins = (s: FakeSignal) => s.sent.filter((m): m is Extract<ClientMessage, { type: 'join' }> => m.type === 'join');
const flush = () => new Promise((r) => setTimeout(r, 0));

let signal: FakeSignal;
beforeEach(() => {
  // No camera in Node: acquireLocalMedia says "insecure" and the session joins receive-only.
  vi.stubGlobal('navigator', {});
  signal = new FakeSignal();
});
afterEach(() => { vi.unstubAllGlobals(); });

function session(measure: (l: readonly Landmark[]) => Promise<LandmarkRtts>, w = welcome(LANDMARKS)): BrowserSession {
  const s = new BrowserSession(signal as unknown as SignalClient, { measureLandmarks: measure });
  s.open();
  signal.emit('welcome', w);
  return s;
}

describe('BrowserSession and nearby pairing', () => {
  it('times the landmarks on Start, joins with the round trips once they are in, and reuses them for later joins', async () => {
    const { calls, measure } = pendingMeasure();
    const s = session(measure);
    expect(measure).not.toHaveBeenCalled(); // not before Start
    expect(s.snapshot()).toMatchObject({ nearby: true, preferNear: true });

    const started = s.start('tamil', []);
    await flush();
    expect(calls.map((c) => c.landmarks)).toEqual([LANDMARKS]);
    expect(s.state).toBe('preparing');
    expect(joins(signal)).toEqual([]); // waits for the timing
    calls[0]!.resolve({ local: 15 });
    await started;
    expect(s.state).toBe('searching');
    expect(joins(signal)).toEqual([{ type: 'join', hub: 'tamil', interests: undefined, rtts: { local: 15 } }]);

    s.stop();
    await s.start('tamil', ['music']);
    expect(measure).toHaveBeenCalledTimes(1);
    expect(joins(signal)[1]).toEqual({ type: 'join', hub: 'tamil', interests: ['music'], rtts: { local: 15 } });
  });

  it('times them again after a reconnect (a new welcome)', async () => {
    const measure = vi.fn(async () => ({ local: 20 }));
    const s = session(measure);
    await s.start('tamil', []);
    signal.emit('disconnected', { willReconnect: true, delayMs: 100 } as SignalLoss);
    signal.emit('welcome', welcome(LANDMARKS));
    await s.start('tamil', []);
    expect(measure).toHaveBeenCalledTimes(2);
    expect(joins(signal).map((j) => j.rtts)).toEqual([{ local: 20 }, { local: 20 }]);
  });

  it('off: times nothing and joins without rtts; on again, the next Start times them', async () => {
    const measure = vi.fn(async () => ({ local: 10 }));
    const s = session(measure);
    s.setPreferNear(false);
    expect(s.snapshot().preferNear).toBe(false);
    await s.start('tamil', []);
    expect(measure).not.toHaveBeenCalled();
    expect(JSON.stringify(joins(signal)[0])).not.toContain('rtts');

    s.stop();
    s.setPreferNear(true);
    await s.start('tamil', []);
    expect(measure).toHaveBeenCalledTimes(1);
    expect(joins(signal)[1]!.rtts).toEqual({ local: 10 });
  });

  it('sends no rtts when no landmark answered, and times nothing when the server lists none', async () => {
    const none = vi.fn(async () => ({}));
    await session(none).start('tamil', []);
    expect(none).toHaveBeenCalledTimes(1);
    expect(joins(signal)[0]!.rtts).toBeUndefined();

    signal = new FakeSignal();
    const unused = vi.fn(async () => ({ local: 5 }));
    const s = session(unused, welcome());
    expect(s.snapshot().nearby).toBe(false);
    await s.start('tamil', []);
    expect(unused).not.toHaveBeenCalled();
    expect(joins(signal)[0]!.rtts).toBeUndefined();
  });

  it('Stop while the timing runs: nothing is joined', async () => {
    const { calls, measure } = pendingMeasure();
    const s = session(measure);
    const started = s.start('tamil', []);
    await flush();
    expect(s.state).toBe('preparing');
    s.stop();
    calls[0]!.resolve({ local: 5 });
    await started;
    expect(s.state).toBe('idle');
    expect(joins(signal)).toEqual([]);
  });
});
