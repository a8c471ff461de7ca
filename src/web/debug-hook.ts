/**
 * `window.__chatzyo`: a read-only window into the running client for diagnostics and the
 * real-browser tests (which read `getStats()` and the signals a partner sent). It exposes
 * nothing a script on this page could not reach anyway.
 */
import type { BrowserSession, ReceivedSignal, SessionState } from './browser-session.js';
import type { CallQuality } from './peer-call.js';
import type { ClassifierScores } from './screening-model.js';
import type { Screener, ScreenerSnapshot, ScreenerTimings, SimulatedLoad } from './screening.js';

/** The shape of `window.__chatzyo`. */
interface DebugHook {
  readonly state: SessionState;
  readonly matchId: string | null;
  /** The current call's RTCPeerConnection, or null between calls. */
  readonly pc: RTCPeerConnection | null;
  /** The current call's `getStats()` as plain objects. */
  stats(): Promise<Record<string, unknown>[]>;
  /** Signals received from partners (SDP and candidates), newest last. */
  readonly received: readonly ReceivedSignal[];
  /** The latest connection-quality reading of the current call (null between calls). */
  readonly quality: CallQuality | null;
  /** Levels the indicator showed, oldest first (bounded; cleared when a call ends). */
  readonly qualityLog: readonly string[];
  /** The video sender's `getParameters()` (degradation preference, encodings), or null without one. */
  videoSenderParameters(): { degradationPreference: string | null; encodings: RTCRtpEncodingParameters[] } | null;
  /**
   * The screening of the stranger's video: what the shield shows, the numbers (model load, ms
   * per frame, ms to clear), and `inject(scores)`, which gives the next sampled frame these
   * scores instead of the model's (the tests' way to exercise the flagged path without
   * explicit images), and `simulateLoad('hang' | 'fail')`, which makes the model's load (before
   * the first Start) never settle or fail (false once it started). All of it stays in this page.
   */
  readonly screening: ScreenerSnapshot & ScreenerTimings & {
    inject(scores: ClassifierScores): void;
    simulateLoad(outcome: SimulatedLoad, timeoutMs?: number): boolean;
    classifyImage(url: string): ReturnType<Screener['classifyImage']>;
  };
}

declare global {
  interface Window {
    __chatzyo?: DebugHook;
  }
}

/** Installs the hook for `session`. */
export function installDebugHook(session: BrowserSession, screener: Screener): void {
  let quality: CallQuality | null = null;
  const qualityLog: string[] = [];
  session.on('quality', (q) => {
    quality = q;
    if (!q) qualityLog.length = 0;
    else if (qualityLog.push(q.level) > 200) qualityLog.shift();
  });
  const hook: DebugHook = {
    get state() { return session.state; },
    get matchId() { return session.matchId; },
    get pc() { return session.peerConnection; },
    stats: () => session.stats(),
    get received() { return session.received; },
    get quality() { return quality; },
    get qualityLog() { return qualityLog; },
    get screening() {
      const t = screener.timings;
      return {
        ...screener.snapshot(), ...t, inferenceMs: [...t.inferenceMs], clearMs: [...t.clearMs],
        inject: (scores: ClassifierScores) => screener.inject(scores),
        simulateLoad: (outcome: SimulatedLoad, timeoutMs?: number) => screener.simulateLoad(outcome, timeoutMs),
        classifyImage: (url: string) => screener.classifyImage(url),
      };
    },
    videoSenderParameters() {
      const sender = session.peerConnection?.getSenders().find((x) => x.track?.kind === 'video');
      if (!sender) return null;
      const p = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
      return { degradationPreference: p.degradationPreference ?? null, encodings: p.encodings.map((e) => ({ ...e })) };
    },
  };
  Object.defineProperty(window, '__chatzyo', { value: hook, configurable: true });
}
