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
 * - {@link holdEarlyDtls}: a ClientHello that arrives before werift's DTLS server exists is dropped
 *   (test/peer/held-client-hello.test.ts).
 * - {@link lengthenIceChecks}: werift gives up on a connectivity check after 1.55 s, shorter than
 *   the round trip between two users on slow links (test/lab/long-rtt-dtls.test.ts).
 * - {@link ignoreRepeatedHandshakes}: werift's DTLS fails the handshake when the other side
 *   repeats a flight, which any round trip over 500 ms makes it do (test/lab/long-rtt-dtls.test.ts).
 * - {@link RemoteTrackWatch}: remote tracks werift never announces (Firefox's bundle-only
 *   m-lines, test/peer/firefox.test.ts), and ones it announces twice.
 * - {@link answerAsDtlsServer}: werift's DTLS client waits 100 ms before its ClientHello.
 * - {@link onMediaReady}: werift's "connected" waits for SCTP as well as DTLS.
 * - {@link subscribe}: werift's events are not EventEmitters; this keeps their disposers.
 * - {@link stampSenderReports}: werift's Sender Reports carry a broken NTP time, and a browser's
 *   lip sync holds our video back by it (test/peer/sender-reports.test.ts).
 * - {@link nativeX25519}: werift's DTLS does its X25519 key exchange in JavaScript (tweetnacl),
 *   70-90 ms of the sending thread in a process's first handshake (test/peer/native-x25519.test.ts).
 *
 * Not here because each has a file of its own: the one-transport shape of a partner's
 * description (sdp-bundle.ts) and the per-family gathering switches (ip-family.ts).
 */
import {
  DtlsClient, DtlsServer, PictureLossIndication, StunOverTurnProtocol, StunProtocol, RtcpPayloadSpecificFeedback,
  type MediaStreamTrack, type RTCPeerConnection, type RTCRtpSender, type RtcpPacket,
} from 'werift';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import nacl from 'tweetnacl';
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
 *
 * The held records go in, and {@link ignoreRepeatedHandshakes} goes on, in a microtask right
 * after werift built its endpoint, before any later datagram. They once waited for a
 * setImmediate, which a loaded machine ran 126-377 ms late, after the partner's repeated
 * ClientHellos had reached werift unfiltered. The held ClientHello then came in last and,
 * to a filter that had seen nothing, looked new. Mid-handshake, werift's server answered that
 * old ClientHello and the filter waited for a message it had missed: the call never connected.
 * After the handshake, werift's server, which starts over on any ClientHello, dropped its
 * session keys. SRTP keeps its own, so media went on, but
 * every SCTP record after failed to encrypt or decrypt: no safety number, and chat died
 * silently (test/peer/held-client-hello.test.ts).
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
      // werift builds the DTLS endpoint right after this state change, in the same job: a
      // microtask runs once it exists, and before any datagram that comes after.
      queueMicrotask(() => {
        if (closed()) return;
        ignoreRepeatedHandshakes(dtls.dtls);
        for (const buf of early.splice(0)) ice.onData.execute(buf);
      });
    }));
  }
  return disposers;
}

/** A handshake message as werift's record layer assembled it. */
interface Handshake { msg_type: number; message_seq: number }

/** What {@link ignoreRepeatedHandshakes} needs of werift's DTLS endpoint (client or server). */
interface DtlsEndpoint {
  connected: boolean;
  close: () => void;
  onHandleHandshakes: (assembled: Handshake[]) => Promise<void>;
  transport: { send: (buf: Buffer, addr?: unknown) => unknown };
}

/** DTLS record content types of the handshake (RFC 6347 section 4.1): ChangeCipherSpec and Handshake. */
const CHANGE_CIPHER_SPEC = 20;
const HANDSHAKE = 22;
/** A repeated flight is answered with ours at most this often. */
const ANSWER_REPEATS_EVERY_MS = 250;
/** Messages that came before an earlier one are held at most this long, and this many. */
const GAP_WAIT_MS = 1500;
const MAX_EARLY_MESSAGES = 32;

