// Property-based fuzzing of the built-in STUN responder (src/signal/stun-server.ts) over real
// UDP on loopback, plain and in RFC 5780 mode (a second address and port): fast-check sends
// Binding requests with random attributes (RESPONSE-PORT 0 and 65535, CHANGE-REQUEST flags,
// unknown comprehension-required attributes, wrong lengths) and garbage. No datagram may make
// the responder throw; whatever it answers is a well-formed response to a Binding request we
// sent; afterwards it still answers a plain Binding request and GET /healthz is 200.
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { stunBinding, transact } from '../../src/stun/client.js';
import {
  Attr, StunType, checkFingerprint, decodeErrorCode, decodeStun, decodeXorAddress, encodeStun, getAttr, isStun, newTransactionId,
} from '../../src/stun/message.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { healthz, watchUncaught, type UncaughtWatch } from './harness.js';
import { changeRequestValue, mutatedStunDatagram, responsePortValue, stunAttribute, stunShapedBytes } from './stun-arbitraries.js';

const RUNS = 1000;

let watch: UncaughtWatch;
let sock: dgram.Socket;
/** A second socket of ours, for RESPONSE-PORT to point at. */
let other: dgram.Socket;
const servers: SignalServer[] = [];

async function bindSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('error', () => { /* a send error shows up as a missing answer */ });
  await withTimeout(new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r())), 2000, 'binding a UDP socket');
  return s;
}

beforeAll(async () => {
  watch = watchUncaught();
  sock = await bindSocket();
  other = await bindSocket();
});
afterAll(async () => {
  sock?.close();
  other?.close();
  await withTimeout(Promise.all(servers.map((s) => s.close())), 10_000, 'closing the servers');
  watch?.dispose();
  watch?.check('the last case');
});

/**
 * Checks every datagram the responder sends us: it must answer only Binding requests we sent
 * (by transaction id), with a Binding success or error carrying a valid FINGERPRINT. Problems
 * are collected (a throw here would be an uncaught exception of the test's own listener).
 */
class AnswerChecker {
  /** Transaction ids of decodable Binding requests sent, with the datagram (for the message). */
  readonly asked = new Map<string, Buffer>();
  readonly problems: string[] = [];
  answers = 0;

  listen(s: dgram.Socket): void {
    s.on('message', (buf) => this.#check(buf));
  }

  #check(buf: Buffer): void {
    const tid = buf.subarray(8, 20).toString('hex');
    const problem = (what: string): void => {
      this.problems.push(`${what}: ${buf.toString('hex')} (asked: ${this.asked.get(tid)?.toString('hex') ?? 'nothing'})`);
    };
    try {
      if (!isStun(buf)) return problem('the responder sent something that is not STUN');
      if (!this.asked.has(tid)) return problem('an answer to a datagram that was not a decodable Binding request');
      this.answers++;
      const msg = decodeStun(buf);
      if (!checkFingerprint(buf)) return problem('an answer with a bad FINGERPRINT');
      if (msg.type === StunType.BindingSuccess) {
        const xor = getAttr(msg, Attr.XorMappedAddress);
        if (!xor) return problem('a Binding success without XOR-MAPPED-ADDRESS');
        const mapped = decodeXorAddress(xor, msg.transactionId);
        if (mapped.address !== '127.0.0.1' || mapped.port !== sock.address().port) return problem(`a wrong XOR-MAPPED-ADDRESS ${mapped.address}:${mapped.port}`);
      } else if (msg.type === StunType.BindingError) {
        const ec = getAttr(msg, Attr.ErrorCode);
        if (!ec) return problem('a Binding error without ERROR-CODE');
        const { code } = decodeErrorCode(ec);
        if (code < 300 || code > 699) return problem(`ERROR-CODE ${code} outside 300-699`);
      } else {
        return problem(`an answer of type 0x${msg.type.toString(16)}`);
      }
    } catch (err) {
      problem(`an answer that does not decode (${(err as Error).message})`);
    }
  }
}

/** Records a datagram we are about to send, if a responder should treat it as a Binding request. */
function noteRequest(checker: AnswerChecker, buf: Buffer): void {
  if (!isStun(buf)) return;
  try {
    const msg = decodeStun(buf);
    if (msg.type === StunType.BindingRequest) checker.asked.set(msg.transactionId.toString('hex'), buf);
  } catch { /* not decodable: must not be answered */ }
}

/** A Binding request with `attributes` (the shape of the review's crash: RESPONSE-PORT 0). */
function request(attributes: { type: number; value: Buffer }[], fingerprint = true): Buffer {
  return encodeStun({ type: StunType.BindingRequest, transactionId: newTransactionId(), attributes }, { fingerprint });
}
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0, 0); return b; };
const port4 = (p: number) => { const b = Buffer.alloc(4); b.writeUInt16BE(p, 0); return b; };

