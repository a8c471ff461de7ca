// Property-based fuzzing of the STUN codec (src/stun/message.ts): whatever bytes arrive, the
// decoders either return or throw StunDecodeError (CHZ_ERR_STUN_DECODE), never a RangeError
// from a Buffer read; and valid messages and addresses survive encode -> decode unchanged.
import { createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Attr, StunDecodeError, checkFingerprint, decodeAddress, decodeErrorCode, decodeStun, decodeXorAddress,
  encodeAddress, encodeErrorCode, encodeStun, encodeXorAddress, type StunMessage,
} from '../../src/stun/message.js';
import { mutatedStunDatagram, stunShapedBytes, transactionId, validStunMessage } from './stun-arbitraries.js';

const RUNS = 2000;

/** Runs `fn`; a throw that is not the codec's typed error fails the property. */
function typedOnly<T>(what: string, fn: () => T): T | StunDecodeError {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StunDecodeError && err.code === 'CHZ_ERR_STUN_DECODE') return err;
    throw new Error(`${what} threw ${err instanceof Error ? `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}` : String(err)}, not StunDecodeError`, { cause: err });
  }
}

/** Every decoder in the codec, over one datagram and each of its attributes. */
function decodeEverything(buf: Buffer): void {
  const msg = typedOnly('decodeStun', () => decodeStun(buf));
  typedOnly('checkFingerprint', () => checkFingerprint(buf));
  if (msg instanceof StunDecodeError) return;
  // What a successful decode promises: a 12-byte transaction id, values inside the message.
  const length = buf.readUInt16BE(2);
  expect(msg.type).toBe(buf.readUInt16BE(0));
  expect(msg.transactionId).toEqual(buf.subarray(8, 20));
  let used = 0;
  for (const a of msg.attributes) {
    expect(a.value.byteOffset - buf.byteOffset + a.value.length).toBeLessThanOrEqual(20 + length);
    used += 4 + a.value.length;
    typedOnly('decodeAddress', () => decodeAddress(a.value));
    typedOnly('decodeXorAddress', () => decodeXorAddress(a.value, msg.transactionId));
    typedOnly('decodeErrorCode', () => decodeErrorCode(a.value));
  }
  expect(used).toBeLessThanOrEqual(length);
  // Decoding is stable: what decodes re-encodes to the same message (padding bytes aside).
  expect(sameMessage(decodeStun(encodeStun(msg)), msg)).toBe(true);
}

function sameMessage(a: StunMessage, b: StunMessage): boolean {
  return a.type === b.type && a.transactionId.equals(b.transactionId) && a.attributes.length === b.attributes.length
    && a.attributes.every((x, i) => x.type === b.attributes[i]!.type && x.value.equals(b.attributes[i]!.value));
}

const hex = (b: Buffer) => b.toString('hex');
const withTid = (rest: string) => Buffer.from(`${rest.slice(0, 16)}${'ab'.repeat(12)}${rest.slice(16)}`, 'hex');

describe('STUN decoder on hostile bytes', () => {
  it(`throws only StunDecodeError on arbitrary bytes (${RUNS} cases)`, () => {
    fc.assert(fc.property(stunShapedBytes, (buf) => { decodeEverything(buf); }), { numRuns: RUNS });
  });

  it(`throws only StunDecodeError on structured-but-mutated messages (${RUNS} cases)`, () => {
    fc.assert(fc.property(mutatedStunDatagram(), (buf) => { decodeEverything(buf); }), {
      numRuns: RUNS,
      examples: [
        // FINGERPRINT truncated to 0 and 2 bytes: the CRC read must not run off the value.
        [withTid('000100042112a442' + '80280000')],
        [withTid('000100082112a442' + '80280002abcd0000')],
        // FINGERPRINT longer than 4 bytes.
        [withTid('0001000c2112a442' + '8028000800000000ffffffff')],
        // MESSAGE-INTEGRITY truncated to 3 bytes, then FINGERPRINT.
        [withTid('000100102112a442' + '00080003aabbcc00' + '8028000400000000')],
        // Attribute length overruns the message; odd padding; length not a multiple of 4.
        [withTid('000100082112a442' + '00270010abcd0000')],
        [withTid('000100062112a442' + '002700020000')],
        [withTid('000100082112a442' + '00270001ff000000')],
        // XOR-MAPPED-ADDRESS of family 3 and of family IPv6 with 4 address bytes.
        [withTid('0101000c2112a442' + '0020000800030000' + '7f000001')],
        [withTid('0101000c2112a442' + '0020000800020000' + '7f000001')],
        // Bad magic cookie.
        [withTid('000100002112a443')],
      ],
    });
  });
});

