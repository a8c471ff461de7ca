// Property-based fuzzing of the WebSocket frame parser behind /ws (ws's Receiver inside
// `chatzyo serve`): after a real upgrade over raw TCP, fast-check writes frames with random
// opcodes, reserved bits, masked and unmasked, 7/16/64-bit lengths (non-minimal ones, and 64-bit
// lengths past 2^53 or past maxPayload), fragmented control frames, continuations out of place,
// invalid UTF-8 in text and close reasons, close frames with bad codes, and raw garbage.
//
// A small model of RFC 6455 section 5 (in ws's order of checks) says what the server must do:
// close with 1002 (protocol error), 1007 (invalid UTF-8) or 1009 (too big), echo our close, or
// carry on. Whatever it sends must be well-formed server frames (unmasked; text frames valid
// protocol messages; at most one close, last). Nothing may throw out of a listener; afterwards
// /healthz is 200 and a normal client connects and says hello.
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, parseServerFrame } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { healthz, watchUncaught, type UncaughtWatch } from './harness.js';

const RUNS = 1200;

let server: SignalServer;
let watch: UncaughtWatch;

beforeAll(async () => {
  watch = watchUncaught();
  server = await withTimeout(startServer({ maxConnectionsPerAddress: 100_000 }), 10_000, 'starting the server');
});
afterAll(async () => {
  if (server) await withTimeout(server.close(), 10_000, 'closing the server');
  watch?.dispose();
  watch?.check('the last case');
});

// ---- client frames -------------------------------------------------------------------------

/** One client frame, field by field, so the model can judge it. */
interface Frame {
  fin: boolean;
  /** RSV1-3 as a 3-bit number (RSV1 = 4). */
  rsv: number;
  opcode: number;
  masked: boolean;
  mask: Buffer;
  payload: Buffer;
  /** How the length is written: shortest, or forced into 16 or 64 bits (non-minimal, legal for ws). */
  encoding: 'min' | '16' | '64';
  /** A declared 64-bit length with no payload behind it (a huge frame: only its header is sent). */
  declared?: bigint;
}

function encodeFrame(f: Frame): Buffer {
  const len = f.declared ?? BigInt(f.payload.length);
  let len7: number;
  let ext = Buffer.alloc(0);
  if (f.declared !== undefined || f.encoding === '64' || len > 0xffffn) {
    len7 = 127;
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len, 0);
  } else if (f.encoding === '16' || len > 125n) {
    len7 = 126;
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(len), 0);
  } else {
    len7 = Number(len);
  }
  const head = Buffer.from([(f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode, (f.masked ? 0x80 : 0) | len7]);
  if (f.declared !== undefined) return Buffer.concat([head, ext, f.masked ? f.mask : Buffer.alloc(0)]);
  const body = f.masked ? Buffer.from(f.payload.map((b, i) => b ^ f.mask[i % 4]!)) : f.payload;
  return Buffer.concat([head, ext, f.masked ? f.mask : Buffer.alloc(0), body]);
}