/** A datagram of 65,504 bytes: 16,371 empty unknown comprehension-required attributes. */
function hugeRequest(count: number, type = 0x7fff): Buffer {
  const body = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) body.writeUInt16BE((type + i) & 0x7fff, i * 4);
  const head = encodeStun({ type: StunType.BindingRequest, transactionId: newTransactionId(), attributes: [] });
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/** What the fuzzer sends: Binding requests with random attributes, mutated datagrams, garbage, big ones. */
function datagrams(ports: fc.Arbitrary<number>): fc.Arbitrary<Buffer> {
  // The RFC 5780 attributes are where the responder acts on what it reads: weigh them up.
  const attribute = fc.oneof(
    { arbitrary: responsePortValue(ports).map((value) => ({ type: Attr.ResponsePort, value })), weight: 1 },
    { arbitrary: changeRequestValue.map((value) => ({ type: Attr.ChangeRequest, value })), weight: 1 },
    { arbitrary: stunAttribute(ports), weight: 2 },
  );
  return fc.oneof(
    { arbitrary: fc.array(attribute, { maxLength: 8 }).chain((attrs) => fc.boolean().map((fp) => request(attrs, fp))), weight: 4 },
    { arbitrary: mutatedStunDatagram({ attribute }), weight: 3 },
    { arbitrary: mutatedStunDatagram({ type: fc.constant(StunType.BindingRequest), attribute }), weight: 3 },
    { arbitrary: stunShapedBytes, weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 16_371 }).map((n) => hugeRequest(n)), weight: 1 },
  );
}

interface Target { address: string; port: number }

/**
 * Sends `datagram` to `target`, then a plain Binding request to the same socket and waits for
 * its answer: a socket's datagrams are handled in order, so once that answer is here the
 * fuzzed one has been handled too (and any throw has happened).
 */
async function fire(checker: AnswerChecker, target: Target, datagram: Buffer): Promise<void> {
  noteRequest(checker, datagram);
  sock.send(datagram, target.port, target.address);
  const probe = request([]);
  noteRequest(checker, probe);
  const what = `${datagram.length > 200 ? `${datagram.length} bytes starting ${datagram.subarray(0, 40).toString('hex')}` : datagram.toString('hex')} to ${target.address}:${target.port}`;
  await watch.guard(transact(sock, probe, target.address, target.port, 3000, 50)).catch((err: Error) => {
    throw new Error(`after ${what}: ${err.message}`, { cause: err });
  });
  watch.check(what);
  if (checker.problems.length) throw new Error(checker.problems.join('\n'));
}

async function fuzzResponder(server: SignalServer, targets: Target[]): Promise<AnswerChecker> {
  const checker = new AnswerChecker();
  checker.listen(sock);
  checker.listen(other);
  const ports = fc.constantFrom(0, 1, 65535, sock.address().port, other.address().port);
  const examples: [number, Buffer][] = [
    // The review's crash: RESPONSE-PORT 0 made sock.send throw ERR_SOCKET_BAD_PORT in the listener.
    [0, request([{ type: Attr.ResponsePort, value: port4(0) }])],
    [0, request([{ type: Attr.ResponsePort, value: port4(0) }, { type: Attr.ChangeRequest, value: u32(0x06) }])],
    [0, request([{ type: Attr.ResponsePort, value: Buffer.from([0, 0]) }], false)],
    [0, request([{ type: Attr.ResponsePort, value: port4(65535) }])],
    [0, request([{ type: Attr.ResponsePort, value: port4(other.address().port) }, { type: Attr.ChangeRequest, value: u32(0x02) }])],
    [0, request([{ type: Attr.ChangeRequest, value: u32(0xffffffff) }])],
    [0, request([{ type: 0x0000, value: Buffer.alloc(0) }, { type: Attr.ResponsePort, value: port4(0) }])],
    [0, hugeRequest(16_371)],
  ];
  try {
    await fc.assert(fc.asyncProperty(fc.nat(targets.length - 1), datagrams(ports), async (t, datagram) => {
      await fire(checker, targets[t]!, datagram);
    }), { numRuns: RUNS, examples });
  } finally {
    sock.removeAllListeners('message');
    other.removeAllListeners('message');
  }
  // Still up: a plain Binding request is answered with our address, and /healthz says 200.
  for (const t of targets) {
    const res = await stunBinding(sock, t.address, t.port);
    expect(res.mapped).toEqual({ family: 4, address: '127.0.0.1', port: sock.address().port });
  }
  expect(await healthz(server.url)).toBe(200);
  return checker;
}

describe('STUN responder under fuzzed datagrams', () => {
  it(`stays up with one address and port (${RUNS} cases)`, async () => {
    const server = await withTimeout(startServer({ stunPort: 0 }), 10_000, 'starting the server');
    servers.push(server);
    const checker = await fuzzResponder(server, [{ address: '127.0.0.1', port: server.stunPort! }]);
    expect(checker.answers).toBeGreaterThan(RUNS);
  });

  it(`stays up in RFC 5780 mode, on each of its four sockets (${RUNS} cases)`, async () => {
    // 127.0.0.1 and 127.0.0.2 are both loopback on Linux.
    const server = await withTimeout(startServer({ stunPort: 0, stunAddress: '127.0.0.1', stunAltAddress: '127.0.0.2' }), 10_000, 'starting the server in RFC 5780 mode');
    servers.push(server);
    const p1 = server.stunPort!;
    const p2 = server.stunAltPort!;
    const checker = await fuzzResponder(server, [
      { address: '127.0.0.1', port: p1 }, { address: '127.0.0.1', port: p2 }, { address: '127.0.0.2', port: p1 }, { address: '127.0.0.2', port: p2 },
    ]);
    expect(checker.answers).toBeGreaterThan(RUNS);
  });
});
