/**
 * The CLI sender in a process and session of its own (src/lab/sender-process.ts), as bench:quality
 * measures it: behind a lab relay (which the process has the host point at the server's TURN) it
 * is matched with a werift viewer, whose video arrives through the relay (the round trip is the
 * relay's 200 ms, not loopback's); it leads a session of its own (so its own autogroup, as a
 * `connect` started from a terminal); its adaptation and its loop stalls reach the host; its
 * close ends the session and the process by itself; a session that cannot start throws its own
 * error code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNetworkProfile, ThreadedRelay, SenderProcess, udpTurnTarget } from '../../src/lab/index.js';
import { PeerSession, resolveFfmpeg, type PeerStats } from '../../src/peer/index.js';
import { readProcStat } from '../../src/peer/proc-stat.js';
import { autogroupNice } from '../../src/peer/thread-priority.js';
import { withTimeout } from '../helpers/deadline.js';
import { expectedSendingPriority, expectedSessionPriority } from '../helpers/proc-nice.js';
import { startServerWithTurn, type ServerWithTurn } from '../helpers/server.js';

let lab: ServerWithTurn | undefined;
const ffmpegPath = resolveFfmpeg().path;

beforeAll(async () => { lab = await startServerWithTurn(); }, 30_000);
afterAll(async () => { await lab?.stop(); });

describe('SenderProcess', () => {
  it('sends the stamped video through the relay to its partner, reports its adaptation, and ends its process on close', async () => {
    const relay = await ThreadedRelay.start({ profile: parseNetworkProfile('custom:rtt=200ms') });
    let sender: SenderProcess | null = null;
    const viewer = new PeerSession({ server: lab!.server.url, target: { kind: 'hub', hub: 'global' }, video: null, audio: null, relayOnly: true, ffmpegPath, statsIntervalMs: 250 });
    try {
      sender = await SenderProcess.start({ server: lab!.server.url, hub: 'global', ffmpegPath, relay: relay.address }, relay, 20_000);
      const frames = new Promise<PeerStats>((resolve) => viewer.on('stats', (st) => { if (st.framesReceived >= 30) resolve(st); }));
      await viewer.start();
      const st = await withTimeout(frames, 30_000, 'the viewer receives 30 frames');
      expect(st.framesReceived).toBeGreaterThanOrEqual(30);
      // A session of its own: the process leads it (proc(5) stat field 6, the session id).
      const pid = sender.pid!;
      expect(Number(readProcStat(`/proc/${pid}/stat`)!.fields[3])).toBe(pid);
      expect(Number(readProcStat(`/proc/${process.pid}/stat`)!.fields[3])).not.toBe(pid);
      // Through the relay: the process asked the host to point it at the server's TURN.
      expect(relay.upstream).toEqual(udpTurnTarget(lab!.turn.url));
      expect(st.rttMs).toBeGreaterThanOrEqual(150);
      // The thread posts its adaptation: the ladder runs there and reads the viewer's feedback.
      await withTimeout(new Promise<void>((resolve) => {
        const t = setInterval(() => { if ((sender!.adaptation?.feedback ?? 0) > 0) { clearInterval(t); resolve(); } }, 50);
      }), 10_000, 'transport-wide feedback reaches the sender process');
      expect(sender.adaptation!.width).toBeGreaterThan(0);
      expect(sender.loopMaxMs).toBeGreaterThan(0);
      // Its sending thread raised as `connect` raises its own, 8 steps, when the system lets it (src/peer/thread-priority.ts).
      expect(sender.priority).toEqual(expectedSendingPriority());
      // And its session (its autogroup) as far, as `connect` raises its own.
      expect(sender.sessionPriority).toEqual(expectedSessionPriority());
      expect(sender.sessionPriority!.nice).toBe(autogroupNice(pid));
      expect(sender.ended).toBeNull();
      const left = new Promise<void>((resolve) => viewer.once('partner-left', () => resolve()));
      // 0: the session closed and the process ended by itself (1 would be a killed one).
      expect(await sender.close()).toBe(0);
      expect(readProcStat(`/proc/${pid}/stat`)).toBeNull();
      await withTimeout(left, 10_000, 'the viewer hears that its partner left');
    } finally {
      await sender?.close();
      await viewer.close();
      await relay.close();
    }
  }, 90_000);

  it("throws its session's own error when the session cannot start, and CHZ_ERR_LAB_SENDER when it does not start in time", async () => {
    const relay = await ThreadedRelay.start({ profile: parseNetworkProfile('good') });
    try {
      // A port nothing listens on: the session's own code comes across from the process.
      const err = await SenderProcess.start({ server: 'http://127.0.0.1:9', hub: 'global', ffmpegPath, relay: relay.address }, relay, 15_000).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'CHZ_ERR_SERVER_UNREACHABLE' });
      // A session still starting when the time is up (0 ms: before the process has even loaded it).
      const late = await SenderProcess.start({ server: lab!.server.url, hub: 'global', ffmpegPath, relay: relay.address }, relay, 0).then(() => null, (e: unknown) => e);
      expect(late).toMatchObject({ code: 'CHZ_ERR_LAB_SENDER' });
    } finally {
      await relay.close();
    }
  }, 20_000);
});
