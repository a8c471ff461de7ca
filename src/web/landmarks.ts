/**
 * Nearby pairing in the browser (src/protocol/landmarks.ts): the round trip to each landmark
 * `welcome` lists, bucketed, for `join`'s `rtts`. A page cannot send a STUN Binding request
 * itself, so it has ICE do it: a throw-away RTCPeerConnection whose only ICE server is the
 * landmark gathers candidates, and the time from setLocalDescription to its first
 * server-reflexive (`srflx`) candidate is the landmark's round trip.
 *
 * That time is one STUN round trip plus gathering overhead: setLocalDescription itself,
 * opening the host sockets, resolving a landmark given by name, and handing the candidate to
 * the page (a few ms on an idle machine). So it is never smaller than the true round trip,
 * only a little larger; the coarse buckets of {@link rttBucket} absorb most of the difference.
 *
 * A landmark without a srflx candidate within the budget is left out: it did not answer, or
 * ICE threw the candidate away. Chromium drops a srflx candidate whose address equals its host
 * candidate's (the Binding response came back, but the candidate adds nothing to ICE), which
 * happens when nothing translates the client's address on the way to the landmark (no NAT, or
 * a landmark on the same machine) while the page's host addresses are not hidden behind mDNS
 * names, i.e. once the page has camera permission. Behind a NAT, or before the camera is
 * allowed (host candidates are then `.local` names), the candidate is there.
 */
import { MAX_LANDMARKS, rttBucket, type Landmark, type LandmarkRtts } from '../protocol/index.js';

/** The overall budget, ms: a join is never held up longer than this (docs/protocol.md, "Landmarks"). */
const LANDMARK_BUDGET_MS = 1500;

/** How to time the landmarks. */
export interface MeasureLandmarksInBrowserOptions {
  /** Budget for all of them together, ms (default {@link LANDMARK_BUDGET_MS}). */
  budgetMs?: number;
  /** Creates the peer connections (default: the page's RTCPeerConnection). For tests. */
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
  /** The clock, ms (default `performance.now()`). For tests. */
  now?: () => number;
}

/** Whether `c` is a server-reflexive candidate (`type`, or ` typ srflx` in the line where `type` is missing). */
export function isSrflxCandidate(c: Pick<RTCIceCandidate, 'type' | 'candidate'>): boolean {
  return c.type === 'srflx' || / typ srflx(?: |$)/.test(c.candidate);
}

/**
 * Milliseconds from setLocalDescription to the first srflx candidate gathered against `l`
 * alone, or null when none came by `deadline` (or gathering ended without one). The peer
 * connection is closed whatever happens.
 */
async function timeOne(l: Landmark, deadline: number, create: (config: RTCConfiguration) => RTCPeerConnection, now: () => number): Promise<number | null> {
  let pc: RTCPeerConnection | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    pc = create({ iceServers: [{ urls: l.url }] });
    // Something to negotiate: an offer without a data channel or media has no transport to gather for.
    pc.createDataChannel('landmark');
    const conn = pc;
    return await new Promise<number | null>((resolve) => {
      timer = setTimeout(() => resolve(null), Math.max(0, deadline - now()));
      let start = 0;
      conn.onicecandidate = (ev) => {
        // A null candidate: gathering is over, and no srflx came (a refused or dropped one).
        if (!ev.candidate) resolve(null);
        else if (isSrflxCandidate(ev.candidate)) resolve(now() - start);
      };
      conn.createOffer()
        .then((offer) => {
          // From just before the call: the Binding request may leave before its promise settles.
          start = now();
          return conn.setLocalDescription(offer);
        })
        .catch(() => resolve(null));
    });
  } catch {
    // A URL this browser refuses, or WebRTC turned off: this landmark is left out.
    return null;
  } finally {
    clearTimeout(timer);
    if (pc) {
      pc.onicecandidate = null;
      try { pc.close(); } catch { /* already closed */ }
    }
  }
}

/**
 * Round trips to `landmarks`, each bucketed by {@link rttBucket}; those without a srflx
 * candidate within the budget are left out (an empty object when none answered, or the page
 * has no WebRTC). All are timed at once, each with its own peer connection, so a landmark that
 * does not answer costs the others nothing; every peer connection is closed before this
 * resolves, within the budget.
 */
export async function measureLandmarksInBrowser(landmarks: readonly Landmark[], opts: MeasureLandmarksInBrowserOptions = {}): Promise<LandmarkRtts> {
  const create = opts.createPeerConnection ?? (typeof RTCPeerConnection === 'function' ? (c: RTCConfiguration) => new RTCPeerConnection(c) : null);
  const out: LandmarkRtts = {};
  if (!create) return out;
  const now = opts.now ?? (() => performance.now());
  const deadline = now() + (opts.budgetMs ?? LANDMARK_BUDGET_MS);
  const some = landmarks.slice(0, MAX_LANDMARKS);
  const times = await Promise.all(some.map((l) => timeOne(l, deadline, create, now)));
  some.forEach((l, i) => {
    const t = times[i];
    if (t !== null && t !== undefined) out[l.name] = rttBucket(t);
  });
  performance.mark('chatzyo:landmarks');
  return out;
}
