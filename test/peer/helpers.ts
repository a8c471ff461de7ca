/** Helpers for headless-peer tests: small media, an event recorder with deadlines, cleanup. */
import { PeerSession, type PeerSessionEvents, type PeerSessionOptions } from '../../src/peer/index.js';
import { withTimeout } from '../helpers/deadline.js';

/** Small media so two peers and a browser fit on two cores. */
export const SMALL = { width: 320, height: 240, fps: 15, bitrateKbps: 300 } as const;

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
      'state', 'welcome', 'queued', 'private-created', 'matched', 'connected', 'safety', 'chat-open', 'chat', 'chat-sent',
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

  create(opts: Partial<PeerSessionOptions> & Pick<PeerSessionOptions, 'server'>, name: string): [PeerSession, Recorder] {
    const s = new PeerSession({
      target: { kind: 'hub', hub: 'tamil' },
      video: { type: 'testsrc' },
      audio: { type: 'sine' },
      encode: { ...SMALL },
      ...opts,
    });
    // A listener that throws is a bug in the code under test: make it loud.
    s.onListenerError = (event, error) => { process.stderr.write(`[${name}] listener of "${event}" threw: ${(error as Error)?.stack ?? String(error)}\n`); };
    this.all.push(s);
    return [s, new Recorder(s, name)];
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.map((s) => s.close()));
    this.all.length = 0;
  }
}
