/**
 * RTP inspection without a decoder: header fields (RFC 3550 section 5.1), where a video frame
 * starts, whether it is a keyframe (VP8: RFC 7741 section 4; H.264: RFC 6184 section 5), the
 * picture size a keyframe announces, and a counter of packets, complete frames, keyframes and
 * losses for the receive side that also says when the picture needs a new keyframe.
 */
import { h264SpsSize, vp8FrameSize, type FrameSize } from './frame-size.js';

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

/** Rewrites the timestamp of an RTP packet in place. */
export function setRtpTimestamp(buf: Uint8Array, ts: number): void {
  buf[4] = (ts >>> 24) & 0xff;
  buf[5] = (ts >>> 16) & 0xff;
  buf[6] = (ts >>> 8) & 0xff;
  buf[7] = ts & 0xff;
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
  const i = vp8DescriptorLength(p);
  if (i < 0) return { frameStart: false, keyframe: false };
  const frameStart = (p[0]! & 0x10) !== 0 && (p[0]! & 0x07) === 0;
  if (!frameStart || p.length <= i) return { frameStart, keyframe: false };
  return { frameStart, keyframe: (p[i]! & 0x01) === 0 };
}

/** Length of the VP8 payload descriptor (RFC 7741 section 4.2) at the start of `p`; -1 when cut short. */
export function vp8DescriptorLength(p: Uint8Array): number {
  if (p.length < 1) return -1;
  if (!(p[0]! & 0x80)) return 1;
  if (p.length < 2) return -1;
  const ext = p[1]!;
  let i = 2;
  if (ext & 0x80) i += p.length > i && (p[i]! & 0x80) ? 2 : 1; // I: picture id, 7 or 15 bits
  if (ext & 0x40) i += 1; // L: TL0PICIDX
  if (ext & 0x30) i += 1; // T or K: TID/Y/KEYIDX
  return i <= p.length ? i : -1;
}

/**
 * Where the VP8 picture id (RFC 7741 section 4.2, the I bit) sits in an RTP packet, and its
 * width (7 or 15 bits); null when the descriptor has none.
 */
export function vp8PictureIdAt(packet: Uint8Array, payloadOffset: number): { offset: number; bits: 7 | 15 } | null {
  const p0 = packet[payloadOffset];
  const ext = packet[payloadOffset + 1];
  if (p0 === undefined || !(p0 & 0x80) || ext === undefined || !(ext & 0x80)) return null;
  const at = payloadOffset + 2;
  if (at >= packet.length) return null;
  if (packet[at]! & 0x80) return at + 1 < packet.length ? { offset: at, bits: 15 } : null;
  return { offset: at, bits: 7 };
}

/** Reads the picture id found by {@link vp8PictureIdAt}. */
export function readVp8PictureId(packet: Uint8Array, at: { offset: number; bits: 7 | 15 }): number {
  return at.bits === 15 ? ((packet[at.offset]! & 0x7f) << 8) | packet[at.offset + 1]! : packet[at.offset]! & 0x7f;
}

