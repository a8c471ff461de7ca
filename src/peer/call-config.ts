/**
 * What a call's RTCPeerConnection is built with: the codecs offered, a DTLS certificate of its
 * own, the ICE servers and policy. Nothing here runs a call; src/peer/call.ts does.
 */
import {
  CipherContext, HashAlgorithm, NamedCurveAlgorithm, RTCCertificate, RTCRtpCodecParameters, SignatureAlgorithm, useTransportWideCC,
  type RTCPeerConnectionConfig,
} from 'werift';
import type { IceServer } from '../protocol/index.js';
import { iceServersForFamily, ipFamilyConfig, type IpFamily } from './ip-family.js';
import type { VideoCodec } from './rtp-frames.js';
import { withoutThirdPartyStun } from './werift-seam.js';

/**
 * Codec parameters offered to the partner. Video carries transport-wide congestion control
 * feedback (transport-cc, with its header extension in {@link peerConnectionConfig}): the
 * partner reports when each of our video packets arrived, which is what our bandwidth estimate
 * (src/peer/bandwidth) reads the path's queue from; the partner's REMB is read too. Audio does
 * not carry it: werift's receiver keeps one feedback generator per receiver, and with audio in
 * the same transport-wide sequence the video receiver sees gaps it cannot report (no feedback
 * came at all); the estimate budgets the audio at its known rate instead (src/peer/ladder.ts).
 * Video also says `rrtr`: a Chromium receiver then sends RTCP XR receiver reference time reports,
 * which we answer (werift-seam.ts answerReferenceTimeReports), so it knows the round trip of a
 * stream it only receives and its jitter buffer can make room for retransmissions.
 */
export function codecsFor(video: VideoCodec): NonNullable<RTCPeerConnectionConfig['codecs']> {
  const fb = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }, { type: 'transport-cc' }, { type: 'rrtr' }];
  const media = video === 'vp8'
    ? new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: fb })
    : new RTCRtpCodecParameters({
      mimeType: 'video/H264', clockRate: 90000, payloadType: 102, rtcpFeedback: fb,
      parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    });
  return {
    // RTX (RFC 4588): resends go on a stream of their own (src/peer/nack-limiter.ts), so the
    // partner tells a repaired loss from a reordered packet. werift keeps a partner's RTX only
    // for codecs it kept, and answers without it when the partner offers none.
    // RED and ULPFEC (src/peer/fec.ts): on a long, lossy path the CLI protects each frame with
    // an FEC packet, so a lost packet is rebuilt without waiting a round trip for its resend. A
    // partner that takes them sends its own video in RED, which the CLI unwraps. RED's resends
    // have an RTX type of their own (a browser resends nothing of a type without one).
    video: [
      media,
      new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: media.payloadType! + 1, parameters: `apt=${media.payloadType}` }),
      new RTCRtpCodecParameters({ mimeType: 'video/red', clockRate: 90000, payloadType: media.payloadType! + 2 }),
      new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: media.payloadType! + 3, parameters: `apt=${media.payloadType! + 2}` }),
      new RTCRtpCodecParameters({ mimeType: 'video/ulpfec', clockRate: 90000, payloadType: media.payloadType! + 4 }),
    ],
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111, parameters: 'minptime=10;useinbandfec=1' })],
  };
}

/**
 * A fresh self-signed ECDSA P-256 DTLS certificate (RFC 8827 section 6.5). Each partner gets
 * its own, so two partners comparing fingerprints cannot tell they met the same peer (werift
 * would otherwise use one certificate for the whole process).
 */
export async function generateCertificate(): Promise<RTCCertificate> {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey(
    { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
    NamedCurveAlgorithm.secp256r1_23,
  );
  return new RTCCertificate(keyPem, certPem, signatureHash);
}

/** The settings of {@link peerConnectionConfig}: the parts of a call's options that shape its peer connection. */
export interface PeerConnectionSettings {
  iceServers: IceServer[];
  /** Use only TURN relay candidates. */
  relayOnly: boolean;
  videoCodec: VideoCodec;
  certificate?: RTCCertificate;
  ipFamily?: IpFamily;
  /** Extra werift settings, applied last. */
  peerConfig?: Partial<RTCPeerConnectionConfig>;
}

/**
 * The werift configuration of one call: only the ICE servers we were given (of our IP family,
 * never werift's default STUN server), relay-only when asked, our codecs, one transport per
 * call (`max-bundle`), and the call's own certificate.
 */
export function peerConnectionConfig(s: PeerConnectionSettings): RTCPeerConnectionConfig {
  return {
    iceServers: withoutThirdPartyStun(iceServersForFamily(s.iceServers, s.ipFamily)).map((x) => ({ urls: x.urls, username: x.username, credential: x.credential })),
    iceTransportPolicy: s.relayOnly ? 'relay' : 'all',
    codecs: codecsFor(s.videoCodec),
    headerExtensions: { video: [useTransportWideCC()] },
    bundlePolicy: 'max-bundle',
    ...(s.certificate ? { certificates: [s.certificate] } : {}),
    ...ipFamilyConfig(s.ipFamily),
    ...s.peerConfig,
  } as RTCPeerConnectionConfig;
}
