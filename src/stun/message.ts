/**
 * A small STUN message codec (RFC 8489), with the RFC 5780 and RFC 8656 (TURN) attributes
 * that chatzyo's STUN responder, probe and TURN checks use. Pure functions over Buffers.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { crc32 } from 'node:zlib';

/** The magic cookie, RFC 8489 section 5. */
export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;

/** Message types (method | class) used here. */
export const StunType = {
  BindingRequest: 0x0001,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
  AllocateRequest: 0x0003,
  AllocateSuccess: 0x0103,
  AllocateError: 0x0113,
  RefreshRequest: 0x0004,
  RefreshSuccess: 0x0104,
} as const;

/** Attribute types used here. */
export const Attr = {
  MappedAddress: 0x0001,
  ChangeRequest: 0x0003,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedTransport: 0x0019,
  XorMappedAddress: 0x0020,
  Padding: 0x0026,
  ResponsePort: 0x0027,
  Software: 0x8022,
  Fingerprint: 0x8028,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
} as const;

/** CHANGE-REQUEST flags, RFC 5780 section 7.2. */
export const CHANGE_IP = 0x04;
export const CHANGE_PORT = 0x02;

/** A transport address. */
export interface StunAddress { address: string; port: number; family: 4 | 6 }

/** One decoded STUN message. */
export interface StunMessage {
  type: number;
  transactionId: Buffer;
  attributes: { type: number; value: Buffer }[];
}

/** A typed decoding failure. */
export class StunDecodeError extends Error {
  override readonly name = 'StunDecodeError';
  readonly code = 'CHZ_ERR_STUN_DECODE';
}

/** Is this datagram shaped like STUN (first two bits zero and the magic cookie)? */
export function isStun(buf: Buffer): boolean {
  return buf.length >= 20 && (buf[0]! & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC_COOKIE;
}

/** Decodes a STUN message; throws {@link StunDecodeError} on malformed input. */
export function decodeStun(buf: Buffer): StunMessage {
  if (!isStun(buf)) throw new StunDecodeError('not a STUN message');
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0 || 20 + length > buf.length) throw new StunDecodeError(`bad STUN length ${length}`);
  const attributes: StunMessage['attributes'] = [];
  let off = 20;
  while (off + 4 <= 20 + length) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    if (off + 4 + len > 20 + length) throw new StunDecodeError(`attribute 0x${type.toString(16)} overruns the message`);
    attributes.push({ type, value: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), transactionId: Buffer.from(buf.subarray(8, 20)), attributes };
}

/** Options for {@link encodeStun}. */
export interface EncodeOptions {
  /** Adds MESSAGE-INTEGRITY (HMAC-SHA1) with this key, RFC 8489 section 14.5. */
  integrityKey?: Buffer;
  /** Adds FINGERPRINT, RFC 8489 section 14.7. */
  fingerprint?: boolean;
}

/** Encodes a message; MESSAGE-INTEGRITY and FINGERPRINT are appended when asked. */
export function encodeStun(msg: StunMessage, options: EncodeOptions = {}): Buffer {
  const parts: Buffer[] = [];
  for (const a of msg.attributes) parts.push(tlv(a.type, a.value));
  let body = Buffer.concat(parts);
  const header = (extra: number) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(msg.type, 0);
    h.writeUInt16BE(body.length + extra, 2);
    h.writeUInt32BE(MAGIC_COOKIE, 4);
    msg.transactionId.copy(h, 8);
    return h;
  };
  if (options.integrityKey) {
    const hmac = createHmac('sha1', options.integrityKey).update(Buffer.concat([header(24), body])).digest();
    body = Buffer.concat([body, tlv(Attr.MessageIntegrity, hmac)]);
  }
  if (options.fingerprint) {
    const crc = (crc32(Buffer.concat([header(8), body])) ^ FINGERPRINT_XOR) >>> 0;
    const v = Buffer.alloc(4);
    v.writeUInt32BE(crc, 0);
    body = Buffer.concat([body, tlv(Attr.Fingerprint, v)]);
  }
  return Buffer.concat([header(0), body]);
}

