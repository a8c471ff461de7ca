/**
 * Regions for the lab: participants in different places, with a round trip between every two
 * places (a matrix, not a star), all on loopback and in user space, for nearby pairing
 * (src/signal/pairing.ts) to be measured with real calls.
 *
 * The {@link RegionRelay} sits in front of one TURN server, with one UDP port per region: a
 * participant whose relay-only ICE uses region R's port is "in" R. The relay reads the TURN
 * traffic it forwards: Allocate responses tell it which relayed address belongs to a
 * participant of which region, ChannelBind requests which channel leads to which relayed
 * address, and each ChannelData message or Send indication toward a peer is held for half the
 * round trip between the sender's region and the peer's before it goes on. The other half is
 * added on the way back, by the peer's own relay flow, so a call between regions A and B has
 * the matrix's round trip, both ways, and so do its ICE checks. Control messages (Allocate,
 * Refresh, permissions) pass at once. Why not namespaces: see the README's network lab (no
 * netem here, so delay must come from user space anyway).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Attr, decodeStun, decodeXorAddress, isStun } from '../stun/message.js';
import { labError } from './errors.js';
import { ShapedLink } from './link.js';
import type { RelayUpstream } from './relay.js';

/** The round trip between two regions, ms (symmetric; a region with itself is its local round trip). */
export type RegionRtt = (a: string, b: string) => number;

/** A symmetric matrix given as `{ a: { b: ms } }` (either order), as a {@link RegionRtt}. */
export function regionMatrix(rtts: Record<string, Record<string, number>>): RegionRtt {
  return (a, b) => {
    const ms = rtts[a]?.[b] ?? rtts[b]?.[a];
    if (ms === undefined) throw labError('CHZ_ERR_LAB_PROFILE', `no round trip between regions ${a} and ${b}`);
    return ms;
  };
}

const METHOD_CHANNEL_BIND = 0x0009;
const SEND_INDICATION = 0x0016;
const ATTR_CHANNEL_NUMBER = 0x000c;
const ALLOCATE_SUCCESS = 0x0103;

interface Flow {
  region: string;
  socket: dgram.Socket;
  /** Channel number -> the peer's relayed address ("host:port"). */
  channels: Map<number, string>;
  /** One delay line per peer region, so packets toward one place keep their order. */
  lines: Map<string, ShapedLink>;
}

/** A running region relay. */
export class RegionRelay {
  readonly #listeners = new Map<string, dgram.Socket>();
  readonly #flows = new Map<string, Flow>();
  /** A participant's relayed address on the TURN server ("host:port") -> its region. */
  readonly #relayed = new Map<string, string>();
  #closed = false;

  private constructor(readonly upstream: RelayUpstream, readonly rtt: RegionRtt) {}

