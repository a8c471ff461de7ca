/**
 * A malicious signaling server, the man in the middle of issue 10 item 9. It stands in front of
 * a real chatzyo server (which does the matchmaking and serves the web client), but never
 * relays a signal between partners: it answers each client itself with a werift peer that has
 * its own DTLS certificate, so it terminates DTLS on both legs and reads and writes everything,
 * chat included. On the safety channel it plays one of two strategies:
 *
 * - `own`: an exchange of its own on each leg, by the book, with its own nonces (nothing else
 *   it can do gets closer: docs/safety-number.md); each client sees a verified number.
 * - `relay`: it forwards each leg's safety messages to the other leg, unchanged.
 * - `silent`: it never opens the safety channel, like a client without the exchange.
 *
 * The clients connect to {@link MitmServer.url} exactly as to an honest server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import WebSocket, { WebSocketServer } from 'ws';
import { generateCertificate, withoutThirdPartyStun } from '../../src/peer/call.js';
import {
  SAFETY_CHANNEL, SafetyExchange, sdpIdentity, type IceServer, type SafetyOutcome, type SignalData,
} from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from './deadline.js';

/** What the man in the middle does on the safety channel. */
export type MitmSafety = 'own' | 'relay' | 'silent';

/** One leg: the middleman's werift peer facing one client. */
export class MitmLeg {
  /** The middleman's own outcome of the exchange on this leg (`own` mode): the number this client should show. */
  readonly safety: Promise<SafetyOutcome>;
  /** Safety-channel messages this leg received from its client. */
  readonly safetyIn: string[] = [];
  pc: RTCPeerConnection | null = null;
  #settle!: (o: SafetyOutcome) => void;
  #chain: Promise<void>;
  #localSdp: string | null = null;
  #remoteSdp: string | null = null;
  #sasDc: RTCDataChannel | null = null;
  #sasOpen = false;
  #sasQueue: string[] = [];
  #closed = false;
  partner: MitmLeg | null = null;

