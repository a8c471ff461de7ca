/**
 * Encoded media files cut into frames and RTP packets the way a WebRTC sender cuts them, so
 * receive-side code can be fed real encoder output: IVF (VP8) and H.264 Annex B byte streams;
 * VP8 payloads per RFC 7741 (one-byte descriptor), H.264 per RFC 6184 packetization mode 1
 * (single NAL unit packets, FU-A above the MTU).
 */

/** The frames of an IVF file (a 32-byte file header, then a 12-byte header per frame). */
export function ivfFrames(file: Uint8Array): Uint8Array[] {
  if (String.fromCharCode(...file.subarray(0, 4)) !== 'DKIF') throw new Error('not an IVF file');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const frames: Uint8Array[] = [];
  for (let at = view.getUint16(6, true); at + 12 <= file.length;) {
    const size = view.getUint32(at, true);
    frames.push(file.subarray(at + 12, at + 12 + size));
    at += 12 + size;
  }
  return frames;
}

/** The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01), without start codes. */
export function annexBNalUnits(stream: Uint8Array): Uint8Array[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) { starts.push(i + 3); i += 2; }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : stream.length;
    if (k + 1 < starts.length && stream[end - 1] === 0) end--; // a four-byte start code
    return stream.subarray(s, end);
  });
}

/**
 * NAL units grouped into access units (one per frame): parameter sets, SEI and access unit
 * delimiters open a new one, and so does a slice after a slice (one slice per picture, as
 * x264 writes without sliced threads).
 */
export function h264AccessUnits(nals: Uint8Array[]): Uint8Array[][] {
  const units: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let lastWasSlice = false;
  for (const nal of nals) {
    const type = nal[0]! & 0x1f;
    const slice = type === 1 || type === 5;
    if (current.length > 0 && ([6, 7, 8, 9].includes(type) ? lastWasSlice : slice && lastWasSlice)) {
      units.push(current);
      current = [];
    }
    current.push(nal);
    lastWasSlice = slice;
  }
  if (current.length) units.push(current);
  return units;
}

/** One RTP packet: version 2, payload type 96, SSRC 0x01020304. */
export function rtpPacket(seq: number, timestamp: number, marker: boolean, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head[0] = 0x80;
  head[1] = (marker ? 0x80 : 0) | 96;
  head.writeUInt16BE(seq & 0xffff, 2);
  head.writeUInt32BE(timestamp >>> 0, 4);
  head.writeUInt32BE(0x01020304, 8);
  return Buffer.concat([head, payload]);
}

/** The payloads of one VP8 frame: descriptor S=1 PID=0 on the first, 0 on the rest (RFC 7741 section 4.2). */
export function vp8Payloads(frame: Uint8Array, mtu = 1100): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < frame.length; at += mtu) out.push(Buffer.concat([Buffer.from([at === 0 ? 0x10 : 0x00]), frame.subarray(at, at + mtu)]));
  return out;
}

/** The payloads of one H.264 access unit: single NAL unit packets, FU-A for NAL units above the MTU (RFC 6184 sections 5.6 and 5.8). */
export function h264Payloads(unit: Uint8Array[], mtu = 1100): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const nal of unit) {
    if (nal.length <= mtu) { out.push(nal); continue; }
    const indicator = (nal[0]! & 0xe0) | 28;
    const type = nal[0]! & 0x1f;
    for (let at = 1; at < nal.length; at += mtu) {
      const last = at + mtu >= nal.length;
      out.push(Buffer.concat([Buffer.from([indicator, (at === 1 ? 0x80 : 0) | (last ? 0x40 : 0) | type]), nal.subarray(at, at + mtu)]));
    }
  }
  return out;
}

/** RTP packets of a sequence of frames (each a list of payloads), 90 kHz at `fps`, the marker on each frame's last packet. */
export function rtpStream(frames: Uint8Array[][], fps: number, firstSeq = 65_500): Buffer[] {
  const packets: Buffer[] = [];
  let seq = firstSeq;
  frames.forEach((payloads, i) => {
    payloads.forEach((p, k) => packets.push(rtpPacket(seq++, i * Math.round(90_000 / fps), k === payloads.length - 1, p)));
  });
  return packets;
}
