/**
 * The CLI sender on a worker thread of its own (src/lab/threaded-sender.ts), as bench:quality
 * measures it: behind a lab relay it is matched with a werift viewer, whose video arrives through
 * the relay (the sender is relay-only, its one TURN URL the relay's); its adaptation reaches the
 * host; its close ends the session and the thread by itself; a session that cannot start is a
 * typed error and leaves no thread behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNetworkProfile, ThreadedRelay, ThreadedSender, udpTurnTarget } from '../../src/lab/index.js';
import { PeerSession, resolveFfmpeg, type PeerStats } from '../../src/peer/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let turn: Coturn | undefined;
let server: SignalServer | undefined;
const ffmpegPath = resolveFfmpeg().path;

beforeAll(async () => {
  turn = await startCoturn();
  server = await startServer({ turnUrls: [turn.url], turnSecret: turn.secret });
}, 30_000);

afterAll(async () => {
  await server?.close();
  await turn?.stop();
});

describe('ThreadedSender', () => {
  it('sends the stamped video through the relay to its partner, reports its adaptation, and ends its thread on close', async () => {
    const relay = await ThreadedRelay.start({ profile: parseNetworkProfile('good') });
    let sender: ThreadedSender | null = null;
    const viewer = new PeerSession({ server: server!.url, target: { kind: 'hub', hub: 'global' }, video: null, audio: null, relayOnly: true, ffmpegPath, statsIntervalMs: 250 });
    try {
      relay.setUpstream(udpTurnTarget(turn!.url)!);
      sender = await ThreadedSender.start({ server: server!.url, hub: 'global', ffmpegPath, relay: relay.address }, 20_000);
      const frames = new Promise<PeerStats>((resolve) => viewer.on('stats', (st) => { if (st.framesReceived >= 30) resolve(st); }));
      await viewer.start();
      const st = await withTimeout(frames, 30_000, 'the viewer receives 30 frames');
      expect(st.framesReceived).toBeGreaterThanOrEqual(30);
      // The thread posts its adaptation: the ladder runs there and reads the viewer's feedback.
      await withTimeout(new Promise<void>((resolve) => {
        const t = setInterval(() => { if ((sender!.adaptation?.feedback ?? 0) > 0) { clearInterval(t); resolve(); } }, 50);
      }), 10_000, 'transport-wide feedback reaches the sender thread');
      expect(sender.adaptation!.width).toBeGreaterThan(0);
      const left = new Promise<void>((resolve) => viewer.once('partner-left', () => resolve()));
      // 0: the session closed and the thread ended by itself (1 would be a terminated thread).
      expect(await sender.close()).toBe(0);
      await withTimeout(left, 10_000, 'the viewer hears that its partner left');
    } finally {
      await sender?.close();
      await viewer.close();
      await relay.close();
    }
  }, 90_000);

  it('fails with CHZ_ERR_LAB_SENDER when its session cannot start, and ends the thread', async () => {
    const relay = await ThreadedRelay.start({ profile: parseNetworkProfile('good') });
    try {
      // A port nothing listens on: the session never joins.
      const err = await ThreadedSender.start({ server: 'http://127.0.0.1:9', hub: 'global', ffmpegPath, relay: relay.address }, 3000).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'CHZ_ERR_LAB_SENDER' });
    } finally {
      await relay.close();
    }
  }, 20_000);
});
