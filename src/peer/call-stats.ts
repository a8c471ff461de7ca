/**
 * A call's numbers read from werift's `getStats()`: the selected candidate pair (its candidate
 * types, IP family and round-trip time), bytes on the wire and the partner's reported loss.
 * What the partner's media looked like (frames, keyframes, codecs) is counted in
 * received-media.ts; {@link CallStats} is both together.
 */
import type { RTCPeerConnection } from 'werift';
import { familyOf, type IpFamily } from './ip-family.js';
import type { ReceiveCounts } from './rtp-frames.js';

/** The ICE candidate types of RFC 8445 section 5.1.1.1. */
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** Numbers of one call at one moment. */
export interface CallStats {
  candidateType: CandidateType | null;
  localCandidateType: CandidateType | null;
  /** IP family of the selected candidate pair (both ends share it). */
  ipFamily: IpFamily | null;
  rttMs: number | null;
  bytesSent: number;
  bytesReceived: number;
  video: ReceiveCounts;
  audio: ReceiveCounts;
  /** Fraction of our packets the partner reports lost (RTCP RR), 0..1. */
  remoteFractionLost: number | null;
  /** PLIs the partner sent us. */
  pliReceived: number;
  /** PLIs we sent the partner (asking for a keyframe while its video did not decode). */
  pliSent: number;
  /** Codecs of what the partner sends (the negotiated name of the packets' payload type: VP8, H264, opus), null until media came. */
  videoCodec: string | null;
  audioCodec: string | null;
  /** Interarrival jitter of the partner's audio (RFC 3550 section 6.4.1) as werift's inbound-rtp reports it, ms; null until audio came. */
  audioJitterMs: number | null;
}

/** The transport part of {@link CallStats}. */
export type TransportStats = Pick<CallStats, 'candidateType' | 'localCandidateType' | 'ipFamily' | 'rttMs' | 'bytesSent' | 'bytesReceived' | 'remoteFractionLost' | 'audioJitterMs'>;

/** The candidate pair a call uses. */
export interface SelectedPair {
  id: string;
  local: CandidateType | null;
  remote: CandidateType | null;
  family: IpFamily | null;
  rtt: number | null;
}

/** Transport numbers of a call that is not connected (or closed). */
export const NO_TRANSPORT_STATS: TransportStats = {
  candidateType: null, localCandidateType: null, ipFamily: null, rttMs: null, bytesSent: 0, bytesReceived: 0, remoteFractionLost: null, audioJitterMs: null,
};

/**
 * The pair the transport selected; when werift names none, the nominated pair that carried
 * the most bytes. Null before ICE has nominated one.
 */
export async function selectedPair(pc: RTCPeerConnection): Promise<SelectedPair | null> {
  const report = await pc.getStats();
  const all = [...report.values()] as unknown as Record<string, unknown>[];
  const byId = new Map(all.map((s) => [s.id as string, s]));
  let pair: Record<string, unknown> | undefined;
  for (const s of all) {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair = byId.get(s.selectedCandidatePairId);
  }
  if (!pair) {
    const pairs = all.filter((s) => s.type === 'candidate-pair' && s.nominated);
    pairs.sort((a, b) => Number(b.bytesSent ?? 0) + Number(b.bytesReceived ?? 0) - Number(a.bytesSent ?? 0) - Number(a.bytesReceived ?? 0));
    pair = pairs[0];
  }
  if (!pair) return null;
  const local = byId.get(pair.localCandidateId as string);
  const remote = byId.get(pair.remoteCandidateId as string);
  const rtt = typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
  return {
    id: pair.id as string,
    local: (local?.candidateType as CandidateType | undefined) ?? null,
    remote: (remote?.candidateType as CandidateType | undefined) ?? null,
    family: typeof local?.address === 'string' ? familyOf(local.address) : null,
    rtt,
  };
}

/**
 * Bytes on the transport, the selected pair, the round-trip time (the pair's, else the one
 * the partner's receiver reports) and the loss the partner reports for our video.
 */
export async function transportStats(pc: RTCPeerConnection): Promise<TransportStats> {
  const out = { ...NO_TRANSPORT_STATS };
  const report = await pc.getStats();
  for (const s of report.values() as Iterable<Record<string, unknown>>) {
    if (s.type === 'transport') {
      out.bytesSent += Number(s.bytesSent ?? 0);
      out.bytesReceived += Number(s.bytesReceived ?? 0);
    }
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.jitter === 'number') out.audioJitterMs = s.jitter * 1000;
    if (s.type === 'remote-inbound-rtp' && s.kind === 'video') {
      if (typeof s.fractionLost === 'number') out.remoteFractionLost = s.fractionLost;
      if (out.rttMs === null && typeof s.roundTripTime === 'number') out.rttMs = s.roundTripTime * 1000;
    }
  }
  const pair = await selectedPair(pc).catch(() => null);
  if (pair) {
    out.candidateType = pair.remote;
    out.localCandidateType = pair.local;
    out.ipFamily = pair.family;
    if (pair.rtt !== null) out.rttMs = pair.rtt;
  }
  // No transport entry counted bytes: take the selected pair's.
  if (out.bytesSent === 0 && out.bytesReceived === 0) {
    for (const s of report.values() as Iterable<Record<string, unknown>>) {
      if (s.type === 'candidate-pair' && s.id === pair?.id) {
        out.bytesSent = Number(s.bytesSent ?? 0);
        out.bytesReceived = Number(s.bytesReceived ?? 0);
      }
    }
  }
  return out;
}