describe('STUN encoder/decoder round trips', () => {
  it(`decode(encode(m)) equals m for valid messages (${RUNS} cases)`, () => {
    fc.assert(fc.property(validStunMessage, (m) => {
      expect(sameMessage(decodeStun(encodeStun(m)), m)).toBe(true);
    }), { numRuns: RUNS });
  });

  it(`FINGERPRINT verifies, and catches any bit flipped in the transaction id or a value (${RUNS} cases)`, () => {
    fc.assert(fc.property(validStunMessage, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
      const buf = encodeStun(m, { fingerprint: true });
      const got = decodeStun(buf);
      expect(got.attributes.at(-1)!.type).toBe(Attr.Fingerprint);
      expect(sameMessage({ ...got, attributes: got.attributes.slice(0, -1) }, m)).toBe(true);
      expect(checkFingerprint(buf)).toBe(true);
      // Flip one bit of the transaction id or of an attribute value (not a length or a type,
      // which would change where the FINGERPRINT is): CRC-32 detects every single-bit error.
      const spots: number[] = [];
      for (let i = 8; i < 20; i++) spots.push(i);
      for (const a of got.attributes.slice(0, -1)) {
        const start = a.value.byteOffset - buf.byteOffset;
        for (let i = 0; i < a.value.length; i++) spots.push(start + i);
      }
      const flipped = Buffer.from(buf);
      flipped[spots[at % spots.length]!]! ^= 1 << bit;
      expect(checkFingerprint(flipped)).toBe(false);
    }), { numRuns: RUNS });
  });

  it(`MESSAGE-INTEGRITY is the HMAC-SHA1 of the message up to it, RFC 8489 section 14.5 (${RUNS / 4} cases)`, () => {
    fc.assert(fc.property(validStunMessage, fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.boolean(), (m, key, fingerprint) => {
      const buf = encodeStun(m, { integrityKey: Buffer.from(key), fingerprint });
      const got = decodeStun(buf);
      const mi = got.attributes[m.attributes.length]!;
      expect(mi.type).toBe(Attr.MessageIntegrity);
      const end = mi.value.byteOffset - buf.byteOffset - 4;
      const covered = Buffer.from(buf.subarray(0, end));
      covered.writeUInt16BE(end - 20 + 24, 2);
      expect(hex(mi.value)).toBe(createHmac('sha1', Buffer.from(key)).update(covered).digest('hex'));
      if (fingerprint) {
        const fp = got.attributes.at(-1)!;
        expect(fp.value.readUInt32BE(0)).toBe((crc32(buf.subarray(0, buf.length - 8)) ^ 0x5354554e) >>> 0);
      }
    }), { numRuns: RUNS / 4 });
  });

  it(`XOR and plain addresses round-trip for IPv4 and IPv6, in every textual form (${RUNS} cases)`, () => {
    const canonical = (a: string, family: 4 | 6) => (family === 4 ? a : new URL(`http://[${a}]/`).hostname.slice(1, -1));
    const address = fc.oneof(
      fc.ipV4().map((address) => ({ address, family: 4 as const })),
      fc.ipV6().map((address) => ({ address, family: 6 as const })),
    );
    fc.assert(fc.property(address, fc.integer({ min: 0, max: 65535 }), transactionId, ({ address, family }, port, tid) => {
      const want = { address: canonical(address, family), port, family };
      expect(decodeAddress(encodeAddress({ address, port, family }))).toEqual(want);
      expect(decodeXorAddress(encodeXorAddress({ address, port, family }, tid), tid)).toEqual(want);
    }), { numRuns: RUNS, examples: [[{ address: '::ffff:192.0.2.1', family: 6 }, 3478, Buffer.alloc(12)], [{ address: '::', family: 6 }, 0, Buffer.alloc(12)]] });
  });

  it(`ERROR-CODE round-trips for codes 300-699 (${RUNS / 4} cases)`, () => {
    fc.assert(fc.property(fc.integer({ min: 300, max: 699 }), fc.string({ maxLength: 40 }), (code, reason) => {
      expect(decodeErrorCode(encodeErrorCode(code, reason))).toEqual({ code, reason });
    }), { numRuns: RUNS / 4 });
  });

});