/**
 * A DTLS peer repeats its last flight when the answer is late, which a path whose round trip
 * is over 500 ms makes it do (a 3G phone calling another through TURN), and when our answer
 * was lost. werift handles each repeated handshake message as if it were new, and several
 * ways of doing so fail the call:
 * - its client throws on a second HelloVerifyRequest ("Flight3.exec": already in flight 3);
 * - its client draws a new ECDHE key pair on a repeated ServerKeyExchange, after its
 *   ClientKeyExchange went out with the old one;
 * - its server appends a repeated Certificate and ClientKeyExchange to the handshake
 *   transcript and derives the keys again, and the extended master secret (RFC 7627) is a hash
 *   of that transcript;
 * and in the last two the sides end up with different keys: every record after fails to
 * decrypt until the handshake times out. RFC 6347 section 4.2.2: a message whose message_seq
 * was already handled is a retransmission to discard. So each handshake message is handed to
 * werift once, per type and sequence number (test/lab/long-rtt-dtls.test.ts).
 *
 * Discarding is half of what section 4.2.4 asks: a repeated flight also means our answer to it
 * may have been lost, and we must send our last flight again. werift repeats a flight on its
 * own timer only while it waits for the next one; its last flights, a server's
 * HelloVerifyRequest and its ChangeCipherSpec and Finished, are sent once, so losing one of
 * those datagrams (0.5% loss on a 3G link is enough, now and then) left the partner repeating
 * itself until it gave up. So the datagrams of our latest flight are kept, and a datagram that
 * brings only repeats is answered with them (at most every {@link ANSWER_REPEATS_EVERY_MS} ms;
 * test/peer/dtls-long-rtt.test.ts loses each of them).
 *
 * And werift needs the partner's messages in order: its server derives the keys from the
 * transcript as it stands when the ClientKeyExchange arrives (RFC 7627 hashes everything up to
 * it) and fails the handshake on a CertificateVerify before the Certificate. werift's client
 * sends each message of a flight in its own datagram, and a path with jitter delivers them out
 * of order now and then. So messages are handed over by message_seq (RFC 6347 section 4.2.2:
 * a message from the future is kept until the ones before it came); a gap the partner's repeat
 * does not fill within {@link GAP_WAIT_MS} is given up on, and what came goes on in order.
 */
export function ignoreRepeatedHandshakes(endpoint: unknown): void {
  if (!(endpoint instanceof DtlsClient) && !(endpoint instanceof DtlsServer)) return;
  const e = endpoint as unknown as DtlsEndpoint;
  const handle = e.onHandleHandshakes;
  const transport = e.transport;
  const send = transport.send.bind(transport);
  /** Our latest flight's datagrams, and whether the next handshake datagram we send starts a new one. */
  let flight: Buffer[] = [];
  let newFlight = true;
  let answeredAt = -Infinity;
  transport.send = (buf: Buffer, addr?: unknown) => {
    if (buf[0] === HANDSHAKE || buf[0] === CHANGE_CIPHER_SPEC) {
      if (newFlight) { flight = []; newFlight = false; }
      // werift's own timer sends a waiting flight again: keep each datagram once.
      if (flight.length < 16 && !flight.some((b) => b.equals(buf))) flight.push(Buffer.from(buf));
    }
    return send(buf, addr);
  };
  /** The partner's messages in order: the next message_seq werift gets, and those that came early. */
  let nextSeq = 0;
  const early = new Map<number, Handshake>();
  let stuck: NodeJS.Timeout | null = null;
  /** After a gap was waited for in vain, the messages after it go on (and the next gap is waited for). */
  const skipGap = (): void => {
    stuck = null;
    const seqs = [...early.keys()].sort((a, b) => a - b);
    if (!seqs.length) return;
    nextSeq = seqs[0]!;
    deliver(inOrder()).catch(() => { /* werift reports its own errors */ });
    if (early.size) armGapTimer();
  };
  const armGapTimer = (): void => {
    stuck = setTimeout(skipGap, GAP_WAIT_MS);
    stuck.unref?.();
  };
  const deliver = (ready: Handshake[]): Promise<void> => {
    if (!ready.length) return Promise.resolve();
    newFlight = true; // what werift sends in answer is our next flight
    return handle(ready);
  };
  /** The messages from nextSeq on that are here, in order. */
  const inOrder = (): Handshake[] => {
    const ready: Handshake[] = [];
    for (let h = early.get(nextSeq); h; h = early.get(nextSeq)) {
      ready.push(h);
      early.delete(nextSeq++);
    }
    return ready;
  };
  // Closing the endpoint ends the wait for a gap and lets the held messages and our flight go.
  const close = e.close.bind(endpoint);
  e.close = () => {
    if (stuck) clearTimeout(stuck);
    stuck = null;
    early.clear();
    flight = [];
    close();
  };
  e.onHandleHandshakes = (assembled) => {
    // werift calls this with nothing for a fragment that completes no message yet.
    if (!assembled.length) return Promise.resolve();
    let fresh = false;
    let repeated = false;
    for (const h of assembled) {
      if (h.message_seq < nextSeq || early.has(h.message_seq)) { repeated = true; continue; }
      if (early.size >= MAX_EARLY_MESSAGES && h.message_seq !== nextSeq) continue;
      early.set(h.message_seq, h);
      fresh = true;
    }
    if (!fresh) {
      // RFC 6347 4.2.4: only the side that sent the last flight answers a repeat once the
      // handshake is over; a connected client answering too would bounce flights with the
      // server for as long as the call lasts on a path whose round trip is over 500 ms.
      if (!repeated || (endpoint instanceof DtlsClient && e.connected)) return Promise.resolve();
      const now = performance.now();
      if (flight.length && now - answeredAt >= ANSWER_REPEATS_EVERY_MS) {
        answeredAt = now;
        for (const buf of flight) Promise.resolve(send(buf)).catch(() => { /* the transport is closing */ });
      }
      return Promise.resolve();
    }
    const ready = inOrder();
    if (early.size && !stuck) {
      // A gap the partner's repeat should fill; a stack that numbers differently must not
      // wait forever: after a while, what came is handed over as it is, in order.
      armGapTimer();
    } else if (!early.size && stuck) {
      clearTimeout(stuck);
      stuck = null;
    }
    return deliver(ready);
  };
}

