/**
 * RTP inspection without a decoder: header fields (RFC 3550 section 5.1), where a video frame
 * starts, whether it is a keyframe (VP8: RFC 7741 section 4; H.264: RFC 6184 section 5), and a
 * counter of packets, complete frames, keyframes and losses for the receive side.
 */

/** The RTP fields this module needs. */
export interface RtpInfo {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Offset of the payload in the packet (after CSRCs and the header extension). */
  payloadOffset: number;
  /** Payload length without padding. */
  payloadLength: number;
}

/** Parses an RTP header; returns null when the buffer is not RTP version 2. */
export function parseRtp(buf: Uint8Array): RtpInfo | null {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return null;
  const b0 = buf[0]!;
  const csrcCount = b0 & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (b0 & 0x10) {
    if (buf.length < offset + 4) return null;
    const words = (buf[offset + 2]! << 8) | buf[offset + 3]!;
    offset += 4 + words * 4;
  }
  let end = buf.length;
  if (b0 & 0x20) end -= buf[buf.length - 1]!;
  if (offset > end) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    marker: (buf[1]! & 0x80) !== 0,
    payloadType: buf[1]! & 0x7f,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payloadOffset: offset,
    payloadLength: end - offset,
  };
}

/** Rewrites the sequence number of an RTP packet in place. */
export function setRtpSequence(buf: Uint8Array, seq: number): void {
  buf[2] = (seq >> 8) & 0xff;
  buf[3] = seq & 0xff;
}

/** Video codecs the peer sends and understands. */
export type VideoCodec = 'vp8' | 'h264';

/** Where a payload sits in its frame. */
export interface PayloadKind {
  /** First packet of a frame. */
  frameStart: boolean;
  /** The frame is a keyframe (only meaningful when `frameStart`, except H.264 which marks any IDR/SPS packet). */
  keyframe: boolean;
}

/**
 * VP8 payload descriptor (RFC 7741 section 4.2) then, on the first packet of a partition 0,
 * the payload header whose P bit is 0 for a key frame (RFC 6386 section 9.1).
 */
export function vp8PayloadKind(p: Uint8Array): PayloadKind {
  if (p.length < 1) return { frameStart: false, keyframe: false };
  const x = (p[0]! & 0x80) !== 0;
  const s = (p[0]! & 0x10) !== 0;
  const pid = p[0]! & 0x07;
  let i = 1;
  if (x) {
    if (p.length < 2) return { frameStart: false, keyframe: false };
    const ext = p[1]!;
    i = 2;
    if (ext & 0x80) i += p.length > i && (p[i]! & 0x80) ? 2 : 1; // I: picture id, 7 or 15 bits
    if (ext & 0x40) i += 1; // L: TL0PICIDX
    if (ext & 0x30) i += 1; // T or K: TID/Y/KEYIDX
  }
  const frameStart = s && pid === 0;
  if (!frameStart || p.length <= i) return { frameStart, keyframe: false };
  return { frameStart, keyframe: (p[i]! & 0x01) === 0 };
}

const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_STAP_A = 24;
const NAL_FU_A = 28;

/**
 * H.264 (RFC 6184): single NAL unit, STAP-A (section 5.7.1) and FU-A (section 5.8). A packet
 * starts a frame unless it continues a fragment; it is key when it carries an IDR slice or SPS.
 */
export function h264PayloadKind(p: Uint8Array): PayloadKind {
  if (p.length < 1) return { frameStart: false, keyframe: false };
  const type = p[0]! & 0x1f;
  if (type === NAL_FU_A) {
    if (p.length < 2) return { frameStart: false, keyframe: false };
    const start = (p[1]! & 0x80) !== 0;
    const inner = p[1]! & 0x1f;
    return { frameStart: start, keyframe: start && (inner === NAL_IDR || inner === NAL_SPS) };
  }
  if (type === NAL_STAP_A) {
    let keyframe = false;
    for (let i = 1; i + 2 < p.length;) {
      const size = (p[i]! << 8) | p[i + 1]!;
      const nal = p[i + 2]! & 0x1f;
      if (nal === NAL_IDR || nal === NAL_SPS) keyframe = true;
      i += 2 + size;
    }
    return { frameStart: true, keyframe };
  }
  return { frameStart: true, keyframe: type === NAL_IDR || type === NAL_SPS };
}

