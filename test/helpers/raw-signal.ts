/**
 * The signaling plumbing of the tests' outside peers (bare werift connections that speak the
 * raw protocol through a TestClient): trickled candidates out, the partner's signals in, one at
 * a time and only for the current match.
 */
import type { RTCPeerConnection } from 'werift';
import { parseServerFrame, type SignalData } from '../../src/protocol/index.js';
import type { TestClient } from './ws-client.js';

/** Sends each gathered candidate (and end-of-candidates) once `matchId()` names a match. */
export function trickleCandidates(pc: RTCPeerConnection, matchId: () => string | null, send: (data: SignalData) => void,
  opts: { withUfrag?: boolean; onCandidate?: (c: { sdpMid: string | null; ufrag: string | null; candidate: string }) => void } = {}): void {
  pc.onIceCandidate.subscribe((c) => {
    if (!matchId()) return;
    if (!c) { send({ kind: 'end-of-candidates' }); return; }
    const j = c.toJSON();
    opts.onCandidate?.({ sdpMid: j.sdpMid ?? null, ufrag: j.usernameFragment ?? null, candidate: j.candidate ?? '' });
    const usernameFragment = opts.withUfrag === false ? null : j.usernameFragment ?? null;
    send({ kind: 'candidate', candidate: { candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null, usernameFragment } });
  });
}

/** Runs `handle` for each of the partner's signals of the current match, in order; failures go to `errors`. */
export function onPartnerSignals(client: TestClient, matchId: () => string | null, handle: (data: SignalData) => Promise<void>, errors: Error[]): void {
  let chain = Promise.resolve();
  client.ws.on('message', (raw) => {
    const parsed = parseServerFrame(raw.toString());
    if (!parsed.ok || parsed.value.type !== 'signal' || parsed.value.matchId !== matchId()) return;
    const data = parsed.value.data;
    chain = chain.then(() => handle(data)).catch((err: unknown) => { errors.push(err as Error); });
  });
}
