/**
 * Padding-only RTP packets (RFC 3550 section 5.1): the P bit set, a payload of nothing but
 * padding whose last byte counts it. A receiver counts them for sequence continuity and
 * transport-wide feedback and decodes nothing, so a sender can find out whether the path carries
 * more without sending a rendition it may not carry (libwebrtc probes the same way when it has no
 * RTX). The werift peer's encoder fan-out (src/peer/media-source.ts) and the media bots' clip
 * player (src/bots/clip-player.ts) both send them.
 */
import { RtpHeader, RtpPacket } from 'werift';

/** Padding of one packet: at most 255 bytes (its last byte counts them). */
const PADDING_MAX_BYTES = 255;
/** Less than this is not worth a packet's headers. */
const PADDING_MIN_BYTES = 32;

/**
 * Padding-only packets of up to `bytes` in all (what is left under 32 bytes is not sent), numbered
 * from `firstSeq`, with the timestamp of the frame they follow; `bytes` is the padding they carry
 * (their payloads, without the 12-byte headers) and `nextSeq` the sequence number after them.
 */
export function paddingPackets(bytes: number, firstSeq: number, timestamp: number, payloadType: number, ssrc: number): { packets: RtpPacket[]; bytes: number; nextSeq: number } {
  const packets: RtpPacket[] = [];
  let left = Math.floor(bytes);
  let seq = firstSeq;
  while (left >= PADDING_MIN_BYTES) {
    const n = Math.min(PADDING_MAX_BYTES, left);
    const payload = Buffer.alloc(n);
    payload[n - 1] = n;
    packets.push(new RtpPacket(new RtpHeader({ padding: true, paddingSize: n, marker: false, payloadType, sequenceNumber: seq, timestamp, ssrc }), payload));
    seq = (seq + 1) & 0xffff;
    left -= n;
  }
  return { packets, bytes: Math.floor(bytes) - left, nextSeq: seq };
}