/** Payload kind for a codec. */
export function payloadKind(codec: VideoCodec, payload: Uint8Array): PayloadKind {
  return codec === 'vp8' ? vp8PayloadKind(payload) : h264PayloadKind(payload);
}

/** What {@link FrameCounter} has counted. */
export interface ReceiveCounts {
  packets: number;
  bytes: number;
  frames: number;
  keyframes: number;
  /** Expected minus received packets (RFC 3550 appendix A.3); never negative. */
  lost: number;
}

interface PendingFrame { first: number; last: number; seqs: Set<number>; start: boolean; end: boolean; key: boolean }

/**
 * Counts packets, complete frames and keyframes of one incoming video stream, tolerating
 * reordering: a frame counts once all packets from its start to its marker packet arrived.
 * Audio streams count packets only (each packet is one frame).
 */
export class FrameCounter implements ReceiveCounts {
  packets = 0;
  bytes = 0;
  frames = 0;
  keyframes = 0;
  #baseSeq: number | null = null;
  #maxExt = 0;
  #pending = new Map<number, PendingFrame>();
  #done = new Set<number>();
  #doneOrder: number[] = [];

  constructor(readonly codec: VideoCodec | 'audio') {}

  /** Counts one RTP packet (a full packet, header included). */
  push(packet: Uint8Array): void {
    const h = parseRtp(packet);
    if (!h) return;
    this.pushParsed(h, packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength), packet.length);
  }

  /** Counts one RTP packet already parsed (werift hands packets over parsed). */
  pushParsed(h: Pick<RtpInfo, 'marker' | 'sequenceNumber' | 'timestamp'>, payload: Uint8Array, size: number): void {
    this.packets++;
    this.bytes += size;
    this.#trackSeq(h.sequenceNumber);
    if (this.codec === 'audio') { this.frames++; return; }
    if (this.#done.has(h.timestamp)) return;
    const kind = payloadKind(this.codec, payload);
    const ext = this.#extended(h.sequenceNumber);
    let f = this.#pending.get(h.timestamp);
    if (!f) {
      f = { first: ext, last: ext, seqs: new Set(), start: false, end: false, key: false };
      this.#pending.set(h.timestamp, f);
      if (this.#pending.size > 64) this.#pending.delete(this.#pending.keys().next().value!);
    }
    f.seqs.add(ext); // a retransmitted duplicate counts once
    if (ext < f.first) { f.first = ext; f.start = false; }
    if (ext > f.last) f.last = ext;
    if (kind.frameStart && ext === f.first) f.start = true;
    if (kind.keyframe) f.key = true;
    if (h.marker) f.end = true;
    if (f.start && f.end && f.seqs.size === f.last - f.first + 1) {
      this.frames++;
      if (f.key) this.keyframes++;
      this.#pending.delete(h.timestamp);
      this.#done.add(h.timestamp);
      this.#doneOrder.push(h.timestamp);
      if (this.#doneOrder.length > 128) this.#done.delete(this.#doneOrder.shift()!);
    }
  }

  /** Packets lost so far. */
  get lost(): number {
    if (this.#baseSeq === null) return 0;
    return Math.max(0, this.#maxExt - this.#baseSeq + 1 - this.packets);
  }

  /** A plain snapshot. */
  snapshot(): ReceiveCounts {
    return { packets: this.packets, bytes: this.bytes, frames: this.frames, keyframes: this.keyframes, lost: this.lost };
  }

  #trackSeq(seq: number): void {
    if (this.#baseSeq === null) { this.#baseSeq = seq; this.#maxExt = seq; return; }
    const ext = this.#extended(seq);
    if (ext > this.#maxExt) this.#maxExt = ext;
  }

  /** Sequence number extended past 16 bits, nearest to the highest seen (RFC 3550 appendix A.1). */
  #extended(seq: number): number {
    const low = this.#maxExt & 0xffff;
    const diff = ((seq - low + 0x18000) & 0xffff) - 0x8000;
    return this.#maxExt + diff;
  }
}