/** Writes a picture id where {@link vp8PictureIdAt} found one (keeping its width). */
export function writeVp8PictureId(packet: Uint8Array, at: { offset: number; bits: 7 | 15 }, id: number): void {
  if (at.bits === 15) {
    packet[at.offset] = 0x80 | ((id >> 8) & 0x7f);
    packet[at.offset + 1] = id & 0xff;
  } else {
    packet[at.offset] = id & 0x7f;
  }
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

/**
 * The sequence parameter set an H.264 RTP payload carries, header byte included: a single NAL
 * unit, one NAL of a STAP-A (RFC 6184 section 5.7.1), or as much of it as the first fragment of
 * a FU-A holds (section 5.8; the header is rebuilt from the FU indicator and FU header).
 */
export function h264ParameterSet(p: Uint8Array): Uint8Array | null {
  if (p.length < 1) return null;
  const type = p[0]! & 0x1f;
  if (type === NAL_SPS) return p;
  if (type === NAL_STAP_A) {
    for (let i = 1; i + 2 < p.length;) {
      const size = (p[i]! << 8) | p[i + 1]!;
      if ((p[i + 2]! & 0x1f) === NAL_SPS) return p.subarray(i + 2, Math.min(p.length, i + 2 + size));
      i += 2 + size;
    }
    return null;
  }
  if (type === NAL_FU_A && p.length > 2 && (p[1]! & 0x80) && (p[1]! & 0x1f) === NAL_SPS) {
    const nal = new Uint8Array(p.length - 1);
    nal[0] = (p[0]! & 0xe0) | NAL_SPS;
    nal.set(p.subarray(2), 1);
    return nal;
  }
  return null;
}

/**
 * The picture size a video RTP payload announces: the VP8 key frame header in the first packet
 * of a key frame, or an H.264 SPS. Null for every other packet.
 */
export function payloadFrameSize(codec: VideoCodec, payload: Uint8Array): FrameSize | null {
  if (codec === 'vp8') {
    const kind = vp8PayloadKind(payload);
    if (!kind.frameStart || !kind.keyframe) return null;
    return vp8FrameSize(payload.subarray(vp8DescriptorLength(payload)));
  }
  const sps = h264ParameterSet(payload);
  return sps ? h264SpsSize(sps) : null;
}

/** What {@link FrameCounter} has counted. */
export interface ReceiveCounts {
  /** Packets received (a copy of one already counted, a resend or a probe's, counts once). */
  packets: number;
  bytes: number;
  frames: number;
  keyframes: number;
  /** Expected minus received packets (RFC 3550 appendix A.3); never negative. */
  lost: number;
  /** Picture size the last keyframe announced (video; null until one did). */
  frameWidth: number | null;
  frameHeight: number | null;
}

/** Options of a {@link FrameCounter}. */
export interface FrameCounterOptions {
  /**
   * How long a missing video packet may stay missing (a retransmission answering our NACK may
   * be on its way) before the picture counts as broken until the next keyframe. Default 1000 ms.
   */
  lossWaitMs?: number;
  /** Clock in ms (tests pass their own). */
  now?: () => number;
}

/** A jump of more sequence numbers than this is not waited for: the picture is broken at once. */
const MAX_WAITED_GAP = 1000;
/** Sequence numbers a {@link FrameCounter} remembers to tell a copy from a new packet. */
const SEEN_RING = 2048;

interface PendingFrame { first: number; last: number; seqs: Set<number>; start: boolean; end: boolean; key: boolean }

/**
 * Counts packets, complete frames and keyframes of one incoming video stream, tolerating
 * reordering: a frame counts once all packets from its start to its marker packet arrived.
 * Audio streams count packets only (each packet is one frame).
 *
 * It also says when the partner's picture cannot be decoded until a new keyframe
 * ({@link awaitingKeyframe}): before the first complete keyframe, and after a video packet was
 * lost for good (missing for `lossWaitMs`). With VP8 and H.264 as WebRTC stacks send them every
 * frame refers to the one before, so one lost packet spoils the picture until the next keyframe.
 */
export class FrameCounter implements ReceiveCounts {
  packets = 0;
  bytes = 0;
  frames = 0;
  keyframes = 0;
  frameWidth: number | null = null;
  frameHeight: number | null = null;
  /** Times the picture broke after a keyframe (a packet lost for good). */
  decodeBreaks = 0;
  #baseSeq: number | null = null;
  #maxExt = 0;
  /**
   * The last {@link SEEN_RING} extended sequence numbers received (slot `ext % SEEN_RING` holds
   * `ext`; NaN: none yet): a copy of one (a resend that crossed the original, or a stack that
   * probes with copies of recent packets on its RTX stream, as libwebrtc does) is counted once.
   */
  readonly #seen = new Float64Array(SEEN_RING).fill(NaN);
  #pending = new Map<number, PendingFrame>();
  #done = new Set<number>();
  #doneOrder: number[] = [];
  /** Missing video packets (extended sequence number) and since when, oldest first. */
  #missing = new Map<number, number>();
  #broken = false;
  readonly #lossWaitMs: number;
  readonly #now: () => number;

  constructor(readonly codec: VideoCodec | 'audio', opts: FrameCounterOptions = {}) {
    this.#lossWaitMs = opts.lossWaitMs ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  /** The partner's video will not decode until a keyframe arrives: none has yet, or a packet was lost for good since the last. */
  get awaitingKeyframe(): boolean {
    return this.codec !== 'audio' && (this.keyframes === 0 || this.#broken);
  }

  /** Counts one RTP packet (a full packet, header included). */
  push(packet: Uint8Array): void {
    const h = parseRtp(packet);
    if (!h) return;
    this.pushParsed(h, packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength), packet.length);
  }

  /** Counts one RTP packet already parsed (werift hands packets over parsed). */
  pushParsed(h: Pick<RtpInfo, 'marker' | 'sequenceNumber' | 'timestamp'>, payload: Uint8Array, size: number): void {
    this.bytes += size;
    if (!this.#trackSeq(h.sequenceNumber)) return; // a copy of a packet already counted
    this.packets++;
    if (this.codec === 'audio') { this.frames++; return; }
    if (this.#done.has(h.timestamp)) return;
    const kind = payloadKind(this.codec, payload);
    if (kind.keyframe) {
      const size = payloadFrameSize(this.codec, payload);
      if (size) { this.frameWidth = size.width; this.frameHeight = size.height; }
    }
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
      if (f.key) this.#keyframeComplete(f.first);
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
    return {
      packets: this.packets, bytes: this.bytes, frames: this.frames, keyframes: this.keyframes, lost: this.lost,
      frameWidth: this.frameWidth, frameHeight: this.frameHeight,
    };
  }

  /** Tracks `seq` for loss and the picture's decodability; false for a copy of a packet already counted. */
  #trackSeq(seq: number): boolean {
    if (this.#baseSeq === null) { this.#baseSeq = seq; this.#maxExt = seq; }
    const ext = this.#extended(seq);
    // Only the last SEEN_RING numbers are remembered; an older one counts as new and leaves the ring alone.
    if (this.#maxExt - ext < SEEN_RING) {
      const slot = ((ext % SEEN_RING) + SEEN_RING) % SEEN_RING;
      if (this.#seen[slot] === ext) return false;
      this.#seen[slot] = ext;
    }
    const video = this.codec !== 'audio';
    const now = video ? this.#now() : 0;
    if (ext > this.#maxExt) {
      if (video && ext - this.#maxExt - 1 > MAX_WAITED_GAP) this.#pictureBroken();
      else if (video) for (let s = this.#maxExt + 1; s < ext; s++) this.#missing.set(s, now);
      this.#maxExt = ext;
    } else if (video) {
      this.#missing.delete(ext);
    }
    if (!video) return true;
    const oldest = this.#missing.values().next();
    if (!oldest.done && now - oldest.value >= this.#lossWaitMs) this.#pictureBroken();
    return true;
  }

  /** A packet is lost for good: what follows will not decode until a keyframe. */
  #pictureBroken(): void {
    this.#missing.clear();
    if (this.keyframes === 0 || this.#broken) return;
    this.#broken = true;
    this.decodeBreaks++;
  }

  /** A whole keyframe arrived: the picture decodes again, and losses before it no longer matter. */
  #keyframeComplete(first: number): void {
    this.keyframes++;
    this.#broken = false;
    for (const s of this.#missing.keys()) if (s < first) this.#missing.delete(s);
  }

  /** Sequence number extended past 16 bits, nearest to the highest seen (RFC 3550 appendix A.1). */
  #extended(seq: number): number {
    const low = this.#maxExt & 0xffff;
    const diff = ((seq - low + 0x18000) & 0xffff) - 0x8000;
    return this.#maxExt + diff;
  }
}