  /** One listening port per region, in front of `upstream` (a TURN server over UDP). */
  static async start(opts: { regions: readonly string[]; upstream: RelayUpstream; rtt: RegionRtt; host?: string }): Promise<RegionRelay> {
    const relay = new RegionRelay(opts.upstream, opts.rtt);
    const host = opts.host ?? '127.0.0.1';
    for (const region of opts.regions) {
      for (const other of opts.regions) opts.rtt(region, other); // every pair must be known
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', (err) => reject(labError('CHZ_ERR_LAB_RELAY', `The region relay could not bind ${host}: ${err.message}.`, err)));
        socket.bind(0, host, () => resolve());
      });
      socket.on('error', () => { /* a participant that went away */ });
      socket.on('message', (msg, rinfo) => relay.#fromClient(region, socket, msg, rinfo));
      relay.#listeners.set(region, socket);
    }
    return relay;
  }

  /** The port of `region`, for a TURN URL (`turn:HOST:PORT?transport=udp`). */
  address(region: string): { host: string; port: number } {
    const s = this.#listeners.get(region);
    if (!s) throw labError('CHZ_ERR_LAB_RELAY', `The region relay has no region ${region}.`);
    const a = s.address();
    return { host: a.address, port: a.port };
  }

  /** Relayed addresses seen so far, by region (for tests). */
  relayedRegions(): Map<string, string> { return new Map(this.#relayed); }

  #fromClient(region: string, listener: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed) return;
    const key = `${region}/${rinfo.address}:${rinfo.port}`;
    let flow = this.#flows.get(key);
    if (!flow) flow = this.#openFlow(key, region, listener, rinfo);
    const peer = this.#peerOf(flow, msg);
    const peerRegion = peer === null ? undefined : this.#relayed.get(peer);
    if (peerRegion === undefined) {
      flow.socket.send(msg, this.upstream.port, this.upstream.host);
      return;
    }
    let line = flow.lines.get(peerRegion);
    if (!line) {
      const socket = flow.socket;
      line = new ShapedLink(
        { delayMs: this.rtt(region, peerRegion) / 2, jitterMs: 0, lossPercent: 0, rateKbps: null, queueMs: 200, reorderPercent: 0 },
        (b) => { if (!this.#closed) socket.send(b, this.upstream.port, this.upstream.host); },
      );
      flow.lines.set(peerRegion, line);
    }
    line.send(msg);
  }

  /** The relayed address a client's message is for (data toward a peer), or null for control messages. */
  #peerOf(flow: Flow, msg: Buffer): string | null {
    if (msg.length >= 4 && msg[0]! >= 0x40 && msg[0]! <= 0x4f) return flow.channels.get(msg.readUInt16BE(0)) ?? null; // ChannelData (RFC 8656 section 12.4)
    if (!isStun(msg)) return null;
    try {
      const m = decodeStun(msg);
      const peerAttr = m.attributes.find((a) => a.type === Attr.XorPeerAddress);
      if (!peerAttr) return null;
      const peer = decodeXorAddress(peerAttr.value, m.transactionId);
      const at = `${peer.address}:${peer.port}`;
      if (m.type === METHOD_CHANNEL_BIND) {
        const ch = m.attributes.find((a) => a.type === ATTR_CHANNEL_NUMBER);
        if (ch && ch.value.length >= 2) flow.channels.set(ch.value.readUInt16BE(0), at);
        return null;
      }
      return m.type === SEND_INDICATION ? at : null;
    } catch {
      return null;
    }
  }

  #openFlow(key: string, region: string, listener: dgram.Socket, rinfo: dgram.RemoteInfo): Flow {
    const socket = dgram.createSocket(net.isIPv6(this.upstream.host) ? 'udp6' : 'udp4');
    socket.on('error', () => { /* upstream unreachable for a moment; the client retries */ });
    socket.bind(0, net.isIPv6(this.upstream.host) ? '::1' : '127.0.0.1');
    const flow: Flow = { region, socket, channels: new Map(), lines: new Map() };
    socket.on('message', (msg, from) => {
      if (this.#closed || from.port !== this.upstream.port) return;
      if (isStun(msg) && msg.readUInt16BE(0) === ALLOCATE_SUCCESS) {
        try {
          const m = decodeStun(msg);
          const r = m.attributes.find((a) => a.type === Attr.XorRelayedAddress);
          if (r) { const a = decodeXorAddress(r.value, m.transactionId); this.#relayed.set(`${a.address}:${a.port}`, region); }
        } catch { /* not ours to judge: pass it on */ }
      }
      listener.send(msg, rinfo.port, rinfo.address);
    });
    this.#flows.set(key, flow);
    return flow;
  }

  /** Stops every delay line and socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sockets = [...this.#listeners.values(), ...[...this.#flows.values()].map((f) => f.socket)];
    for (const f of this.#flows.values()) for (const l of f.lines.values()) l.close();
    this.#flows.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => { try { s.close(() => resolve()); } catch { resolve(); } })));
  }
}
