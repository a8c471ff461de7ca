/**
 * fast-check arbitraries for STUN datagrams (RFC 8489, RFC 5780): well-formed messages for the
 * round trips, and "structured but mutated" ones for the decoder and the responder — a header
 * that is almost right (wrong length, bad magic cookie), attribute TLVs whose declared length
 * disagrees with their value, odd padding, truncated FINGERPRINT and MESSAGE-INTEGRITY,
 * addresses of unknown families, trailing bytes and bit flips.
 */
import fc from 'fast-check';
import { Attr, CHANGE_IP, CHANGE_PORT, MAGIC_COOKIE, StunType, encodeStun, type StunMessage } from '../../src/stun/message.js';

const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));

/** A 96-bit transaction id. */
export const transactionId = bytes(12, 12);

/** One attribute TLV before encoding: its type and value. */
type RawAttr = { type: number; value: Buffer };

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff, 0); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0, 0); return b; };

/** Ports a RESPONSE-PORT may name; 0 and 65535 are the edges (0 is not a port one can send to). */
export function responsePortValue(ports: fc.Arbitrary<number>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    // RFC 5780 section 7.5: a 16-bit port and 2 bytes of padding.
    fc.tuple(ports, fc.constantFrom(0, 0xffff)).map(([p, pad]) => Buffer.concat([u16(p), u16(pad)])),
    // Wrong lengths: empty, one byte, the bare port, longer.
    fc.tuple(ports, fc.nat(3)).map(([p, cut]) => Buffer.concat([u16(p), Buffer.alloc(2)]).subarray(0, cut)),
    bytes(9),
  );
}

/** CHANGE-REQUEST values: every flag combination, random bits, wrong lengths. */
export const changeRequestValue: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(0, CHANGE_PORT, CHANGE_IP, CHANGE_IP | CHANGE_PORT, 0xffffffff, 0x01, 0x80000000).map(u32),
  fc.integer({ min: 0, max: 0xffffffff }).map(u32),
  bytes(8).filter((b) => b.length !== 4),
);

/** MAPPED-ADDRESS-style values: IPv4, IPv6, unknown families, wrong lengths. */
const addressValue: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.constantFrom(0x01, 0x02), bytes(2, 2), bytes(16, 16), fc.boolean()).map(([family, port, ip, right]) => {
    const n = right ? (family === 0x01 ? 4 : 16) : ip.length === 4 ? 16 : 4;
    return Buffer.concat([Buffer.from([0, family]), port, ip.subarray(0, n)]);
  }),
  fc.tuple(fc.integer({ min: 0, max: 255 }), bytes(22)).map(([family, rest]) => Buffer.concat([Buffer.from([0, family]), rest])),
  bytes(24),
);

/** One attribute from the RFC 8489 / RFC 5780 set, or an unknown one, with plausible or wrong values. */
export function stunAttribute(ports: fc.Arbitrary<number> = fc.integer({ min: 0, max: 65535 })): fc.Arbitrary<RawAttr> {
  return fc.oneof(
    responsePortValue(ports).map((value) => ({ type: Attr.ResponsePort, value })),
    changeRequestValue.map((value) => ({ type: Attr.ChangeRequest, value })),
    addressValue.chain((value) => fc.constantFrom(Attr.MappedAddress, Attr.XorMappedAddress, Attr.ResponseOrigin, Attr.OtherAddress, Attr.XorPeerAddress, Attr.XorRelayedAddress)
      .map((type) => ({ type, value }))),
    // MESSAGE-INTEGRITY is 20 bytes; FINGERPRINT is 4: both also truncated and overlong.
    bytes(24).map((value) => ({ type: Attr.MessageIntegrity, value })),
    bytes(8).map((value) => ({ type: Attr.Fingerprint, value })),
    fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 }), bytes(12))
      .map(([cls, num, reason]) => ({ type: Attr.ErrorCode, value: Buffer.concat([Buffer.from([0, 0, cls, num]), reason]) })),
    bytes(12).map((value) => ({ type: Attr.ErrorCode, value })),
    bytes(16).map((value) => ({ type: Attr.UnknownAttributes, value })),
    bytes(64).map((value) => ({ type: Attr.Padding, value })),
    bytes(32).map((value) => ({ type: Attr.Username, value })),
    bytes(32).map((value) => ({ type: Attr.Software, value })),
    // Unknown attributes: comprehension-required (0x0000-0x7FFF) and comprehension-optional.
    fc.tuple(fc.integer({ min: 0, max: 0x7fff }), bytes(16)).map(([type, value]) => ({ type, value })),
    fc.tuple(fc.integer({ min: 0x8000, max: 0xffff }), bytes(16)).map(([type, value]) => ({ type, value })),
  );
}

