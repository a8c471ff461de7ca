/**
 * Two werift RTCPeerConnections on loopback, connected by trickled candidates: for tests of what
 * werift itself puts on the wire (feedback, reports) without the signaling server.
 */
import { RTCPeerConnection, type RTCPeerConnectionConfig } from 'werift';
import { until } from './deadline.js';

export interface WeriftPair {
  a: RTCPeerConnection;
  b: RTCPeerConnection;
  /** Closes both and waits for their pending local descriptions. */
  close(): Promise<void>;
}

/**
 * Makes `a` and `b` from `config`, lets `setup` add their transceivers, has `a` offer and `b`
 * answer, and resolves once both are connected. `check` sees the answer before the wait (to say
 * what was negotiated).
 */
export async function connectWeriftPair(
  config: Partial<RTCPeerConnectionConfig>,
  setup: (a: RTCPeerConnection, b: RTCPeerConnection) => void,
  check: (answerSdp: string) => void = () => undefined,
): Promise<WeriftPair> {
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const pending: Promise<unknown>[] = [];
  const close = async (): Promise<void> => {
    await a.close();
    await b.close();
    await Promise.all(pending);
  };
  try {
    setup(a, b);
    // Trickle: a complete description would wait for the placeholder STUN server to time out.
    // Candidates are queued until the other side has the description they belong to.
    const trickle = (from: RTCPeerConnection, to: RTCPeerConnection, ready: Promise<void>): void => {
      from.onIceCandidate.subscribe((c) => {
        if (c) void ready.then(() => to.addIceCandidate(c)).catch(() => undefined);
      });
    };
    let bHasOffer!: () => void;
    let aHasAnswer!: () => void;
    trickle(a, b, new Promise<void>((r) => { bHasOffer = r; }));
    trickle(b, a, new Promise<void>((r) => { aHasAnswer = r; }));
    const offer = await a.createOffer();
    pending.push(a.setLocalDescription(offer).catch(() => undefined));
    await b.setRemoteDescription(offer);
    bHasOffer();
    const answer = await b.createAnswer();
    pending.push(b.setLocalDescription(answer).catch(() => undefined));
    await a.setRemoteDescription(answer);
    aHasAnswer();
    check(answer.sdp);
    await until(() => a.connectionState === 'connected' && b.connectionState === 'connected', 10_000, 'the werift pair never connected');
    return { a, b, close };
  } catch (err) {
    await close();
    throw err;
  }
}
