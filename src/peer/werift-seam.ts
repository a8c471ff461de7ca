/**
 * The one place where chatzyo works around werift (the way werift isolates what it takes from
 * others in its `imports/`). Each export below says what werift does, why that hurts a chatzyo
 * call, and what we do instead; when werift changes, this file is what to re-check. The rest of
 * src/peer/ uses werift's public WebRTC API only.
 *
 * Workarounds:
 * - {@link withoutThirdPartyStun}: werift's silent fallback to Google's STUN server.
 * - {@link watchPartnerPli}: a partner's keyframe request routed to our receiver, not our sender
 *   (test/peer/pli-to-a-sending-partner.test.ts).
 * - {@link holdEarlyDtls}: a ClientHello that arrives before werift's DTLS server exists is dropped.
 * - {@link RemoteTrackWatch}: remote tracks werift never announces (Firefox's bundle-only
 *   m-lines, test/peer/firefox.test.ts), and ones it announces twice.
 * - {@link answerAsDtlsServer}: werift's DTLS client waits 100 ms before its ClientHello.
 * - {@link onMediaReady}: werift's "connected" waits for SCTP as well as DTLS.
 * - {@link subscribe}: werift's events are not EventEmitters; this keeps their disposers.
 *
 * Not here because each has a file of its own: the one-transport shape of a partner's
 * description (sdp-bundle.ts) and the per-family gathering switches (ip-family.ts).
 */
import {
  PictureLossIndication, RtcpPayloadSpecificFeedback,
  type MediaStreamTrack, type RTCPeerConnection, type RtcpPacket,
} from 'werift';
import type { IceServer } from '../protocol/index.js';

/** Undoes what {@link subscribe} did. */
export type Disposer = () => void;

/** A werift `Event`: `subscribe` returns an object whose `unSubscribe` removes the listener. */
interface WeriftEvent<T extends unknown[]> {
  subscribe: (f: (...a: T) => void) => { unSubscribe: () => void };
}

/**
 * Listens to a werift `Event` and returns the disposer. werift's events are not Node
 * EventEmitters (no `off`, no `removeAllListeners`), so a call keeps every disposer and runs
 * them on close; a listener left behind would keep the closed call reachable.
 */
export function subscribe<T extends unknown[]>(ev: WeriftEvent<T>, f: (...a: T) => void): Disposer {
  return ev.subscribe(f).unSubscribe;
}

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 when it is given no STUN server.
 * A chatzyo peer must talk only to the servers it was told about, so when the list has no STUN
 * URL we give it an unroutable loopback placeholder (the discard port): no server-reflexive
 * candidate, and no packet to a third party.
 */
export function withoutThirdPartyStun(servers: readonly IceServer[]): IceServer[] {
  const hasStun = servers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^stuns?:/i.test(u)));
  return hasStun ? [...servers] : [{ urls: 'stun:127.0.0.1:9' }, ...servers];
}

/**
 * The partner's PLIs for our video. werift's router gives a payload-specific feedback packet
 * to whatever it knows under the packet's *sender* SSRC before it looks at the media SSRC; a
 * partner whose RTCP sender SSRC is that of a stream it sends us (werift, and browsers that
 * also send video) has its PLI land on our receiver of that stream, and the sender never
 * hears it. So take PLIs from the receivers too, by their media SSRC (RFC 4585 section 6.1).
 * The router gives each packet to one recipient, so none is counted twice. Nothing is watched
 * when we send no video.
 */
export function watchPartnerPli(pc: RTCPeerConnection, onPli: () => void): Disposer[] {
  const video = pc.getTransceivers().find((t) => t.kind === 'video' && t.sender.track);
  if (!video) return [];
  const disposers = [subscribe(video.sender.onPictureLossIndication, onPli)];
  for (const t of pc.getTransceivers()) {
    disposers.push(subscribe(t.receiver.onRtcp, (rtcp: RtcpPacket) => {
      if (rtcp.type === RtcpPayloadSpecificFeedback.type && rtcp.feedback.count === PictureLossIndication.count
        && (rtcp.feedback as PictureLossIndication).mediaSsrc === video.sender.ssrc) onPli();
    }));
  }
  return disposers;
}

/**
 * werift creates its DTLS server only once its own ICE agent has finished; a ClientHello
 * the partner sends as soon as *its* agent is done arrives first and is dropped, which costs
 * a browser's 50 ms DTLS retransmission timer (often twice). Hold DTLS records (RFC 7983:
 * first byte 20-63) that arrive before the handshake starts and hand them over once it has.
 * Call after each setRemoteDescription: a transport already held (`held`) or past `new` is
 * left alone. `closed` says whether the call closed meanwhile.
 */
export function holdEarlyDtls(pc: RTCPeerConnection, held: WeakSet<object>, closed: () => boolean): Disposer[] {
  const disposers: Disposer[] = [];
  for (const dtls of pc.dtlsTransports) {
    if (held.has(dtls) || dtls.state !== 'new') continue;
    held.add(dtls);
    const ice = dtls.iceTransport.connection;
    const early: Buffer[] = [];
    let holding = true;
    disposers.push(subscribe(ice.onData, (buf: Buffer) => {
      if (holding && dtls.state === 'new' && buf.length > 0 && buf[0]! >= 20 && buf[0]! <= 63 && early.length < 32) early.push(buf);
    }));
    disposers.push(subscribe(dtls.onStateChange, (state: string) => {
      if (!holding || state !== 'connecting') return;
      holding = false;
      // The DTLS endpoint is built right after this state change, in the same task.
      setImmediate(() => {
        if (closed()) return;
        for (const buf of early.splice(0)) ice.onData.execute(buf);
      });
    }));
  }
  return disposers;
}

/**
 * Each of the partner's tracks, once. werift does not announce every remote track through
 * onTrack (a Firefox offer's bundle-only video m-line gets a receiver track but no event), so
 * {@link RemoteTrackWatch.scan} looks at the receivers too, after each remote description; and
 * werift announces the same track again when a restart offer is applied, so a track already
 * seen is not handed over twice.
 */
export class RemoteTrackWatch {
  readonly #seen: MediaStreamTrack[] = [];
  readonly dispose: Disposer;

  constructor(readonly pc: RTCPeerConnection, readonly onTrack: (track: MediaStreamTrack) => void) {
    this.dispose = subscribe(pc.onTrack, (track) => this.#offer(track));
  }

  /** Hands over receiver tracks werift did not announce. */
  scan(): void {
    for (const t of this.pc.getTransceivers()) for (const track of t.receiver.tracks) this.#offer(track);
  }

  #offer(track: MediaStreamTrack): void {
    if (this.#seen.includes(track)) return;
    this.#seen.push(track);
    this.onTrack(track);
  }
}

/**
 * The answer werift created, changed to answer as the DTLS server (RFC 5763 section 5: the
 * answerer picks active or passive). werift's DTLS client waits a fixed 100 ms before its
 * ClientHello; as the server it answers the partner's ClientHello at once, which makes calls
 * with browsers faster.
 */
export function answerAsDtlsServer(sdp: string): string {
  return sdp.replace(/^a=setup:active(\r?)$/gm, 'a=setup:passive$1');
}

/**
 * Calls `f` once DTLS is up on any of our senders, which is when media can flow: werift's
 * connectionState turns "connected" only when SCTP (the data channels) is up as well, which
 * would hold media back for nothing. `f` decides whether it still cares (the call may have
 * closed, or already heard it).
 */
export function onMediaReady(pc: RTCPeerConnection, f: () => void): Disposer[] {
  return pc.getTransceivers().map((t) => subscribe(t.sender.onReady, f));
}