/** Close codes ws accepts on the wire (RFC 6455 section 7.4, as ws's isValidStatusCode). */
const validCloseCode = (code: number) => (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

const utf8 = new TextDecoder('utf-8', { fatal: true });
function isUtf8(b: Buffer): boolean {
  try { utf8.decode(b); return true; } catch { return false; }
}

/** What the server must do with a sequence of complete frames. */
type Expected = { kind: 'error'; code: 1002 | 1007 | 1009; at: number } | { kind: 'echo'; code: number | null; at: number } | { kind: 'none' };

/**
 * The model: RFC 6455 section 5 in the order ws's Receiver checks it (getInfo, then the length,
 * then the payload). The first violation decides the close code; a valid close ends reading.
 */
function model(frames: Frame[]): Expected {
  let fragmented = 0;
  let parts: Buffer[] = [];
  for (let at = 0; at < frames.length; at++) {
    const f = frames[at]!;
    const err = (code: 1002 | 1007 | 1009): Expected => ({ kind: 'error', code, at });
    const len = f.declared ?? BigInt(f.payload.length);
    const len7 = f.declared !== undefined || f.encoding === '64' || len > 0xffffn ? 127 : f.encoding === '16' || len > 125n ? 126 : Number(len);
    if (f.rsv & 0b011) return err(1002); // RSV2, RSV3
    if (f.rsv & 0b100) return err(1002); // RSV1 without permessage-deflate
    let opcode = f.opcode;
    if (opcode === 0) {
      if (!fragmented) return err(1002); // a continuation with nothing to continue
      opcode = fragmented;
    } else if (opcode === 1 || opcode === 2) {
      if (fragmented) return err(1002); // a new message inside a fragmented one
    } else if (opcode >= 8 && opcode <= 10) {
      if (!f.fin) return err(1002); // a fragmented control frame
      if (len7 > 125 || (opcode === 8 && len7 === 1)) return err(1002);
    } else {
      return err(1002); // reserved opcode
    }
    if (!f.fin && !fragmented) fragmented = opcode;
    if (!f.masked) return err(1002); // a client frame must be masked
    if (len > 2n ** 53n - 1n) return err(1009);
    if (f.declared !== undefined) return opcode < 8 ? err(1009) : err(1002); // past maxPayload
    if (opcode === 8) {
      if (f.payload.length === 0) return { kind: 'echo', code: null, at };
      const code = f.payload.readUInt16BE(0);
      if (!validCloseCode(code)) return err(1002);
      if (!isUtf8(f.payload.subarray(2))) return err(1007);
      return { kind: 'echo', code, at };
    }
    if (opcode > 8) continue; // ping (answered with a pong) or pong
    parts.push(f.payload);
    if (f.fin) {
      if (opcode === 1 && !isUtf8(Buffer.concat(parts))) return err(1007);
      fragmented = 0;
      parts = [];
    }
  }
  return { kind: 'none' };
}

// ---- arbitraries ---------------------------------------------------------------------------

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const INVALID_UTF8 = ['c3', 'c328', 'a0a1', 'e28228', 'e28228', 'f0288cbc', 'f8a1a1a1a1', 'eda080', 'c0af', 'ff', 'fe', 'f4908080'].map((h) => Buffer.from(h, 'hex'));
const text = (s: string) => Buffer.from(s, 'utf8');

/** Payloads: protocol messages, JSON junk, valid and invalid UTF-8, close bodies. */
const payload: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(
    text(JSON.stringify({ type: 'ping', id: 1 })), text(JSON.stringify({ type: 'join', hub: 'global' })), text('{"type":'), text('null'), text(''), text('é\u{1F600}'),
  ),
  fc.string({ maxLength: 60 }).map(text),
  bytes(200),
  fc.tuple(fc.string({ maxLength: 20 }).map(text), fc.constantFrom(...INVALID_UTF8), fc.string({ maxLength: 20 }).map(text)).map((p) => Buffer.concat(p)),
  // Close bodies: a code (valid, reserved or out of range) and a reason (valid or not UTF-8).
  fc.tuple(
    fc.oneof(fc.constantFrom(0, 999, 1000, 1001, 1002, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 1016, 2999, 3000, 4000, 4999, 5000, 65535), fc.integer({ min: 0, max: 65535 })),
    fc.oneof(fc.string({ maxLength: 30 }).map(text), fc.constantFrom(...INVALID_UTF8)),
  ).map(([code, reason]) => { const b = Buffer.alloc(2); b.writeUInt16BE(code, 0); return Buffer.concat([b, reason]); }),
  fc.constant(Buffer.from([0x03])), // a close body of one byte
);


const mask = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b));
const encoding = fc.oneof({ arbitrary: fc.constant('min' as const), weight: 8 }, { arbitrary: fc.constantFrom('16' as const, '64' as const), weight: 1 });

/** Any frame at all: every header field random (mostly plausible). */
const anyFrame: fc.Arbitrary<Frame> = fc.record({
  fin: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  rsv: fc.oneof({ arbitrary: fc.constant(0), weight: 12 }, { arbitrary: fc.integer({ min: 1, max: 7 }), weight: 1 }),
  opcode: fc.oneof({ arbitrary: fc.constantFrom(0x1, 0x2, 0x0, 0x9, 0xa, 0x8), weight: 12 }, { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 }),
  masked: fc.oneof({ arbitrary: fc.constant(true), weight: 12 }, { arbitrary: fc.constant(false), weight: 1 }),
  mask,
  payload,
  encoding,
});

/** A data message as a client sends it: one frame, or fragments (first opcode 1/2, then 0s). */
const dataMessage: fc.Arbitrary<Frame[]> = fc.record({
  opcode: fc.constantFrom(0x1, 0x1, 0x2), payload, splits: fc.array(fc.nat(), { maxLength: 3 }), mask, encoding,
}).map(({ opcode, payload: p, splits, mask: m, encoding: e }) => {
  const cuts = [...new Set(splits.map((x) => x % (p.length + 1)))].sort((x, y) => x - y);
  const parts = [...cuts, p.length].map((end, k, all) => p.subarray(k ? all[k - 1]! : 0, end));
  return parts.map((part, k) => ({ fin: k === parts.length - 1, rsv: 0, opcode: k ? 0 : opcode, masked: true, mask: m, payload: part, encoding: e }));
});

