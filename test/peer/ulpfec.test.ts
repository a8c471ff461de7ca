/**
 * ULPFEC and RED (src/peer/ulpfec.ts) byte by byte: any one lost packet of those an FEC packet
 * protects comes back exactly as it was sent, header extension, marker and padding included.
 */
import { describe, expect, it } from 'vitest';
import { RtpHeader, RtpPacket } from 'werift';
import { redPayload, redPrimaryBlock, ulpfecPayload, ulpfecRecover, ULPFEC_MAX_PACKETS } from '../../src/peer/ulpfec.js';

const SSRC = 0x11223344;

/** A video packet as werift sends it: a one-byte header extension (transport-wide number), a payload of `size` bytes. */
function packet(seq: number, size: number, opts: { marker?: boolean; ts?: number; padding?: number } = {}): Buffer {
  const payload = Buffer.alloc(size + (opts.padding ?? 0));
  for (let i = 0; i < size; i++) payload[i] = (seq * 31 + i * 7) & 0xff;
  if (opts.padding) payload[payload.length - 1] = opts.padding;
  const ext = Buffer.alloc(2);
  ext.writeUInt16BE((seq * 3) & 0xffff);
  return new RtpPacket(new RtpHeader({
    sequenceNumber: seq & 0xffff, timestamp: opts.ts ?? 90_000, ssrc: SSRC, payloadType: 96, marker: opts.marker ?? false,
    extension: true, extensions: [{ id: 3, payload: ext }], padding: !!opts.padding, paddingSize: opts.padding ?? 0,
  }), payload).serialize();
}

describe('ULPFEC', () => {
  it('rebuilds any one lost packet of a frame byte for byte (sizes, marker, header extension, padding)', () => {
    const frame = [packet(1000, 1100), packet(1001, 1100), packet(1002, 317, { marker: true, padding: 4 })];
    const fec = ulpfecPayload(frame);
    for (let lost = 0; lost < frame.length; lost++) {
      const received = new Map(frame.filter((_, i) => i !== lost).map((p) => [p.readUInt16BE(2), p] as const));
      expect(ulpfecRecover(fec, received, SSRC)).toEqual(frame[lost]);
    }
    // The FEC header (RFC 5109 7.3): E = 0, L = 0, SN base, a 16-bit mask of the three.
    expect(fec[0]! & 0xc0).toBe(0);
    expect(fec.readUInt16BE(2)).toBe(1000);
    expect(fec.readUInt16BE(12)).toBe(0xe000);
    // Nothing to rebuild with everything there, nor with two missing.
    expect(ulpfecRecover(fec, new Map(frame.map((p) => [p.readUInt16BE(2), p] as const)), SSRC)).toBeNull();
    expect(ulpfecRecover(fec, new Map([[1000, frame[0]!]]), SSRC)).toBeNull();
  });

  it('across the wrap of sequence numbers, and with the long mask past 16 packets', () => {
    const wrap = [packet(65534, 500), packet(65535, 600), packet(0, 700, { marker: true })];
    const fec = ulpfecPayload(wrap);
    expect(ulpfecRecover(fec, new Map([[65534, wrap[0]!], [0, wrap[2]!]]), SSRC)).toEqual(wrap[1]);
    const key = Array.from({ length: 30 }, (_, i) => packet(200 + i, 1000 + i, { marker: i === 29, ts: 180_000 }));
    const long = ulpfecPayload(key);
    expect(long[0]! & 0x40).toBe(0x40);
    const received = new Map(key.filter((_, i) => i !== 21).map((p) => [p.readUInt16BE(2), p] as const));
    expect(ulpfecRecover(long, received, SSRC)).toEqual(key[21]);
    expect(() => ulpfecPayload([packet(0, 10), packet(ULPFEC_MAX_PACKETS, 10)])).toThrow(RangeError);
  });
});

describe('RED', () => {
  it('wraps one block and reads back the primary block, past redundant ones', () => {
    const block = Buffer.from([1, 2, 3, 4]);
    const red = redPayload(96, block);
    expect(red[0]).toBe(96);
    expect(redPrimaryBlock(red)).toEqual({ payloadType: 96, block });
    // One redundant block of 2 bytes (F = 1, PT 97, offset, length 2), then the primary (PT 96).
    const withRedundant = Buffer.from([0x80 | 97, 0, 0, 2, 96, 9, 9, 1, 2, 3, 4]);
    expect(redPrimaryBlock(withRedundant)).toEqual({ payloadType: 96, block });
    expect(redPrimaryBlock(Buffer.from([0x80 | 97, 0]))).toBeNull();
    expect(redPrimaryBlock(Buffer.alloc(0))).toBeNull();
  });
});
