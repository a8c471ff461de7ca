/**
 * The impairment relay on a worker thread of its own (src/lab/threaded-relay.ts), which
 * bench:quality puts in front of every sender: it shapes like the in-process relay on a raised
 * thread (the network's timing must not wait for the CPU the peers use), takes a new
 * profile mid-call, and its close frees the port and ends the thread.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNetworkProfile, ThreadedRelay } from '../../src/lab/index.js';
import { until } from '../helpers/deadline.js';
import { expectedSendingPriority, sendingRaise, threadNices } from '../helpers/proc-nice.js';

const sockets: dgram.Socket[] = [];
afterEach(() => { for (const s of sockets.splice(0)) try { s.close(); } catch { /* closed */ } });

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  sockets.push(s);
  return s;
}

/** Sends `text` from `client` through the relay and resolves with the time the echo came back, ms. */
function roundTrip(client: dgram.Socket, relay: ThreadedRelay, text: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const on = (m: Buffer) => { if (m.toString() === text) { client.off('message', on); resolve(performance.now() - t0); } };
    client.on('message', on);
    client.send(text, relay.address.port, relay.address.host);
  });
}

describe('ThreadedRelay', () => {
  it('delays both ways by the profile on a thread raised as the senders\' are, takes a new profile mid-call, and frees its port on close', async () => {
    const server = await udp();
    server.on('message', (m, from) => server.send(m, from.port, from.address)); // an echo upstream
    const raise = sendingRaise();
    const raisedThreads = () => threadNices(process.pid).filter((t) => t.nice < raise.ordinary).length;
    const raisedBefore = raisedThreads();
    const relay = await ThreadedRelay.start({ profile: parseNetworkProfile('good') });
    try {
      relay.setUpstream({ host: '127.0.0.1', port: server.address().port });
      expect(relay.upstream).toEqual({ host: '127.0.0.1', port: server.address().port });
      // The relay is the network: its thread raised as the senders' are, 8 steps, when the system
      // lets it (src/peer/thread-priority.ts), and no other thread of this process with it.
      expect(relay.priority).toEqual(expectedSendingPriority(raise.ordinary));
      expect(raisedThreads() - raisedBefore).toBe(raise.mayRaise ? 1 : 0);
      const client = await udp();
      // good: 20 ms of round trip through the relay, not loopback's fraction of a millisecond.
      const good = await roundTrip(client, relay, 'one');
      expect(good).toBeGreaterThanOrEqual(19);
      // Its lag is reported only once asked for.
      expect(relay.lag).toBeNull();
      relay.watchLag();
      await until(() => relay.lag !== null, 5000, 'the relay thread\'s first lag report');
      expect(relay.lag!.lateMaxMs).toBeGreaterThanOrEqual(0);
      relay.setProfile(parseNetworkProfile('high-latency'));
      const far = await roundTrip(client, relay, 'two');
      expect(far).toBeGreaterThanOrEqual(450);
    } finally {
      await relay.close();
    }
    // The thread closed its socket: the port can be bound again.
    const again = dgram.createSocket('udp4');
    sockets.push(again);
    await new Promise<void>((resolve, reject) => { again.once('error', reject); again.bind(relay.address.port, '127.0.0.1', () => resolve()); });
  }, 20_000);
});