/** A control frame: ping and pong mostly, close now and then (it ends the connection). */
const controlFrame: fc.Arbitrary<Frame[]> = fc.record({
  opcode: fc.constantFrom(0x9, 0x9, 0xa, 0xa, 0x8), payload: fc.oneof({ arbitrary: bytes(125), weight: 6 }, { arbitrary: payload, weight: 2 }), mask, encoding,
}).map((c) => [{ fin: true, rsv: 0, masked: true, ...c }]);

/** A close frame a well-behaved client sends: a valid code and a UTF-8 reason. */
const closeFrame: fc.Arbitrary<Frame[]> = fc.record({
  code: fc.oneof(fc.constantFrom(1000, 1001, 1003, 1007, 1008, 1011, 1014, 3000, 4000, 4999), fc.integer({ min: 3000, max: 4999 })),
  reason: fc.string({ maxLength: 40 }).map((r) => text(r).subarray(0, 123)).filter(isUtf8),
  mask,
}).map(({ code, reason, mask: m }) => {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return [{ fin: true, rsv: 0, opcode: 0x8, masked: true, mask: m, payload: Buffer.concat([body, reason]), encoding: 'min' as const }];
});

/** One field of one frame changed to something a client must not send (or a legal oddity). */
const corruption = fc.oneof(
  fc.record({ field: fc.constant('rsv' as const), value: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ field: fc.constant('opcode' as const), value: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ field: fc.constant('masked' as const), value: fc.constant(0) }),
  fc.record({ field: fc.constant('fin' as const), value: fc.constant(0) }),
);

/** Frames as a client would send them, interleaved with random ones, then maybe one field corrupted. */
const frames: fc.Arbitrary<Frame[]> = fc.record({
  units: fc.array(fc.oneof(
    { arbitrary: dataMessage, weight: 4 },
    { arbitrary: controlFrame, weight: 2 },
    { arbitrary: closeFrame, weight: 1 },
    { arbitrary: anyFrame.map((x) => [x]), weight: 1 },
  ), { minLength: 1, maxLength: 4 }),
  corrupt: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.tuple(fc.nat(), corruption), weight: 1 }),
}).map(({ units, corrupt }) => {
  const list = units.flat().map((x) => ({ ...x }));
  if (corrupt) {
    const [at, c] = corrupt;
    const target = list[at % list.length]!;
    if (c.field === 'masked') target.masked = false;
    else if (c.field === 'fin') target.fin = !target.fin;
    else target[c.field] = c.value;
  }
  return list;
});

/** A huge frame: a 64-bit length past maxPayload (or past 2^53), with no payload behind it. */
const hugeFrame: fc.Arbitrary<Frame> = fc.record({
  fin: fc.boolean(),
  rsv: fc.constant(0),
  opcode: fc.constantFrom(0x1, 0x2, 0x8, 0x9),
  masked: fc.constant(true),
  mask: fc.constant(Buffer.from([1, 2, 3, 4])),
  payload: fc.constant(Buffer.alloc(0)),
  encoding: fc.constant('64' as const),
  declared: fc.oneof(fc.bigInt({ min: 2n ** 24n, max: 2n ** 53n - 1n }), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n })),
});

/** The hello a client sends first (so the session is past `connected` for half the cases). */
const HELLO: Frame = {
  fin: true, rsv: 0, opcode: 1, masked: true, mask: Buffer.from([9, 8, 7, 6]), encoding: 'min',
  payload: text(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION })),
};

/** Mostly null, one time in six a value. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: arb, weight: 1 });

/** One case: frames (maybe after a hello, maybe ending in a huge one), maybe cut short, or raw bytes. */
type Case = { frames: Frame[]; cut: number | null } | { raw: Buffer };

const frameCase: fc.Arbitrary<Case> = fc.oneof(
  {
    arbitrary: fc.record({
      hello: fc.boolean(),
      frames,
      huge: rarely(hugeFrame),
      cut: rarely(fc.nat()),
    }).map(({ hello, frames, huge, cut }) => ({ frames: [...(hello ? [HELLO] : []), ...frames, ...(huge ? [huge] : [])], cut })),
    weight: 8,
  },
  { arbitrary: bytes(300).map((raw) => ({ raw })), weight: 1 },
);

