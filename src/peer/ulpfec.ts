/**
 * Forward error correction for the CLI's video, as browsers decode it: ULPFEC (RFC 5109) carried
 * in RED (RFC 2198), the scheme libwebrtc and Firefox negotiate as `ulpfec/90000` and
 * `red/90000`. Pure functions over RTP packet bytes; src/peer/fec-sender.ts puts them on the wire.
 *
 * Why: on a long path a lost packet repaired by retransmission reaches the partner a round trip
 * later (250 ms under the lab's `3g`), and its frame, with every frame after it, waits that long:
 * a freeze. An FEC packet after every frame or two, the XOR of their packets, lets the partner
 * rebuild any one lost packet of them as soon as the rest has come.
 */

/** Bytes of the FEC header (RFC 5109 section 7.3). */
const FEC_HEADER_BYTES = 10;
/** The fixed RTP header every protected packet starts with. */
const RTP_FIXED_BYTES = 12;
/** The most packets one FEC packet protects (a level 0 mask with the L bit: 48 bits). */
export const ULPFEC_MAX_PACKETS = 48;

/** The RTP payload of a RED packet with one block (RFC 2198 section 3: F = 0, then the block). */
export function redPayload(blockPayloadType: number, block: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + block.length);
  out[0] = blockPayloadType & 0x7f;
  block.copy(out, 1);
  return out;
}

/**
 * The primary (last) block of a RED payload and its payload type, or null when the headers run
 * past the payload. Redundant blocks (F = 1, 4-byte headers) are skipped: video RED carries none.
 */
export function redPrimaryBlock(payload: Buffer): { payloadType: number; block: Buffer } | null {
  let pos = 0;
  let skip = 0;
  while (pos < payload.length && (payload[pos]! & 0x80) !== 0) {
    if (pos + 4 > payload.length) return null;
    skip += ((payload[pos + 2]! & 0x03) << 8) | payload[pos + 3]!;
    pos += 4;
  }
  if (pos >= payload.length) return null;
  const payloadType = payload[pos]! & 0x7f;
  const start = pos + 1 + skip;
  if (start > payload.length) return null;
  return { payloadType, block: payload.subarray(start) };
}

/**
 * The ULPFEC payload (FEC header, one level 0 header, the XOR) protecting `packets`: whole RTP
 * packets as they went on the wire (without RED), of one SSRC, in sequence order, the last no
 * more than {@link ULPFEC_MAX_PACKETS} - 1 after the first.
 *
 * RFC 5109 sections 7.3-7.4: the recovery fields are the XOR of each packet's P, X, CC, M and
 * PT bits, timestamp and length less the fixed header; the protected bytes are everything after
 * the fixed 12-byte header (CSRCs, header extension, payload, padding), zero-padded to the
 * longest.
 */
export function ulpfecPayload(packets: readonly Buffer[]): Buffer {
  if (packets.length === 0) throw new RangeError('ulpfecPayload: no packets to protect');
  const seqOf = (p: Buffer) => p.readUInt16BE(2);
  const base = seqOf(packets[0]!);
  let span = 0;
  for (const p of packets) {
    if (p.length < RTP_FIXED_BYTES) throw new RangeError('ulpfecPayload: a packet shorter than an RTP header');
    span = Math.max(span, ((seqOf(p) - base) & 0xffff) + 1);
  }
  if (span > ULPFEC_MAX_PACKETS) throw new RangeError(`ulpfecPayload: ${span} sequence numbers, at most ${ULPFEC_MAX_PACKETS}`);
  const long = span > 16;
  const maskBytes = long ? 6 : 2;
  const protectedBytes = Math.max(...packets.map((p) => p.length - RTP_FIXED_BYTES));
  const levelHeader = 2 + maskBytes;
  const out = Buffer.alloc(FEC_HEADER_BYTES + levelHeader + protectedBytes);
  let lengthRecovery = 0;
  for (const p of packets) {
    out[0] = out[0]! ^ p[0]!;
    out[1] = out[1]! ^ p[1]!;
    for (let i = 0; i < 4; i++) out[4 + i] = out[4 + i]! ^ p[4 + i]!;
    lengthRecovery ^= p.length - RTP_FIXED_BYTES;
    const bit = (seqOf(p) - base) & 0xffff;
    out[FEC_HEADER_BYTES + 2 + (bit >> 3)] = out[FEC_HEADER_BYTES + 2 + (bit >> 3)]! | (0x80 >> (bit & 7));
    const dst = FEC_HEADER_BYTES + levelHeader;
    for (let i = RTP_FIXED_BYTES; i < p.length; i++) out[dst + i - RTP_FIXED_BYTES] = out[dst + i - RTP_FIXED_BYTES]! ^ p[i]!;
  }
  // E = 0, L as the mask is long, then the XOR of the P, X and CC bits (the version bits' place).
  out[0] = (long ? 0x40 : 0) | (out[0]! & 0x3f);
  out.writeUInt16BE(base, 2);
  out.writeUInt16BE(lengthRecovery, 8);
  out.writeUInt16BE(protectedBytes, FEC_HEADER_BYTES);
  return out;
}

/**
 * Rebuilds the one packet of those `fec` protects that `received` (whole RTP packets by sequence
 * number) lacks, with `ssrc`; null when none or more than one is missing, or `fec` is malformed.
 * The partner's decoder does this; here it proves {@link ulpfecPayload} right.
 */
export function ulpfecRecover(fec: Buffer, received: ReadonlyMap<number, Buffer>, ssrc: number): Buffer | null {
  if (fec.length < FEC_HEADER_BYTES + 4) return null;
  const long = (fec[0]! & 0x40) !== 0;
  const maskBytes = long ? 6 : 2;
  const levelHeader = 2 + maskBytes;
  if (fec.length < FEC_HEADER_BYTES + levelHeader) return null;
  const base = fec.readUInt16BE(2);
  const protectedBytes = fec.readUInt16BE(FEC_HEADER_BYTES);
  const data = fec.subarray(FEC_HEADER_BYTES + levelHeader);
  if (data.length < protectedBytes) return null;
  let missing: number | null = null;
  const present: Buffer[] = [];
  for (let bit = 0; bit < maskBytes * 8; bit++) {
    if ((fec[FEC_HEADER_BYTES + 2 + (bit >> 3)]! & (0x80 >> (bit & 7))) === 0) continue;
    const seq = (base + bit) & 0xffff;
    const p = received.get(seq);
    if (p) present.push(p);
    else if (missing === null) missing = seq;
    else return null;
  }
  if (missing === null) return null;
  let b0 = fec[0]! & 0x3f;
  let b1 = fec[1]!;
  const ts = Buffer.from(fec.subarray(4, 8));
  let length = fec.readUInt16BE(8);
  const body = Buffer.from(data.subarray(0, protectedBytes));
  for (const p of present) {
    b0 ^= p[0]! & 0x3f;
    b1 ^= p[1]!;
    for (let i = 0; i < 4; i++) ts[i] = ts[i]! ^ p[4 + i]!;
    length ^= p.length - RTP_FIXED_BYTES;
    for (let i = RTP_FIXED_BYTES; i < p.length && i - RTP_FIXED_BYTES < body.length; i++) body[i - RTP_FIXED_BYTES] = body[i - RTP_FIXED_BYTES]! ^ p[i]!;
  }
  if (length > body.length) return null;
  const out = Buffer.alloc(RTP_FIXED_BYTES + length);
  out[0] = 0x80 | b0;
  out[1] = b1;
  out.writeUInt16BE(missing, 2);
  ts.copy(out, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
  body.copy(out, RTP_FIXED_BYTES, 0, length);
  return out;
}
