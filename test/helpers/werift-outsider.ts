/**
 * An "outside" WebRTC client, as an integrator would write one from docs/protocol.md alone: a
 * bare werift RTCPeerConnection (none of chatzyo's Call) that talks to the server through the
 * raw protocol (TestClient) and makes the offer. Its offer's transport shape is chosen per test:
 * bundled or not (RFC 8843), and one ICE agent per m-section with its own ufrag/pwd (as aiortc
 * and other stacks that gather per section do) or the same credentials in every section.
 */
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { PROTOCOL_VERSION, type SignalData } from '../../src/protocol/index.js';
import { withTimeout } from './deadline.js';
import { TestClient } from './ws-client.js';
import { onPartnerSignals, trickleCandidates } from './raw-signal.js';

/** How the outsider's offer carries its transports. */
export interface OfferShape {
  /** `a=group:BUNDLE` over every m-section (werift 'max-compat'), or none (werift 'disable'). */
  bundle: boolean;
  /** Each m-section's ICE agent gets its own ufrag/pwd (werift otherwise copies the first one's). */
  distinctCredentials: boolean;
  /** Offer video and audio as well as the chat channel (default true); false: one m-section. */
  media?: boolean;
  /**
   * Trickle candidates with their `usernameFragment` (default true); false: only `candidate`,
   * `sdpMid` and `sdpMLineIndex`, as many hand-written signaling layers forward them.
   */
  candidateUfrag?: boolean;
}

/** ICE attributes of every m-section of an SDP, in order. */
export function sectionCredentials(sdp: string): { mid: string | null; ufrag: string | null; pwd: string | null }[] {
  return sdp.split(/\r?\nm=/).slice(1).map((sec) => ({
    mid: /^a=mid:(.*?)\r?$/m.exec(sec)?.[1] ?? null,
    ufrag: /^a=ice-ufrag:(.*?)\r?$/m.exec(sec)?.[1] ?? null,
    pwd: /^a=ice-pwd:(.*?)\r?$/m.exec(sec)?.[1] ?? null,
  }));
}

/** A random ICE string (RFC 8839 ice-char) of `n` characters. */
function iceString(n: number): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

/** The outside client: joins first (so it is the offerer), then offers with the chosen shape. */
export class Outsider {
  readonly pc: RTCPeerConnection;
  readonly chat: RTCDataChannel;
  /** The offer as sent. */
  offer: string | null = null;
  /** The answer as received. */
  answer: string | null = null;
  /** Chat messages from the partner. */
  readonly chatReceived: string[] = [];
  /** Candidates trickled to the partner: the m-section they were gathered for, and their port. */
  readonly sentCandidates: { sdpMid: string | null; ufrag: string | null; port: number }[] = [];
  /** Errors of applying the partner's signaling (none expected). */
  readonly errors: Error[] = [];
  matchId: string | null = null;
  readonly connected: Promise<void>;
  readonly chatOpen: Promise<void>;

  private constructor(readonly client: TestClient, readonly shape: OfferShape) {
    this.pc = new RTCPeerConnection({ bundlePolicy: shape.bundle ? 'max-compat' : 'disable' });
    this.connected = new Promise((resolve) => {
      this.pc.connectionStateChange.subscribe((s) => { if (s === 'connected') resolve(); });
    });
    // Media sections first, then the chat channel: the same m-line order as chatzyo's own offers.
    if (shape.media !== false) {
      this.pc.addTransceiver('video', { direction: 'sendrecv' });
      this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    }
    this.chat = this.pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    this.chatOpen = new Promise((resolve) => {
      this.chat.stateChanged.subscribe((s) => { if (s === 'open') resolve(); });
    });
    this.chat.onMessage.subscribe((m) => { this.chatReceived.push(typeof m === 'string' ? m : m.toString('utf8')); });
    if (shape.distinctCredentials) {
      // One ICE agent per m-section, each with credentials of its own (RFC 8839 section 5.4).
      const transports = [...new Set(this.pc.dtlsTransports)];
      if (transports.length < 2) throw new Error(`expected one transport per m-section, got ${transports.length}`);
      for (const t of transports.slice(1)) {
        t.iceTransport.connection.localUsername = iceString(8);
        t.iceTransport.connection.localPassword = iceString(24);
      }
    }
    trickleCandidates(this.pc, () => this.matchId, (d) => this.#send(d), {
      withUfrag: shape.candidateUfrag !== false,
      onCandidate: (c) => this.sentCandidates.push({ sdpMid: c.sdpMid, ufrag: c.ufrag, port: Number(c.candidate.split(' ')[5]) }),
    });
    onPartnerSignals(client, () => this.matchId, (d) => this.#onSignal(d), this.errors);
  }

  /** Connects, says hello and joins `hub`; resolves once queued (the next to join is the answerer). */
  static async join(wsUrl: string, shape: OfferShape, hub = 'tamil'): Promise<Outsider> {
    const client = await TestClient.connect(wsUrl, {}, { version: PROTOCOL_VERSION, client: 'outside-werift/0' });
    const o = new Outsider(client, shape);
    client.send({ type: 'join', hub });
    await client.next('queued');
    return o;
  }

  /** Waits for the match, then sends the offer (trickle ICE: candidates follow as gathered). */
  async offerOnMatch(ms: number): Promise<void> {
    const m = await this.client.next('matched', ms);
    if (m.role !== 'offerer') throw new Error(`the outsider joined first and should offer, but is ${m.role}`);
    this.matchId = m.matchId;
    const offer = await this.pc.createOffer();
    this.offer = offer.sdp;
    this.#send({ kind: 'offer', sdp: offer.sdp });
    await this.pc.setLocalDescription(offer);
  }

  async #onSignal(data: SignalData): Promise<void> {
    if (data.kind === 'answer') {
      this.answer = data.sdp;
      await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
    } else if (data.kind === 'candidate') {
      const c = data.candidate;
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined });
    } else if (data.kind === 'end-of-candidates') {
      await this.pc.addIceCandidate(undefined);
    } else {
      throw new Error(`the answerer sent an ${data.kind}`);
    }
  }

  #send(data: SignalData): void {
    this.client.send({ type: 'signal', matchId: this.matchId, data });
  }

  /** The whole local description once gathering is complete (the offer with its candidates). */
  async gatheredOffer(ms: number): Promise<string> {
    await withTimeout(new Promise<void>((resolve) => {
      if (this.pc.iceGatheringState === 'complete') { resolve(); return; }
      this.pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
    }), ms, 'outsider gathering');
    return this.pc.localDescription!.sdp;
  }

  async close(): Promise<void> {
    await this.pc.close().catch(() => { /* closing anyway */ });
    await this.client.close();
  }
}
