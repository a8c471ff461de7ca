/**
 * A partner written the way an outside implementer writes one from docs/protocol.md and their
 * own WebRTC stack: a raw {@link TestClient} WebSocket and a bare werift RTCPeerConnection, none
 * of chatzyo's peer code. It chats the classic in-band way: `createDataChannel('chat')`, a DCEP
 * open (RFC 8832), made by the offerer before its offer, or by the answerer once the offer is
 * applied; optionally also on the pre-negotiated channel (id 0). It does not take part in the
 * safety-number exchange.
 */
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { PROTOCOL_VERSION, type ServerMessageOf, type SignalData } from '../../src/protocol/index.js';
import { until, withTimeout } from './deadline.js';
import { onPartnerSignals } from './raw-signal.js';
import { TestClient } from './ws-client.js';

/** How the partner sets up its chat. */
export interface InBandChatPartnerOptions {
  /** Also create the pre-negotiated `chat` channel (id 0), as docs/protocol.md asks (default false). */
  negotiatedChat?: boolean;
  /** Name for failure messages. */
  name?: string;
}

/** One message the partner received, with the channel it came on. */
export interface ReceivedChat {
  text: string;
  /** `in-band` (its own channel), `negotiated` (id 0) or `partner` (a channel the other side opened). */
  on: 'in-band' | 'negotiated' | 'partner';
  streamId: number | undefined;
}

export class InBandChatPartner {
  readonly client: TestClient;
  readonly name: string;
  readonly #negotiatedChat: boolean;
  pc: RTCPeerConnection | null = null;
  matched: ServerMessageOf<'matched'> | null = null;
  /** The `chat` channel this side opened in-band. */
  inBand: RTCDataChannel | null = null;
  /** The pre-negotiated channel (with `negotiatedChat`). */
  negotiated: RTCDataChannel | null = null;
  /** Channels the other side opened in-band (chatzyo opens none). */
  readonly partnerChannels: RTCDataChannel[] = [];
  readonly received: ReceivedChat[] = [];
  /** Errors applying the partner's signals (none expected). */
  readonly errors: Error[] = [];

  private constructor(client: TestClient, opts: InBandChatPartnerOptions) {
    this.client = client;
    this.name = opts.name ?? 'in-band partner';
    this.#negotiatedChat = opts.negotiatedChat ?? false;
  }

  /** Connects to `/ws` and says hello (version 2). */
  static async connect(wsUrl: string, opts: InBandChatPartnerOptions = {}): Promise<InBandChatPartner> {
    const client = await TestClient.connect(wsUrl, {}, { version: PROTOCOL_VERSION, client: 'in-band-werift/1' });
    return new InBandChatPartner(client, opts);
  }

  /** Presses Start in `hub`; resolves once queued (whoever joins next is matched with us, and we offer). */
  async join(hub = 'tamil'): Promise<void> {
    this.client.send({ type: 'join', hub });
    await this.client.next('queued');
  }

  /**
   * Waits for `matched`, then does what the doc says: a peer connection with `iceServers`, the
   * offer (offerer) or the answer (answerer), trickled candidates, end-of-candidates.
   */
  async call(ms = 15_000): Promise<ServerMessageOf<'matched'>> {
    const m = await this.client.next('matched', ms);
    this.matched = m;
    const pc = new RTCPeerConnection({
      iceServers: (m.iceServers ?? []).flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).map((urls) => ({ urls, username: s.username, credential: s.credential }))),
      bundlePolicy: 'max-bundle',
    });
    this.pc = pc;
    const send = (data: SignalData) => this.client.send({ type: 'signal', matchId: m.matchId, data });
    pc.onIceCandidate.subscribe((c) => {
      if (!c) return;
      const j = c.toJSON();
      // usernameFragment is optional in the protocol: this client leaves it out.
      send({ kind: 'candidate', candidate: { candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null } });
    });
    pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') send({ kind: 'end-of-candidates' }); });
    pc.onDataChannel.subscribe((dc) => {
      this.partnerChannels.push(dc);
      this.#listen(dc, 'partner');
    });
    // A receiving client: it watches and listens, and sends nothing but chat.
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    if (this.#negotiatedChat) {
      this.negotiated = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
      this.#listen(this.negotiated, 'negotiated');
    }
    // Signals of any other match are dropped (docs/protocol.md, "Stale matches").
    onPartnerSignals(this.client, () => m.matchId, (data) => this.#apply(pc, data, send), this.errors);
    if (m.role === 'offerer') {
      // The classic way: the offerer opens its channel before the offer, which then has an
      // m=application section.
      this.#openInBand(pc);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      send({ kind: 'offer', sdp: pc.localDescription!.sdp });
    }
    return m;
  }

  async #apply(pc: RTCPeerConnection, d: SignalData, send: (d: SignalData) => void): Promise<void> {
    if (d.kind === 'offer') {
      await pc.setRemoteDescription({ type: 'offer', sdp: d.sdp });
      // The answerer opens its own channel too (chatzyo opens none in-band to wait for).
      if (!this.inBand) this.#openInBand(pc);
      await pc.setLocalDescription(await pc.createAnswer());
      send({ kind: 'answer', sdp: pc.localDescription!.sdp });
    } else if (d.kind === 'answer') {
      await pc.setRemoteDescription({ type: 'answer', sdp: d.sdp });
    } else if (d.kind === 'candidate') {
      if (!d.candidate.candidate) return;
      await pc.addIceCandidate({ candidate: d.candidate.candidate, sdpMid: d.candidate.sdpMid ?? undefined, sdpMLineIndex: d.candidate.sdpMLineIndex ?? undefined })
        .catch(() => { /* a candidate this stack cannot use */ });
    } else {
      await pc.addIceCandidate(undefined);
    }
  }

  #openInBand(pc: RTCPeerConnection): void {
    this.inBand = pc.createDataChannel('chat');
    this.#listen(this.inBand, 'in-band');
  }

  #listen(dc: RTCDataChannel, on: ReceivedChat['on']): void {
    dc.onMessage.subscribe((msg) => {
      this.received.push({ text: typeof msg === 'string' ? msg : `<binary ${msg.length} bytes>`, on, streamId: dc.id });
    });
  }

  /** Waits until its in-band channel is open (the other side acknowledged the DCEP open). */
  async inBandOpen(ms = 20_000): Promise<void> {
    await until(() => this.inBand?.readyState === 'open', ms, `${this.name}: its in-band chat channel opens`);
  }

  /** Sends `data` on its in-band channel, and also on the negotiated one with `both`. */
  send(data: string | Buffer, both = false): void {
    for (const dc of [this.inBand, both ? this.negotiated : null]) {
      if (!dc) continue;
      if (dc.readyState !== 'open') throw new Error(`${this.name}: ${dc.label} channel (stream ${dc.id}) is ${dc.readyState}`);
      dc.send(data);
    }
  }

  /** Waits for a message with `text` and returns every message with that text. */
  async chat(text: string, ms = 10_000): Promise<ReceivedChat[]> {
    await until(() => this.received.some((c) => c.text === text), ms,
      `${this.name}: receives ${JSON.stringify(text)} (has ${JSON.stringify(this.received)})`);
    return this.received.filter((c) => c.text === text);
  }

  async close(): Promise<void> {
    await withTimeout(this.pc?.close() ?? Promise.resolve(), 5000, `${this.name}: close`).catch(() => { /* closing anyway */ });
    await this.client.close().catch(() => { /* already closed */ });
  }
}