  constructor(
    readonly matchId: string, readonly clientRole: 'offerer' | 'answerer', readonly mode: MitmSafety,
    readonly iceServers: IceServer[], readonly toClient: (data: SignalData) => void,
  ) {
    this.safety = new Promise((resolve) => { this.#settle = resolve; });
    this.#chain = this.#setup().catch((err: unknown) => { throw new Error(`mitm leg setup: ${(err as Error).message}`); });
  }

  async #setup(): Promise<void> {
    const certificate = await generateCertificate();
    if (this.#closed) return;
    const pc = new RTCPeerConnection({ iceServers: withoutThirdPartyStun(this.iceServers), bundlePolicy: 'max-bundle', certificates: [certificate] });
    this.pc = pc;
    pc.onIceCandidate.subscribe((c) => {
      if (this.#closed) return;
      if (!c) { this.toClient({ kind: 'end-of-candidates' }); return; }
      const j = c.toJSON();
      this.toClient({ kind: 'candidate', candidate: { candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null, usernameFragment: j.usernameFragment ?? null } });
    });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    if (this.mode === 'silent') {
      await this.#offerIfOfferer(pc);
      return;
    }
    const sas = pc.createDataChannel(SAFETY_CHANNEL.label, { negotiated: true, id: SAFETY_CHANNEL.id, ordered: true });
    this.#sasDc = sas;
    let exchange: SafetyExchange | null = null;
    sas.stateChanged.subscribe((s: string) => {
      if (s !== 'open' || this.#sasOpen) return;
      this.#sasOpen = true;
      for (const m of this.#sasQueue.splice(0)) sas.send(m);
      if (this.mode === 'own') {
        exchange = new SafetyExchange({ localIdentity: sdpIdentity(this.#localSdp!), remoteIdentity: sdpIdentity(this.#remoteSdp!), send: (t) => sas.send(t) });
        void exchange.result.then((o) => this.#settle(o));
        void exchange.start();
      }
    });
    sas.onMessage.subscribe((m: string | Buffer) => {
      const text = typeof m === 'string' ? m : m.toString('utf8');
      this.safetyIn.push(text);
      if (this.mode === 'own') void exchange?.receive(m);
      else this.partner?.sendSafety(text);
    });
    await this.#offerIfOfferer(pc);
  }

  async #offerIfOfferer(pc: RTCPeerConnection): Promise<void> {
    if (this.clientRole !== 'answerer') return;
    const offer = await pc.createOffer();
    this.#localSdp = offer.sdp;
    // Sent before werift starts gathering, so no candidate overtakes it (as src/peer/call.ts does).
    this.toClient({ kind: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription(offer);
  }

  /** Sends on this leg's safety channel (queued until it opens). */
  sendSafety(text: string): void {
    if (this.#sasOpen && this.#sasDc) this.#sasDc.send(text);
    else this.#sasQueue.push(text);
  }

  /** A signal the client meant for its partner. */
  fromClient(data: SignalData): void {
    this.#chain = this.#chain.then(async () => {
      const pc = this.pc;
      if (!pc || this.#closed) return;
      if (data.kind === 'offer' && this.clientRole === 'offerer') {
        this.#remoteSdp = data.sdp;
        await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        const answer = await pc.createAnswer();
        this.#localSdp = answer.sdp;
        this.toClient({ kind: 'answer', sdp: answer.sdp });
        await pc.setLocalDescription(answer);
      } else if (data.kind === 'answer' && this.clientRole === 'answerer') {
        this.#remoteSdp = data.sdp;
        await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      } else if (data.kind === 'candidate' && data.candidate.candidate) {
        const c = data.candidate;
        await pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined }).catch(() => {});
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await withTimeout(this.#chain.catch(() => {}), 10_000, 'mitm leg settles before close');
    await this.pc?.close().catch(() => {});
  }
}

/** The malicious server: HTTP and the client WebSocket proxied to `upstream`, signals answered by {@link MitmLeg}s. */
export class MitmServer {
  /** Every leg, in the order the clients were matched; `byMatch` pairs them. */
  readonly legs: MitmLeg[] = [];
  readonly byMatch = new Map<string, MitmLeg[]>();
  readonly #http: http.Server;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  readonly #sockets = new Set<WebSocket>();

  private constructor(readonly upstream: SignalServer, readonly mode: MitmSafety) {
    const target = new URL(upstream.url);
    this.#http = http.createServer((req, res) => {
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => { res.writeHead(502).end(); });
      req.pipe(up);
    });
    this.#http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#link(ws));
    });
  }

  /** Starts the middleman on a free loopback port in front of `upstream`. */
  static async start(upstream: SignalServer, mode: MitmSafety): Promise<MitmServer> {
    const s = new MitmServer(upstream, mode);
    await withTimeout(new Promise<void>((resolve) => s.#http.listen(0, '127.0.0.1', resolve)), 5000, 'mitm listen');
    return s;
  }

  /** The page URL (and, through `/ws`, the signaling URL) clients use. */
  get url(): string {
    return `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** Both legs of one match, once both clients were matched. */
  pair(matchId: string): [MitmLeg, MitmLeg] | null {
    const legs = this.byMatch.get(matchId);
    return legs?.length === 2 ? [legs[0]!, legs[1]!] : null;
  }

  #link(client: WebSocket): void {
    const up = new WebSocket(this.upstream.wsUrl);
    this.#sockets.add(client).add(up);
    const early: string[] = [];
    let leg: MitmLeg | null = null;
    // The upstream's STUN server (welcome), so the middleman's peers gather as fast as the clients.
    let iceServers: IceServer[] = [];
    up.on('error', () => client.close());
    client.on('error', () => up.close());
    up.on('open', () => { for (const f of early.splice(0)) up.send(f); });
    up.on('close', () => client.close());
    client.on('close', () => up.close());
    client.on('message', (data) => {
      const text = data.toString();
      const msg = JSON.parse(text) as { type: string; matchId?: string; data?: SignalData };
      if (msg.type === 'signal') {
        // Never to the partner: the middleman's own peer for this client takes it.
        if (leg && msg.matchId === leg.matchId && msg.data) leg.fromClient(msg.data);
        return;
      }
      if (up.readyState === WebSocket.OPEN) up.send(text);
      else early.push(text);
    });
    up.on('message', (data) => {
      const text = data.toString();
      const msg = JSON.parse(text) as { type: string; matchId?: string; role?: 'offerer' | 'answerer'; iceServers?: IceServer[] };
      if (msg.type === 'welcome') iceServers = msg.iceServers ?? [];
      if (msg.type === 'signal') return; // nothing is relayed, so nothing comes back; drop anyway
      client.send(text);
      if (msg.type === 'matched') {
        const matchId = msg.matchId!;
        void leg?.close();
        const mine = new MitmLeg(matchId, msg.role!, this.mode, msg.iceServers ?? iceServers, (d) => {
          if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ type: 'signal', matchId, data: d }));
        });
        leg = mine;
        this.legs.push(mine);
        const legs = this.byMatch.get(matchId) ?? [];
        legs.push(mine);
        this.byMatch.set(matchId, legs);
        if (legs.length === 2) { legs[0]!.partner = legs[1]!; legs[1]!.partner = legs[0]!; }
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.legs.map((l) => l.close()));
    for (const s of this.#sockets) s.terminate();
    this.#wss.close();
    await withTimeout(new Promise<void>((resolve) => { this.#http.closeAllConnections(); this.#http.close(() => resolve()); }), 5000, 'mitm http close');
  }
}