// ---- one connection ------------------------------------------------------------------------

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const UPGRADE = `GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** Upgrades a raw TCP connection to /ws; resolves with the socket and what arrived after the 101. */
function upgrade(): Promise<{ socket: net.Socket; received: Buffer[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write(UPGRADE));
    let head = Buffer.alloc(0);
    const received: Buffer[] = [];
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => { /* a reset is a close */ });
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const status = head.subarray(0, end).toString('latin1');
      if (!status.startsWith('HTTP/1.1 101 ')) { reject(new Error(`upgrade refused: ${status}`)); socket.destroy(); return; }
      received.push(head.subarray(end + 4));
      socket.on('data', (more: Buffer) => received.push(more));
      resolve({ socket, received, closed });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed during the upgrade: ${JSON.stringify(head.toString('latin1'))}`)));
  });
}

/** A server frame as read off the wire. */
interface ServerFrame { fin: boolean; rsv: number; opcode: number; payload: Buffer }

/** Splits the server's bytes into frames; throws on a malformed or truncated one. */
function serverFrames(buf: Buffer): ServerFrame[] {
  const out: ServerFrame[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 2) throw new Error('a truncated server frame header');
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    if (b1 & 0x80) throw new Error('a masked server frame (RFC 6455 section 5.1)');
    let len = b1 & 0x7f;
    let p = off + 2;
    if (len === 126) { len = buf.readUInt16BE(p); p += 2; } else if (len === 127) { len = Number(buf.readBigUInt64BE(p)); p += 8; }
    if (p + len > buf.length) throw new Error(`a truncated server frame (${len} bytes declared)`);
    out.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, payload: buf.subarray(p, p + len) });
    off = p + len;
  }
  return out;
}

/** Checks the server's frames; returns the code of its close frame (null: empty close, undefined: none). */
function checkServerFrames(frames: ServerFrame[]): number | null | undefined {
  let close: number | null | undefined;
  for (const [i, f] of frames.entries()) {
    if (close !== undefined) throw new Error('a frame after the server\'s close frame');
    if (!f.fin || f.rsv !== 0) throw new Error(`a server frame with FIN ${f.fin} RSV ${f.rsv}`);
    if (f.opcode === 1) {
      const parsed = parseServerFrame(f.payload.toString('utf8'));
      if (!isUtf8(f.payload) || !parsed.ok) throw new Error(`server frame ${i} is not a valid protocol message: ${f.payload.toString('utf8').slice(0, 200)}`);
    } else if (f.opcode === 8) {
      if (f.payload.length === 1) throw new Error('a close frame with a 1-byte body');
      close = f.payload.length ? f.payload.readUInt16BE(0) : null;
      if (close !== null && !validCloseCode(close)) throw new Error(`a close frame with code ${close}`);
      if (!isUtf8(f.payload.subarray(2))) throw new Error('a close reason that is not UTF-8');
    } else if (f.opcode !== 9 && f.opcode !== 10) {
      throw new Error(`a server frame with opcode ${f.opcode}`);
    }
  }
  return close;
}

function describeCase(c: Case): string {
  if ('raw' in c) return `raw ${c.raw.toString('hex')}`;
  const frames = c.frames.map((f) => `{fin:${+f.fin} rsv:${f.rsv} op:${f.opcode} mask:${+f.masked} ${f.encoding}${f.declared !== undefined ? ` declared:${f.declared}` : ` ${f.payload.toString('hex').slice(0, 60)}`}}`);
  return `${frames.join(' ')}${c.cut !== null ? ` cut at ${c.cut}` : ''}`;
}

/** Outcomes seen, to check that the fuzzer reached every kind of ending. */
const outcomes = new Map<string, number>();

