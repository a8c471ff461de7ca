/**
 * The worker-thread side of {@link ThreadedSender} (src/lab/threaded-sender.ts): runs a
 * {@link PeerSession} on this thread's event loop, its TURN pointed at the host's relay.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AdaptationSnapshot } from '../peer/adaptation.js';
import { PeerSession } from '../peer/peer-session.js';
import { iceServersThroughRelay } from './ice.js';

/** What the sender is (all of it can cross a thread). */
export interface ThreadedSenderOptions {
  server: string;
  hub: string;
  /** Follow the bandwidth estimate with the ladder (default true). */
  adapt?: boolean;
  /** Answer NACKs (default true). */
  retransmit?: boolean;
  ffmpegPath?: string;
  /** The lab relay its TURN goes through; the host has already set the relay's upstream. */
  relay: { host: string; port: number };
  /** Post the adaptation snapshot this often, ms (default 250). */
  snapshotMs?: number;
}

/** What the host sends. */
export type SenderOrder = { type: 'close' };
/** What the worker answers. */
export type SenderNews = { type: 'started' } | { type: 'failed'; message: string } | { type: 'adaptation'; snapshot: AdaptationSnapshot | null };

const port = parentPort!;
const o = workerData as ThreadedSenderOptions;
const say = (m: SenderNews) => port.postMessage(m);
// The host pointed the relay at the server's TURN already: only the address is needed here.
const relay = { address: o.relay, upstream: null, setUpstream: () => {} };
const session = new PeerSession({
  server: o.server, target: { kind: 'hub', hub: o.hub }, video: { type: 'stamped' }, audio: { type: 'sine' },
  adapt: o.adapt !== false, retransmit: o.retransmit !== false, relayOnly: true, ffmpegPath: o.ffmpegPath,
  mapIceServers: (s) => iceServersThroughRelay(s, relay),
});
const snapshots = setInterval(() => say({ type: 'adaptation', snapshot: session.adaptation }), o.snapshotMs ?? 250);
// Once the session has closed, the thread ends (process.exit in a worker ends the thread alone):
// werift leaves a TURN refresh timer behind that would keep it alive for minutes.
const end = () => {
  clearInterval(snapshots);
  void session.close().finally(() => {
    port.close();
    process.exit(0);
  });
};
port.on('message', (m: SenderOrder) => {
  if (m.type === 'close') end();
});
try {
  await session.start();
  say({ type: 'started' });
} catch (err) {
  say({ type: 'failed', message: (err as Error).message });
  end();
}
