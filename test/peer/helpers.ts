/** Helpers for headless-peer tests: small media, an event recorder with deadlines, cleanup. */
import { afterEach } from 'vitest';
import { PeerSession, type PeerSessionEvents, type PeerSessionOptions } from '../../src/peer/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import type { ChatPage } from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';

/** Small media so two peers and a browser fit on two cores. */
const SMALL = { width: 320, height: 240, fps: 15, bitrateKbps: 300 } as const;

type Ev = { [K in keyof PeerSessionEvents]: { type: K; args: PeerSessionEvents[K]; at: number } }[keyof PeerSessionEvents];

/** Records every event of a session and waits for the next one that matches. */
export class Recorder {
  readonly events: Ev[] = [];
  /** Types of the server messages the session's signaling client received (for failure messages). */
  readonly serverMessages: string[] = [];
  #cursor = new Map<string, number>();
  #waiters: (() => void)[] = [];

  constructor(readonly session: PeerSession, readonly name: string) {
    const names: (keyof PeerSessionEvents)[] = [
      'state', 'welcome', 'queued', 'private-created', 'matched', 'connected', 'safety', 'safety-problem', 'chat-open', 'chat', 'chat-sent',
      'partner-left', 'next', 'gave-up', 'ice-restart', 'remote-media', 'stats', 'disconnected', 'server-error', 'warning', 'ended',
    ];
    session.once('welcome', () => session.signal?.on('message', (m) => { this.serverMessages.push(m.type); }));
    for (const n of names) {
      session.on(n, ((...args: unknown[]) => {
        this.events.push({ type: n, args, at: Date.now() } as Ev);
        for (const w of this.#waiters.splice(0)) w();
      }) as never);
    }
  }

  /** The next `type` event (after the last one taken) whose first argument passes `match`. */
  async next<K extends keyof PeerSessionEvents>(type: K, ms: number, match: (a: PeerSessionEvents[K][0]) => boolean = () => true): Promise<PeerSessionEvents[K][0]> {
    return withTimeout(new Promise((resolve) => {
      const look = () => {
        const from = this.#cursor.get(type) ?? 0;
        for (let i = from; i < this.events.length; i++) {
          const e = this.events[i]!;
          if (e.type === type && match(e.args[0] as PeerSessionEvents[K][0])) {
            this.#cursor.set(type, i + 1);
            resolve(e.args[0] as PeerSessionEvents[K][0]);
            return;
          }
        }
        this.#waiters.push(look);
      };
      look();
    }), ms, `${this.name} waiting for "${String(type)}" (seen: ${[...new Set(this.events.map((e) => e.type))].join(',')}; state ${this.session.state}; `
      + `signal ${this.session.signal?.state}; server sent after welcome: ${this.serverMessages.join(',')})`);
  }

  /** Every recorded `type` event's first argument. */
  all<K extends keyof PeerSessionEvents>(type: K): PeerSessionEvents[K][0][] {
    return this.events.filter((e) => e.type === type).map((e) => e.args[0] as PeerSessionEvents[K][0]);
  }
}

/** Tracks sessions so afterEach can close them all. */
export class Sessions {
  readonly all: PeerSession[] = [];
  /** Listeners that threw since the last closeAll. */
  readonly listenerErrors: string[] = [];

  create(opts: Partial<PeerSessionOptions> & Pick<PeerSessionOptions, 'server'>, name: string): [PeerSession, Recorder] {
    const s = new PeerSession({
      target: { kind: 'hub', hub: 'tamil' },
      video: { type: 'testsrc' },
      audio: { type: 'sine' },
      encode: { ...SMALL },
      ...opts,
    });
    // A listener that throws is a bug in the code under test (or the test): closeAll fails the test with it.
    s.onListenerError = (event, error) => {
      this.listenerErrors.push(`[${name}] listener of "${String(event)}" threw: ${(error as Error)?.stack ?? String(error)}`);
    };
    this.all.push(s);
    return [s, new Recorder(s, name)];
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.map((s) => s.close()));
    this.all.length = 0;
    const thrown = this.listenerErrors.splice(0);
    if (thrown.length > 0) throw new Error(`${thrown.length} event listener(s) threw during the test:\n${thrown.join('\n')}`);
  }
}

/**
 * The size the peer reads from a browser's bitstream is the size the browser says it encodes
 * (its outbound-rtp frameWidth and frameHeight). Polled: a browser may adapt its resolution.
 */
export async function sameSizeAsSent(page: ChatPage, peer: PeerSession, ms = 10_000): Promise<void> {
  let last = 'nothing yet';
  try {
    await until(async () => {
      const stats = await page.eval<Record<string, unknown>[]>('window.__chatzyo.stats()');
      const out = stats.find((x) => x.type === 'outbound-rtp' && x.kind === 'video');
      const got = peer.call?.videoCounts;
      last = `${page.name} sends ${String(out?.frameWidth)}x${String(out?.frameHeight)}, the peer reads ${String(got?.frameWidth)}x${String(got?.frameHeight)}`;
      return typeof out?.frameWidth === 'number' && out.frameWidth === got?.frameWidth && out.frameHeight === got.frameHeight;
    }, ms, 'the peer reads the size the page sends');
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${last}`);
  }
}

/**
 * Whether the peer's current call sends its video's resends on an RTX stream: the negotiated
 * codecs hold RTX for the sent codec and werift's sender took its payload type.
 */
export function rtxFor(peer: PeerSession): boolean {
  const t = peer.call?.pc.getTransceivers().find((x) => x.kind === 'video');
  const sent = t?.codecs.find((c) => c.name.toLowerCase() !== 'rtx');
  const rtx = t?.codecs.find((c) => c.name.toLowerCase() === 'rtx' && /(?:^|;)\s*apt=(\d+)/.exec(c.parameters ?? '')?.[1] === String(sent?.payloadType));
  return rtx !== undefined && (t!.sender as unknown as { rtxPayloadType?: number }).rtxPayloadType === rtx.payloadType;
}

/**
 * A per-test signaling server and peer sessions, both closed after each test: call
 * `rig.start(options)` in a test for the server, `rig.sessions.create(...)` for peers.
 */
export function usePeerRig(): { sessions: Sessions; start(opts?: Parameters<typeof startServer>[0]): Promise<SignalServer> } {
  const sessions = new Sessions();
  let server: SignalServer | undefined;
  afterEach(async () => {
    await sessions.closeAll();
    await server?.close();
    server = undefined;
  });
  return {
    sessions,
    async start(opts = {}) {
      server = await startServer(opts);
      return server;
    },
  };
}