async function runCase(c: Case): Promise<void> {
  const what = describeCase(c);
  const conn = await watch.guard(withTimeout(upgrade(), 5000, `the upgrade before ${what}`));
  let bytes: Buffer;
  let expected: Expected | 'any';
  if ('raw' in c) {
    bytes = c.raw;
    expected = 'any';
  } else {
    const encoded = c.frames.map(encodeFrame);
    bytes = Buffer.concat(encoded);
    expected = model(c.frames);
    if (c.cut !== null) {
      // Cut inside the byte stream: only the frames wholly before the cut are judged.
      const cut = c.cut % (bytes.length + 1);
      bytes = bytes.subarray(0, cut);
      let whole = 0;
      for (let sum = 0; whole < encoded.length && sum + encoded[whole]!.length <= cut; whole++) sum += encoded[whole]!.length;
      const before = model(c.frames.slice(0, whole));
      expected = before.kind === 'none' ? 'any' : before;
    }
  }
  conn.socket.end(bytes);
  await watch.guard(withTimeout(conn.closed, 5000, `the server neither closed nor let us close after ${what}`));
  watch.check(what);
  const close = checkServerFrames(serverFrames(Buffer.concat(conn.received)));
  const key = expected === 'any' ? 'any' : `${expected.kind}:${expected.kind === 'error' ? expected.code : ''}`;
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  if (expected === 'any') return; // well-formed frames and a close were all that could be asked
  if (expected.kind === 'none') {
    if (close !== undefined) throw new Error(`the server closed with ${close} after valid frames: ${what}`);
  } else if (close !== expected.code) {
    throw new Error(`expected the server to close with ${expected.code} (frame ${expected.at}), it sent ${close === undefined ? 'no close frame' : close}: ${what}`);
  }
}

// ---- explicit cases: one of each violation ------------------------------------------------

const f = (over: Partial<Frame>): Frame => ({ fin: true, rsv: 0, opcode: 1, masked: true, mask: Buffer.from([1, 2, 3, 4]), payload: text('{}'), encoding: 'min', ...over });
const closeBody = (code: number, reason: Buffer = Buffer.alloc(0)) => { const b = Buffer.alloc(2); b.writeUInt16BE(code, 0); return Buffer.concat([b, reason]); };
const EXAMPLES: Frame[][] = [
  [f({ rsv: 4 })], [f({ rsv: 2 })], [f({ rsv: 1, opcode: 9, payload: Buffer.alloc(0) })],
  [f({ opcode: 3 })], [f({ opcode: 0xb })], [f({ opcode: 0xf })],
  [f({ masked: false })], [HELLO, f({ masked: false, opcode: 8, payload: closeBody(1000) })],
  [f({ opcode: 9, payload: Buffer.alloc(126) })], [f({ opcode: 9, payload: Buffer.alloc(3), encoding: '16' })],
  [f({ opcode: 9, fin: false, payload: Buffer.alloc(0) })], [f({ opcode: 8, fin: false, payload: closeBody(1000) })],
  [f({ opcode: 0 })], [f({ fin: false }), f({ opcode: 1 })], [f({ fin: false, opcode: 2 }), f({ opcode: 2 })],
  [f({ opcode: 8, payload: Buffer.from([3]) })], [f({ opcode: 8, payload: closeBody(1005) })], [f({ opcode: 8, payload: closeBody(999) })],
  [f({ opcode: 8, payload: closeBody(5000) })], [f({ opcode: 8, payload: closeBody(1000, Buffer.from('c328', 'hex')) })],
  [f({ payload: Buffer.from('c328', 'hex') })], [f({ fin: false, payload: text('é').subarray(0, 1) }), f({ opcode: 0, payload: Buffer.from('28', 'hex') })],
  [HELLO, f({ encoding: '64', payload: Buffer.alloc(0), declared: 2n ** 63n })], [f({ encoding: '64', payload: Buffer.alloc(0), declared: 2n ** 32n })],
  [f({ opcode: 8, payload: closeBody(4000, text('bye')) })], [f({ opcode: 8, payload: Buffer.alloc(0) })],
  [HELLO, f({ opcode: 9, payload: text('ping') }), f({ fin: false, payload: text('{"type":') }), f({ opcode: 10, payload: Buffer.alloc(0) }), f({ opcode: 0, payload: text('"ping","id":2}') })],
];

describe('WebSocket frames on /ws', () => {
  it(`ws refuses every protocol violation with the right close code, and the server stays up (${RUNS} cases)`, async () => {
    await fc.assert(fc.asyncProperty(frameCase, runCase), {
      numRuns: RUNS,
      examples: EXAMPLES.map((frames): [Case] => [{ frames, cut: null }]),
    });
    // The run reached protocol errors of each kind, echoed closes, and frames that were fine.
    for (const key of ['error:1002', 'error:1007', 'error:1009', 'echo:', 'none:', 'any']) expect(outcomes.get(key) ?? 0, key).toBeGreaterThan(0);
    expect(await healthz(server.url)).toBe(200);
    const c = await TestClient.connect(server.wsUrl);
    expect(c.sessionId).not.toBe('');
    c.send({ type: 'ping', id: 7 });
    expect((await c.next('pong')).id).toBe(7);
    await c.close();
  });
});
