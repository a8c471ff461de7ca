/**
 * One call with one partner: the browser's RTCPeerConnection, a negotiated data channel for
 * text chat, trickle ICE over the signaling server, an ICE gathering timeout, one ICE restart
 * when the connection fails, and the safety number.
 *
 * Only the offerer ever makes offers (the first one and the ICE restart), so the two sides
 * never collide ("glare", RFC 8829 section 4.1.8.1) and no rollback is needed.
 */
import { safetyNumber, type IceServer, type SignalData } from '../protocol/index.js';
import { Emitter } from './emitter.js';

/** Call states, in the order a good call goes through them. */
export const CALL_STATES = ['new', 'negotiating', 'connected', 'restarting', 'failed', 'closed'] as const;
export type CallState = (typeof CALL_STATES)[number];

const TRANSITIONS: Record<CallState, readonly CallState[]> = {
  new: ['negotiating', 'failed', 'closed'],
  negotiating: ['connected', 'restarting', 'failed', 'closed'],
  connected: ['restarting', 'failed', 'closed'],
  restarting: ['connected', 'failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/** Whether media goes straight between the two browsers or through a TURN relay. */
export type NetworkPath = 'direct' | 'relayed';

/** The longest chat message sent or shown. */
export const MAX_CHAT_CHARS = 1000;

/** Local media handed to a call (null tracks mean receive-only for that kind). */
export interface CallMedia {
  stream: MediaStream | null;
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
}

/** How to set up a {@link PeerCall}. */
export interface PeerCallOptions {
  role: 'offerer' | 'answerer';
  iceServers: IceServer[];
  /** "Hide my IP": gather relay candidates only, so the partner never learns our addresses. */
  relayOnly: boolean;
  media: CallMedia;
  /** Sends signaling data to the partner (the caller adds the match id). */
  send(data: SignalData): void;
  /** Stop waiting for ICE candidates after this long and tell the partner we are done. */
  gatherTimeoutMs?: number;
  /** Give the first connection this long before treating it as failed. */
  connectTimeoutMs?: number;
  /** Give an ICE restart this long before giving up. */
  restartTimeoutMs?: number;
  /** A `disconnected` connection that does not recover within this long counts as failed. */
  disconnectGraceMs?: number;
}

/** Events of a {@link PeerCall}. */
export type CallEvents = {
  state: [CallState];
  /** The partner's media (the same stream object; tracks are added as they arrive). */
  remotestream: [MediaStream];
  chatopen: [];
  chatclose: [];
  chat: [string];
  safetynumber: [string];
  path: [NetworkPath];
  /** The call gave up; the reason is a sentence for the status line. */
  failure: [string];
};

/** The candidate pair in use, from `getStats()` (Chrome: transport.selectedCandidatePairId; Firefox: pair.selected). */
export async function selectedCandidatePair(pc: RTCPeerConnection): Promise<{ local: string; remote: string; path: NetworkPath } | null> {
  const report = await pc.getStats();
  type Stat = Record<string, unknown> & { type: string; id: string };
  let pair: Stat | undefined;
  report.forEach((s: Stat) => {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair ??= report.get(s.selectedCandidatePairId) as Stat | undefined;
  });
  report.forEach((s: Stat) => {
    if (!pair && s.type === 'candidate-pair' && (s.selected === true || (s.nominated === true && s.state === 'succeeded'))) pair = s;
  });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId as string) as Stat | undefined;
  const remote = report.get(pair.remoteCandidateId as string) as Stat | undefined;
  if (!local || !remote) return null;
  const lt = String(local.candidateType);
  const rt = String(remote.candidateType);
  return { local: lt, remote: rt, path: lt === 'relay' || rt === 'relay' ? 'relayed' : 'direct' };
}

/**
 * For "Hide my IP": keeps only relay candidates and blanks their related address, which some
 * browsers fill with the address the TURN server saw (RFC 8445 section 5.1.1.3 allows hiding it).
 * Returns null for a candidate that must not be sent.
 */
export function scrubRelayCandidate(candidate: string): string | null {
  if (!/ typ relay( |$)/.test(candidate)) return null;
  return candidate.replace(/ raddr \S+ rport \d+/, ' raddr 0.0.0.0 rport 0');
}

/** Applies {@link scrubRelayCandidate} to every `a=candidate` line of an SDP. */
export function scrubRelaySdp(sdp: string): string {
  return sdp.split('\r\n').flatMap((line) => {
    if (!line.startsWith('a=candidate:')) return [line];
    const kept = scrubRelayCandidate(line.slice(2));
    return kept === null ? [] : [`a=${kept}`];
  }).join('\r\n');
}

function iceUfrag(sdp: string | undefined): string | null {
  return sdp?.match(/^a=ice-ufrag:(\S+)/m)?.[1] ?? null;
}

/** A call with one partner. Create it on `matched`, feed it `signal` data, close it when the match ends. */
export class PeerCall extends Emitter<CallEvents> {
  readonly pc: RTCPeerConnection;
  readonly role: 'offerer' | 'answerer';
  readonly remoteStream = new MediaStream();
  readonly #opts: Required<PeerCallOptions>;
  readonly #dc: RTCDataChannel;
  #state: CallState = 'new';
  #chain: Promise<void> = Promise.resolve();
  #pending: (RTCIceCandidateInit | null)[] = [];
  #tracksAttached = false;
  #restarted = false;
  #everConnected = false;
  #gatherDone = true;
  #localUfrag: string | null = null;
  #safety: string | null = null;
  #gatherTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #disconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: PeerCallOptions) {
    super();
    this.#opts = { gatherTimeoutMs: 5_000, connectTimeoutMs: 15_000, restartTimeoutMs: 10_000, disconnectGraceMs: 4_000, ...options };
    this.role = options.role;
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers as RTCIceServer[],
      iceTransportPolicy: options.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    // Negotiated on both sides with the same id: no DataChannel-open handshake, no role asymmetry.
    this.#dc = this.pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    this.#dc.onopen = () => this.emit('chatopen');
    this.#dc.onclose = () => this.emit('chatclose');
    this.#dc.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string' && ev.data.length) this.emit('chat', ev.data.slice(0, MAX_CHAT_CHARS));
    };
    this.pc.onicecandidate = (ev) => this.#onCandidate(ev.candidate);
    this.pc.ontrack = (ev) => {
      if (!this.remoteStream.getTracks().includes(ev.track)) this.remoteStream.addTrack(ev.track);
      this.emit('remotestream', this.remoteStream);
    };
    this.pc.onconnectionstatechange = () => this.#onConnectionState();
  }

  /** The current state. */
  get state(): CallState { return this.#state; }
  /** The safety number once both descriptions are known. */
  get safetyNumber(): string | null { return this.#safety; }
  /** True once the call has been connected at least once. */
  get everConnected(): boolean { return this.#everConnected; }
  /** True when chat messages can be sent. */
  get chatOpen(): boolean { return this.#dc.readyState === 'open'; }

  /** Starts negotiating: the offerer sends its offer, the answerer waits for it. */
  start(): void {
    this.#assert('start', ['new']);
    this.#to('negotiating');
    this.#connectTimer = setTimeout(() => this.#onFailure('The call took too long to connect.'), this.#opts.connectTimeoutMs);
    if (this.role !== 'offerer') return;
    const m = this.#opts.media;
    for (const kind of ['audio', 'video'] as const) {
      const track = m[kind];
      if (track) this.pc.addTransceiver(track, { direction: 'sendrecv', streams: m.stream ? [m.stream] : [] });
      else this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    this.#serial(() => this.#sendOffer(false));
  }

  /** Applies one piece of signaling data from the partner (in arrival order). */
  handleSignal(data: SignalData): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#serial(() => this.#apply(data));
  }

  /** Sends a chat message over the data channel. */
  sendChat(text: string): void {
    if (this.#dc.readyState !== 'open') throw new Error(`chat is not open (data channel ${this.#dc.readyState}, call ${this.#state})`);
    this.#dc.send(text.slice(0, MAX_CHAT_CHARS));
  }

  /** `getStats()` of the peer connection. */
  stats(): Promise<RTCStatsReport> {
    return this.pc.getStats();
  }

  /** Ends the call: timers, data channel and peer connection. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#clearTimers();
    this.#to('closed');
    this.#dc.close();
    this.pc.close();
    for (const t of this.remoteStream.getTracks()) t.stop();
    this.removeAll();
  }

  // ------------------------------------------------------------ internals

  #assert(method: string, states: readonly CallState[]): void {
    if (!states.includes(this.#state)) throw new Error(`PeerCall.${method}() is not allowed in state ${this.#state}`);
  }

  #to(next: CallState): void {
    if (next === this.#state) return;
    if (!TRANSITIONS[this.#state].includes(next)) throw new Error(`PeerCall cannot go from state ${this.#state} to ${next}`);
    this.#state = next;
    this.emit('state', next);
  }

  /** Runs signaling steps one at a time; a step that throws fails the call. */
  #serial(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#state === 'closed' || this.#state === 'failed') return;
      await step();
    }).catch((err: unknown) => {
      if (this.#state === 'closed' || this.#state === 'failed') return;
      console.warn('chatzyo: signaling step failed', err);
      this.#fail(`The call could not be set up (${(err as Error)?.message ?? String(err)}).`);
    });
  }

  async #sendOffer(iceRestart: boolean): Promise<void> {
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    this.#afterLocalDescription();
    this.#opts.send({ kind: 'offer', sdp: this.#outgoingSdp(this.pc.localDescription!.sdp) });
  }

  async #apply(data: SignalData): Promise<void> {
    switch (data.kind) {
      case 'offer': {
        if (this.role !== 'answerer') return; // Only the offerer offers; anything else is a confused partner.
        await this.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        if (!this.#tracksAttached) await this.#attachTracks();
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.#afterLocalDescription();
        this.#opts.send({ kind: 'answer', sdp: this.#outgoingSdp(this.pc.localDescription!.sdp) });
        await this.#afterRemoteDescription();
        return;
      }
      case 'answer': {
        if (this.role !== 'offerer' || this.pc.signalingState !== 'have-local-offer') return;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
        await this.#afterRemoteDescription();
        return;
      }
      case 'candidate':
      case 'end-of-candidates': {
        const init: RTCIceCandidateInit | null = data.kind === 'candidate'
          ? { candidate: data.candidate.candidate, sdpMid: data.candidate.sdpMid ?? null, sdpMLineIndex: data.candidate.sdpMLineIndex ?? null, usernameFragment: data.candidate.usernameFragment ?? null }
          : null;
        if (!this.pc.remoteDescription) this.#pending.push(init);
        else await this.#addCandidate(init);
        return;
      }
    }
  }

  /** The answerer sends its tracks on the transceivers the offer created (recvonly when it has none). */
  async #attachTracks(): Promise<void> {
    this.#tracksAttached = true;
    const m = this.#opts.media;
    const used = new Set<string>();
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null) continue;
      const kind = t.receiver.track.kind as 'audio' | 'video';
      const track = m[kind];
      if (track && !used.has(kind)) {
        used.add(kind);
        await t.sender.replaceTrack(track);
        t.direction = 'sendrecv';
      } else {
        t.direction = 'recvonly';
      }
    }
  }

  async #addCandidate(init: RTCIceCandidateInit | null): Promise<void> {
    try {
      // No argument means end-of-candidates (W3C webrtc-pc, addIceCandidate step 4).
      if (init) await this.pc.addIceCandidate(init);
      else await this.pc.addIceCandidate();
    } catch (err) {
      // A candidate from before an ICE restart, or one this browser cannot use: not fatal.
      console.debug('chatzyo: remote candidate not added', err);
    }
  }

  async #afterRemoteDescription(): Promise<void> {
    for (const c of this.#pending.splice(0)) await this.#addCandidate(c);
    const local = this.pc.localDescription?.sdp;
    const remote = this.pc.remoteDescription?.sdp;
    if (!local || !remote) return;
    const code = await safetyNumber(local, remote);
    if (code !== this.#safety && this.#state !== 'closed') {
      this.#safety = code;
      this.emit('safetynumber', code);
    }
  }

  /** A new local ICE ufrag means a new gathering round: arm the gathering timeout. */
  #afterLocalDescription(): void {
    const ufrag = iceUfrag(this.pc.localDescription?.sdp);
    if (ufrag === this.#localUfrag) return;
    this.#localUfrag = ufrag;
    // Not `iceGatheringState`: after an ICE restart it still reads 'complete' (from the last
    // round) until the browser starts gathering again, which would drop every new candidate.
    this.#gatherDone = false;
    if (this.#gatherTimer) clearTimeout(this.#gatherTimer);
    this.#gatherTimer = setTimeout(() => {
      this.#gatherTimer = null;
      // A stalled interface or TURN server must not hold the call: what we have is all we send.
      this.#endOfCandidates();
    }, this.#opts.gatherTimeoutMs);
  }

  #onCandidate(c: RTCIceCandidate | null): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    // Firefox ends each round with an empty candidate, Chrome with null.
    if (!c || !c.candidate) { this.#endOfCandidates(); return; }
    if (this.#gatherDone) return; // after the gathering timeout the partner was told we are done
    const line = this.#opts.relayOnly ? scrubRelayCandidate(c.candidate) : c.candidate;
    if (line === null) return;
    this.#opts.send({
      kind: 'candidate',
      candidate: { candidate: line, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment },
    });
  }

  /** The SDP as sent: with "Hide my IP", nothing in it but relay candidates. */
  #outgoingSdp(sdp: string): string {
    return this.#opts.relayOnly ? scrubRelaySdp(sdp) : sdp;
  }

  #endOfCandidates(): void {
    if (this.#gatherDone) return;
    this.#gatherDone = true;
    if (this.#gatherTimer) { clearTimeout(this.#gatherTimer); this.#gatherTimer = null; }
    this.#opts.send({ kind: 'end-of-candidates' });
  }

  #onConnectionState(): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    const s = this.pc.connectionState;
    if (s !== 'disconnected' && this.#disconnectTimer) { clearTimeout(this.#disconnectTimer); this.#disconnectTimer = null; }
    if (s === 'connected') this.#onConnected();
    else if (s === 'failed') this.#onFailure('The connection to your partner failed.');
    else if (s === 'disconnected' && !this.#disconnectTimer) {
      // Disconnected often heals by itself (a brief loss); only a lasting one counts as failed.
      this.#disconnectTimer = setTimeout(() => {
        this.#disconnectTimer = null;
        if (this.pc.connectionState === 'disconnected') this.#onFailure('The connection to your partner was lost.');
      }, this.#opts.disconnectGraceMs);
    }
  }

  #onConnected(): void {
    if (this.#state !== 'negotiating' && this.#state !== 'restarting') return;
    if (this.#connectTimer) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    this.#everConnected = true;
    this.#to('connected');
    void this.#reportPath();
  }

  /** Reads the selected candidate pair; stats can lag the state change by a moment. */
  async #reportPath(): Promise<void> {
    for (let i = 0; i < 20 && this.#state === 'connected'; i++) {
      const pair = await selectedCandidatePair(this.pc).catch(() => null);
      if (pair) {
        if (this.#state === 'connected') this.emit('path', pair.path);
        return;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** First failure: one ICE restart (RFC 8445 section 9). Second failure: give up. */
  #onFailure(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (this.#state === 'restarting' || this.#restarted) { this.#fail(reason); return; }
    this.#restarted = true;
    if (this.#connectTimer) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    this.#to('restarting');
    this.#connectTimer = setTimeout(() => this.#fail('Reconnecting to your partner did not work.'), this.#opts.restartTimeoutMs);
    if (this.role === 'offerer') {
      // A restart needs a stable signaling state; an unanswered offer means the partner is not there.
      if (this.pc.signalingState !== 'stable') { this.#fail(reason); return; }
      this.#serial(() => this.#sendOffer(true));
    }
    // The answerer waits for the offerer's restart offer (or the timer).
  }

  #fail(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#clearTimers();
    this.#to('failed');
    this.emit('failure', reason);
  }

  #clearTimers(): void {
    for (const t of [this.#gatherTimer, this.#connectTimer, this.#disconnectTimer]) if (t) clearTimeout(t);
    this.#gatherTimer = this.#connectTimer = this.#disconnectTimer = null;
  }
}
