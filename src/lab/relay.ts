/**
 * The impairment relay: a UDP relay in user space that sits in front of a TURN server (or any
 * UDP server) and shapes each participant's traffic with a {@link NetworkProfile}, each
 * direction separately. A peer that uses relay-only ICE with its TURN URL pointing at the
 * relay sends and receives every media packet through it, so this works for every WebRTC
 * stack (werift, Chromium, Firefox) without root, namespaces or netem.
 *
 * Each client address (one participant's socket) gets its own flow: its own socket toward the
 * upstream server and its own up and down {@link ShapedLink}s, so the bandwidth of one
 * participant never throttles another, as on separate access links. Everything lives in this
 * process: when it exits (even killed), the kernel frees the sockets, so a crashed run leaves
 * nothing to tear down.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { labError } from './errors.js';
import { ShapedLink, seededRandom, type LinkCounters, type LinkShape, type Random } from './link.js';
import type { NetworkProfile } from './profiles.js';

/** Where the relay forwards to. */
export interface RelayUpstream {
  host: string;
  port: number;
}

/** Options of {@link ImpairmentRelay.start}. */
export interface RelayOptions {
  profile: NetworkProfile;
  /** The server behind the relay (may also be set later with {@link ImpairmentRelay.setUpstream}). */
  upstream?: RelayUpstream;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Seed of the loss/jitter generator (default: random), to replay a run. */
  seed?: number;
  /** At most this many client flows (default 1024); packets of more clients are dropped. */
  maxFlows?: number;
}

/** Counters of one participant's flow. */
export interface FlowCounters {
  client: string;
  up: LinkCounters;
  down: LinkCounters;
}

/** The two directions of a profile as link shapes. */
function linkShapes(p: NetworkProfile): { up: LinkShape; down: LinkShape } {
  const base = { delayMs: p.rttMs / 2, jitterMs: p.jitterMs, lossPercent: p.lossPercent, queueMs: p.queueMs, reorderPercent: p.reorderPercent };
  return { up: { ...base, rateKbps: p.upKbps }, down: { ...base, rateKbps: p.downKbps } };
}

interface Flow {
  key: string;
  address: string;
  port: number;
  socket: dgram.Socket;
  up: ShapedLink;
  down: ShapedLink;
}

/** A running impairment relay. */
export class ImpairmentRelay {
  #profile: NetworkProfile;
  readonly #socket: dgram.Socket;
  readonly #flows = new Map<string, Flow>();
  readonly #random: Random;
  readonly #maxFlows: number;
  #upstream: RelayUpstream | null;
  #closed = false;
  /** Packets dropped because no upstream was set yet or the flow table was full. */
  dropped = 0;

  private constructor(socket: dgram.Socket, opts: RelayOptions) {
    this.#socket = socket;
    this.#profile = opts.profile;
    this.#upstream = opts.upstream ?? null;
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    this.#maxFlows = opts.maxFlows ?? 1024;
    socket.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo));
    socket.on('error', () => { /* a client that went away (ICMP unreachable); nothing to do */ });
  }

  /** Binds the relay on a free UDP port. Throws `CHZ_ERR_LAB_RELAY` when it cannot. */
  static async start(opts: RelayOptions): Promise<ImpairmentRelay> {
    const host = opts.host ?? '127.0.0.1';
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(labError('CHZ_ERR_LAB_RELAY', `The impairment relay could not bind ${host}: ${err.message}.`, err)));
      socket.bind(0, host, () => resolve());
    });
    trySetBuffers(socket);
    return new ImpairmentRelay(socket, opts);
  }

  /** The profile it shapes with now. */
  get profile(): NetworkProfile { return this.#profile; }

  /**
   * Changes the profile mid-call, for every flow (and the ones that open later), both
   * directions: what is queued or in flight keeps its timing (see {@link ShapedLink.setShape}).
   */
  setProfile(profile: NetworkProfile): void {
    if (this.#closed) throw labError('CHZ_ERR_LAB_RELAY', 'The impairment relay is closed.');
    this.#profile = profile;
    const shapes = linkShapes(profile);
    for (const f of this.#flows.values()) {
      f.up.setShape(shapes.up);
      f.down.setShape(shapes.down);
    }
  }

  /** The relay's address, for a TURN URL (`turn:HOST:PORT?transport=udp`). */
  get address(): { host: string; port: number } {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  /** The upstream server, or null when none is set yet. */
  get upstream(): RelayUpstream | null { return this.#upstream; }

  /** Sets the server behind the relay (before the first packet; existing flows keep theirs). */
  setUpstream(upstream: RelayUpstream): void {
    if (this.#closed) throw labError('CHZ_ERR_LAB_RELAY', 'The impairment relay is closed.');
    this.#upstream = upstream;
  }

  /** The most a packet left any of its links after its due time since the last call, ms ({@link ShapedLink.takeLateMaxMs}). */
  takeLateMaxMs(): number {
    let m = 0;
    for (const f of this.#flows.values()) m = Math.max(m, f.up.takeLateMaxMs(), f.down.takeLateMaxMs());
    return m;
  }

  /** Counters per client flow. */
  flows(): FlowCounters[] {
    return [...this.#flows.values()].map((f) => ({ client: f.key, up: { ...f.up.counters }, down: { ...f.down.counters } }));
  }

  #fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.#flows.get(key);
    if (!flow) {
      const upstream = this.#upstream;
      if (!upstream || this.#flows.size >= this.#maxFlows) { this.dropped++; return; }
      flow = this.#openFlow(key, rinfo, upstream);
    }
    flow.up.send(msg);
  }

  #openFlow(key: string, rinfo: dgram.RemoteInfo, upstream: RelayUpstream): Flow {
    const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
    socket.on('error', () => { /* upstream unreachable for a moment; the client retries */ });
    socket.bind(0, net.isIPv6(upstream.host) ? '::1' : '127.0.0.1', () => trySetBuffers(socket));
    const shapes = linkShapes(this.#profile);
    const flow: Flow = {
      key, address: rinfo.address, port: rinfo.port, socket,
      up: new ShapedLink(shapes.up, (b) => { if (!this.#closed) socket.send(b, upstream.port, upstream.host); }, this.#random),
      down: new ShapedLink(shapes.down, (b) => { if (!this.#closed) this.#socket.send(b, rinfo.port, rinfo.address); }, this.#random),
    };
    socket.on('message', (msg, from) => {
      // Only the upstream server may talk to a participant through its flow.
      if (from.port !== upstream.port) return;
      flow.down.send(msg);
    });
    this.#flows.set(key, flow);
    return flow;
  }

  /** Stops the relay: every flow's links and sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Promise<void>[] = [];
    for (const f of this.#flows.values()) {
      f.up.close();
      f.down.close();
      closing.push(closeSocket(f.socket));
    }
    this.#flows.clear();
    closing.push(closeSocket(this.#socket));
    await Promise.all(closing);
  }
}

function closeSocket(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try { s.close(() => resolve()); } catch { resolve(); }
  });
}

/** Room for a keyframe burst at an unlimited link (the default 200 KB would drop some). */
function trySetBuffers(s: dgram.Socket): void {
  try { s.setRecvBufferSize(1 << 21); s.setSendBufferSize(1 << 21); } catch { /* not fatal */ }
}