/** A well-formed message: 14-bit type, 12-byte transaction id, attributes that fit. */
export const validStunMessage: fc.Arbitrary<StunMessage> = fc.record({
  type: fc.oneof(fc.constantFrom(...Object.values(StunType)), fc.integer({ min: 0, max: 0x3fff })),
  transactionId,
  attributes: fc.array(fc.oneof(stunAttribute(), fc.tuple(fc.integer({ min: 0, max: 0xffff }), bytes(300)).map(([type, value]) => ({ type, value }))), { maxLength: 16 }),
});

/** Mostly `null` (meaning "as the encoder would write it"), sometimes a wrong value. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, { arbitrary: arb, weight: 1 });

/** One TLV as it goes on the wire: its declared length and its padding may be wrong. */
const wireAttr = fc.record({
  attr: stunAttribute(),
  declaredLength: rarely(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 40 }))),
  /** Padding bytes after the value: null = the correct 0-3, else 0-5 of them (so odd or missing). */
  padding: rarely(fc.integer({ min: 0, max: 5 })),
});

/** A byte-level change applied to an encoded datagram. */
const mutation = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('append' as const), data: bytes(12, 1) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('length' as const), value: fc.integer({ min: 0, max: 0xffff }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('cookie' as const), value: fc.integer({ min: 0, max: 0xffffffff }) }), weight: 1 },
);

/** A structured STUN datagram, then mutated: what a hostile or broken sender puts on the wire. */
export function mutatedStunDatagram(opts: { type?: fc.Arbitrary<number>; attribute?: fc.Arbitrary<RawAttr> } = {}): fc.Arbitrary<Buffer> {
  return fc.record({
    type: opts.type ?? fc.oneof(
      { arbitrary: fc.constant(StunType.BindingRequest), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 0x3fff }), weight: 2 },
      { arbitrary: fc.integer({ min: 0x4000, max: 0xffff }), weight: 1 },
    ),
    transactionId,
    attrs: fc.array(opts.attribute ? fc.record({ attr: opts.attribute, declaredLength: fc.constant(null), padding: fc.constant(null) }) : wireAttr, { maxLength: 10 }),
    fingerprint: fc.boolean(),
    integrity: fc.option(bytes(16, 1), { freq: 3 }),
    mutations: fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 3 }),
  }).map((m) => {
    // Encode the well-formed part with the real encoder (so MESSAGE-INTEGRITY and FINGERPRINT
    // are right before the mutations), then splice in the TLVs with wrong lengths or padding.
    const straight = m.attrs.every((a) => a.declaredLength === null && a.padding === null);
    let buf: Buffer;
    if (straight) {
      buf = encodeStun({ type: m.type & 0x3fff, transactionId: m.transactionId, attributes: m.attrs.map((a) => a.attr) },
        { fingerprint: m.fingerprint, integrityKey: m.integrity ?? undefined });
      if (m.type > 0x3fff) buf.writeUInt16BE(m.type, 0);
    } else {
      const body = Buffer.concat(m.attrs.map(({ attr, declaredLength, padding }) => {
        const head = Buffer.concat([u16(attr.type), u16(declaredLength ?? attr.value.length)]);
        return Buffer.concat([head, attr.value, Buffer.alloc(padding ?? (4 - (attr.value.length % 4)) % 4)]);
      }));
      buf = Buffer.concat([u16(m.type), u16(body.length), u32(MAGIC_COOKIE), m.transactionId, body]);
    }
    for (const mu of m.mutations) {
      if (mu.kind === 'flip' && buf.length) buf[mu.at % buf.length]! ^= 1 << mu.bit;
      else if (mu.kind === 'truncate') buf = buf.subarray(0, mu.at % (buf.length + 1));
      else if (mu.kind === 'append') buf = Buffer.concat([buf, mu.data]);
      else if (mu.kind === 'length' && buf.length >= 4) buf.writeUInt16BE(mu.value, 2);
      else if (mu.kind === 'cookie' && buf.length >= 8) buf.writeUInt32BE(mu.value, 4);
    }
    return Buffer.from(buf);
  });
}

/** Arbitrary bytes, and arbitrary bytes behind a header that passes the STUN shape check. */
export const stunShapedBytes: fc.Arbitrary<Buffer> = fc.oneof(
  bytes(600),
  fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.option(fc.integer({ min: 0, max: 0xffff }), { freq: 2 }), transactionId, bytes(200))
    .map(([type, length, tid, rest]) => {
      // The length field is random, or right for the bytes that follow (rounded down to 4).
      const body = rest.subarray(0, rest.length - (rest.length % 4));
      return Buffer.concat([u16(type), u16(length ?? body.length), u32(MAGIC_COOKIE), tid, length === null ? body : rest]);
    }),
);