/** How many times a connectivity check is sent again before its pair fails (werift: 4). */
const CHECK_RETRANSMISSIONS = 7;

type StunRequest = (this: unknown, request: { attributesKeys: string[] }, addr: unknown, key: unknown, retransmissions: unknown, onSent?: unknown) => Promise<unknown>;

let checksLengthened = false;

/**
 * werift sends a connectivity check (RFC 8445 section 7.2.4) 4 more times, 50 ms after the
 * first and doubling, and fails its candidate pair when no answer came within 1.55 s. A pair
 * through two TURN servers on slow links has a longer round trip than that: two satellite
 * users (600 ms each to their relay) never connected, because the only pair (relay-relay)
 * failed before the first answer could arrive. RFC 8445 section 14.3 asks for at least 500 ms
 * per retransmission and RFC 5389's default sends 7 times over 39.5 s. We keep werift's quick
 * first retries and send the check {@link CHECK_RETRANSMISSIONS} more times: the last goes
 * out 6.35 s after the first and the pair fails after 12.75 s of silence. Only requests that
 * are checks (they carry ICE-CONTROLLING or ICE-CONTROLLED) over UDP are changed; werift
 * sends TCP checks once, and consent checks (RFC 7675) pass their own options. Applied once,
 * to werift's two UDP request paths (direct and through TURN), before the first call.
 */
export function lengthenIceChecks(): void {
  if (checksLengthened) return;
  checksLengthened = true;
  for (const proto of [StunProtocol.prototype, StunOverTurnProtocol.prototype] as unknown as { request: StunRequest }[]) {
    const request = proto.request;
    proto.request = function (this: unknown, req, addr, key, retransmissions, onSent) {
      const isCheck = req.attributesKeys.includes('ICE-CONTROLLING') || req.attributesKeys.includes('ICE-CONTROLLED');
      const more = isCheck && typeof retransmissions === 'number' && retransmissions > 0 ? Math.max(retransmissions, CHECK_RETRANSMISSIONS) : retransmissions;
      return request.call(this, req, addr, key, more, onSent);
    };
  }
}

/** The DER wrappings of a raw 32-byte X25519 private key (PKCS #8) and public key (SPKI), RFC 8410. */
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** X25519 (RFC 7748) of a raw private scalar and a raw public point, by OpenSSL. */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const secret = diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([X25519_PKCS8, privateKey]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, publicKey]), format: 'der', type: 'spki' }),
  });
  return new Uint8Array(secret);
}

/** A fresh X25519 key pair as raw bytes, by OpenSSL, each in an ArrayBuffer of its own (werift copies `.buffer`). */
export function x25519KeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const rawOf = (der: Buffer, prefix: Buffer): Uint8Array => {
    if (der.length !== prefix.length + 32 || !der.subarray(0, prefix.length).equals(prefix)) throw new Error('X25519 key export: unexpected DER');
    const raw = new Uint8Array(32);
    raw.set(der.subarray(prefix.length));
    return raw;
  };
  return {
    publicKey: rawOf(publicKey.export({ format: 'der', type: 'spki' }), X25519_SPKI),
    secretKey: rawOf(privateKey.export({ format: 'der', type: 'pkcs8' }), X25519_PKCS8),
  };
}

let x25519Native = false;
/** Key exchanges done by {@link nativeX25519}'s functions (key pairs made and secrets agreed), for the tests. */
export const x25519Uses = { keyPairs: 0, secrets: 0 };