function tlv(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const out = Buffer.alloc(4 + value.length + pad);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** A fresh 96-bit transaction id. */
export function newTransactionId(): Buffer {
  return randomBytes(12);
}

/** The first attribute of a type, if present. */
export function getAttr(msg: StunMessage, type: number): Buffer | undefined {
  return msg.attributes.find((a) => a.type === type)?.value;
}

/** Encodes MAPPED-ADDRESS-style attributes (RESPONSE-ORIGIN, OTHER-ADDRESS). */
export function encodeAddress(addr: StunAddress): Buffer {
  const ip = addressBytes(addr);
  const out = Buffer.alloc(4 + ip.length);
  out[1] = addr.family === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(addr.port, 2);
  ip.copy(out, 4);
  return out;
}

/** Encodes an XOR-MAPPED-ADDRESS-style attribute for `transactionId`. */
export function encodeXorAddress(addr: StunAddress, transactionId: Buffer): Buffer {
  const plain = encodeAddress(addr);
  plain.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
  const mask = Buffer.concat([u32(MAGIC_COOKIE), transactionId]);
  for (let i = 4; i < plain.length; i++) plain[i]! ^= mask[i - 4]!;
  return plain;
}

/** Decodes a MAPPED-ADDRESS-style attribute. */
export function decodeAddress(value: Buffer): StunAddress {
  if (value.length < 8) throw new StunDecodeError('address attribute too short');
  const family = value[1] === 0x01 ? 4 : value[1] === 0x02 ? 6 : 0;
  if (family === 0 || value.length !== (family === 4 ? 8 : 20)) throw new StunDecodeError('bad address family');
  const ip = value.subarray(4);
  return { family, port: value.readUInt16BE(2), address: bytesToIp(ip, family) };
}

/** Decodes an XOR-MAPPED-ADDRESS-style attribute. */
export function decodeXorAddress(value: Buffer, transactionId: Buffer): StunAddress {
  const copy = Buffer.from(value);
  if (copy.length < 8) throw new StunDecodeError('address attribute too short');
  copy.writeUInt16BE(copy.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16), 2);
  const mask = Buffer.concat([u32(MAGIC_COOKIE), transactionId]);
  for (let i = 4; i < copy.length; i++) copy[i]! ^= mask[i - 4]!;
  return decodeAddress(copy);
}

/** Encodes ERROR-CODE (RFC 8489 section 14.8). */
export function encodeErrorCode(code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8');
  const out = Buffer.alloc(4 + r.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  r.copy(out, 4);
  return out;
}

/** Decodes ERROR-CODE. */
export function decodeErrorCode(value: Buffer): { code: number; reason: string } {
  if (value.length < 4) throw new StunDecodeError('ERROR-CODE too short');
  return { code: (value[2]! & 0x07) * 100 + value[3]!, reason: value.subarray(4).toString('utf8') };
}

/** Verifies FINGERPRINT when present; true when absent. */
export function checkFingerprint(buf: Buffer): boolean {
  const msg = decodeStun(buf);
  const last = msg.attributes[msg.attributes.length - 1];
  if (!last || last.type !== Attr.Fingerprint) return true;
  // A FINGERPRINT is exactly 32 bits (RFC 8489 section 14.7); any other length does not verify.
  if (last.value.length !== 4) return false;
  const end = 20 + buf.readUInt16BE(2) - 8;
  const head = Buffer.from(buf.subarray(0, end));
  const crc = (crc32(head) ^ FINGERPRINT_XOR) >>> 0;
  return crc === last.value.readUInt32BE(0);
}

/** The long-term credential key, MD5(username ":" realm ":" password), RFC 8489 section 9.2.2. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function addressBytes(addr: StunAddress): Buffer {
  if (addr.family === 4) {
    if (!isIPv4(addr.address)) throw new Error(`not an IPv4 address: ${addr.address}`);
    return Buffer.from(addr.address.split('.').map(Number));
  }
  // Drop a zone id (`fe80::1%eth0`), then let the URL parser write the address in its canonical
  // form (RFC 5952), which spells an embedded IPv4 part (`::ffff:192.0.2.1`) as two hex groups.
  const bare = addr.address.split('%')[0]!;
  if (!isIPv6(bare)) throw new Error(`not an IPv6 address: ${addr.address}`);
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const out = Buffer.alloc(16);
  const [head, tail] = canonical.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

function bytesToIp(ip: Buffer, family: 4 | 6): string {
  if (family === 4) return [...ip.subarray(0, 4)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i).toString(16));
  // The URL parser prints IPv6 in its canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Strips the IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4`). */
export function unmapAddress(address: string): { address: string; family: 4 | 6 } {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return { address: address.slice(7), family: 4 };
  return { address, family: isIPv4(address) ? 4 : 6 };
}