/**
 * werift's DTLS makes its X25519 key pair (`nacl.box.keyPair()`) and agrees the premaster secret
 * (`nacl.scalarMult`) with tweetnacl, in JavaScript on the thread that sends the call's media.
 * Browsers offer X25519 first, so every call with one pays it: in a process's first handshake,
 * before the JIT has compiled it, 75-90 ms (measured: a fresh process, 2 cores under load; 2-6
 * ms once warm); a CPU profile of `connect` showed 66 ms of it between "matched" and
 * "connected". OpenSSL does the same in 1-12 ms cold. werift imports tweetnacl's module object,
 * so its two functions are replaced there with OpenSSL's (same results: RFC 7748 clamps the
 * scalar either way), once, before the first call; nothing else in chatzyo uses tweetnacl.
 */
export function nativeX25519(): void {
  if (x25519Native) return;
  x25519Native = true;
  const scalarMult = Object.assign((n: Uint8Array, p: Uint8Array) => { x25519Uses.secrets++; return x25519(n, p); }, nacl.scalarMult);
  nacl.scalarMult = scalarMult;
  nacl.box.keyPair = Object.assign(() => { x25519Uses.keyPairs++; return x25519KeyPair(); }, nacl.box.keyPair);
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

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** A Unix time in ms as a 64-bit NTP timestamp (RFC 3550 section 4: seconds, then a binary fraction). */
export function ntpTimestamp(epochMs: number): bigint {
  const seconds = Math.floor(epochMs / 1000);
  const fraction = Math.floor(((epochMs - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_UNIX_OFFSET_S) << 32n) | BigInt(Math.min(fraction, 2 ** 32 - 1));
}

/**
 * The wall-clock time (performance.now(), ms) a stream's RTP timestamp stands for: when the
 * frame was captured, as near as the sender knows. A partner's lip sync lines audio and video up
 * by these times.
 */
export type CaptureClock = (rtpTimestamp: number) => number;

/** What {@link stampSenderReports} returns: set the stream's capture clock, or undo the stamping. */
export interface SenderReportStamp {
  /** From now on each Sender Report maps the timestamp it carries through `clock` (null: the send time). */
  setCaptureClock(clock: CaptureClock | null): void;
  dispose: Disposer;
}

/**
 * werift's Sender Reports carry a broken NTP time: it writes the decimal digits of the
 * fractional second into the 32-bit binary fraction (".25" becomes 25/2^32 s), so each report
 * says a time up to a second before the one it means, a different error each time. A Chromium
 * partner lines our audio and video up through those times (its lip sync maps each stream's
 * RTP timestamps to NTP by the reports) and, misled, held our video back: its jitter buffer's
 * target grew to 250 ms behind a 300 kbit/s uplink where its own estimate of the jitter asked
 * 80-140 (bench:quality's trace: `jitterBufferTargetDelay` far above `jitterBufferMinimumDelay`,
 * the W3C stat without lip sync; behind a Chromium sender the two were equal).
 *
 * werift builds each report from two fields its `sendRtp` sets, synchronously, for every
 * packet: the packet's RTP timestamp and an NTP time. We rewrite the NTP time after each packet
 * to the true time its timestamp stands for: the capture clock's, else the send time (what
 * werift meant). The LSR that receiver reports echo is taken from the same field, so RTT
 * matching is unchanged. (werift's abs-send-time extension has the same fault; chatzyo does not
 * negotiate it.)
 */
export function stampSenderReports(sender: RTCRtpSender): SenderReportStamp {
  const fields = sender as unknown as { ntpTimestamp: bigint; rtpTimestamp: number; timestampOffset: number; sendRtp: RTCRtpSender['sendRtp'] };
  let clock: CaptureClock | null = null;
  const original = fields.sendRtp;
  const wrapped: RTCRtpSender['sendRtp'] = (rtp) => {
    const before = fields.rtpTimestamp;
    const beforeNtp = fields.ntpTimestamp;
    const result = original.call(sender, rtp);
    // werift set both fields only when it sent the packet (connected, codec known).
    if (fields.ntpTimestamp !== beforeNtp || fields.rtpTimestamp !== before) {
      const ours = (fields.rtpTimestamp - (fields.timestampOffset ?? 0)) >>> 0;
      fields.ntpTimestamp = ntpTimestamp(performance.timeOrigin + (clock ? clock(ours) : performance.now()));
    }
    return result;
  };
  fields.sendRtp = wrapped;
  return {
    setCaptureClock: (c) => { clock = c; },
    dispose: () => { if (fields.sendRtp === wrapped) fields.sendRtp = original; },
  };
}

/** RTCP Extended Reports (RFC 3611): the packet type, and the receiver reference time and DLRR blocks. */
const RTCP_XR = 207;
const XR_RRTR = 4;
const XR_DLRR = 5;

/**
 * The DLRR answer (RFC 3611 section 4.5) to the receiver reference time reports (RRTR, section
 * 4.4) in one decrypted compound RTCP packet, as an XR packet from `ourSsrc`: one sub-block per
 * report, its sender's SSRC and the middle 32 bits of its NTP time, `delay` (1/65536 s) since it
 * came. Null when there is none.
 */
export function dlrrAnswer(compound: Buffer, ourSsrc: number, delay = 0): Buffer | null {
  const subBlocks: Buffer[] = [];
  let at = 0;
  while (at + 8 <= compound.length) {
    const words = compound.readUInt16BE(at + 2);
    const end = at + 4 + words * 4;
    if (end > compound.length) break;
    if (compound[at + 1] === RTCP_XR) {
      const from = compound.readUInt32BE(at + 4);
      let b = at + 8;
      while (b + 4 <= end) {
        const blockEnd = b + 4 + compound.readUInt16BE(b + 2) * 4;
        if (blockEnd > end) break;
        if (compound[b] === XR_RRTR && blockEnd - b === 12) {
          const sub = Buffer.alloc(12);
          sub.writeUInt32BE(from, 0);
          // The middle 32 bits of the 64-bit NTP time: the low half of its seconds, the high half of its fraction.
          sub.writeUInt32BE(((compound.readUInt32BE(b + 4) & 0xffff) << 16 | compound.readUInt16BE(b + 8)) >>> 0, 4);
          sub.writeUInt32BE(delay >>> 0, 8);
          subBlocks.push(sub);
        }
        b = blockEnd;
      }
    }
    at = end;
  }
  if (!subBlocks.length) return null;
  const out = Buffer.alloc(8 + 4 + subBlocks.length * 12);
  out[0] = 0x80;
  out[1] = RTCP_XR;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(ourSsrc >>> 0, 4);
  out[8] = XR_DLRR;
  out.writeUInt16BE(subBlocks.length * 3, 10);
  Buffer.concat(subBlocks).copy(out, 12);
  return out;
}

/**
 * werift drops the RTCP Extended Reports a partner's receiver sends, so it never answers a
 * receiver reference time report (RRTR) with a DLRR, and a receive-only stream cannot measure its
 * round trip. A Chromium viewer needs that round trip: once frames of our video needed a
 * retransmission, its jitter buffer makes room for one round trip, and without it each
 * retransmission behind a 250 ms round trip could freeze the picture (bench:quality `3g`: the
 * viewer's remote-outbound-rtp counted 0 round-trip measurements behind the CLI, 18 behind
 * Chromium). Chromium sends RRTRs for a codec whose `a=rtcp-fb` lines say `rrtr`
 * (call-config.ts offers it). This reads each decrypted compound RTCP packet for RRTRs and
 * answers at once from `ourSsrc()` (our video sender's SSRC), so the delay it reports is 0.
 */
export function answerReferenceTimeReports(pc: RTCPeerConnection, seen: WeakSet<object>, ourSsrc: () => number | undefined): Disposer[] {
  const disposers: Disposer[] = [];
  for (const dtls of pc.dtlsTransports) {
    if (seen.has(dtls)) continue;
    seen.add(dtls);
    let installed = false;
    const install = () => {
      const t = dtls as unknown as { srtcp?: { decrypt: (b: Buffer) => Buffer }; sendRtcp: (p: { serialize: () => Buffer }[]) => Promise<unknown> };
      const srtcp = t.srtcp;
      if (installed || !srtcp) return;
      installed = true;
      const original = srtcp.decrypt;
      const wrapped = (data: Buffer): Buffer => {
        const dec = original.call(srtcp, data);
        const ssrc = ourSsrc();
        const answer = ssrc === undefined ? null : dlrrAnswer(dec, ssrc);
        if (answer) t.sendRtcp([{ serialize: () => answer }]).catch(() => { /* transport closing */ });
        return dec;
      };
      srtcp.decrypt = wrapped;
      disposers.push(() => { if (srtcp.decrypt === wrapped) srtcp.decrypt = original; });
    };
    if (dtls.state === 'connected') install();
    disposers.push(subscribe(dtls.onStateChange, (state: string) => { if (state === 'connected') install(); }));
  }
  return disposers;
}
