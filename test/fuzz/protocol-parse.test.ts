// Property-based fuzzing of the protocol boundary (src/protocol/parse.ts): whatever text a
// WebSocket frame carries, parseClientFrame and parseServerFrame return a result and never
// throw; a refusal carries a documented error code and a short message; what is accepted is a
// message of a known type.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLIENT_MESSAGE_TYPES, ERROR_CODES, parseClientFrame, parseServerFrame, PROTOCOL_VERSION } from '../../src/protocol/index.js';

const RUNS = 3000;

/** Valid client messages to mutate (docs/protocol.md). */
const VALID: Record<string, unknown>[] = [
  { type: 'hello', version: PROTOCOL_VERSION, client: 'chatzyo-web/0.1' },
  { type: 'join', hub: 'tamil', interests: ['music', 'cricket'] },
  { type: 'next' }, { type: 'leave' }, { type: 'private-create' },
  { type: 'private-join', code: 'A'.repeat(22) },
  { type: 'report', matchId: 'Zr2x0n1L4qTz9bQk', reason: 'harassment' },
  { type: 'ping', id: 5 },
  { type: 'signal', matchId: 'Zr2x0n1L4qTz9bQk', data: { kind: 'offer', sdp: 'v=0\r\n' } },
  { type: 'signal', matchId: 'Zr2x0n1L4qTz9bQk', data: { kind: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.10 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 } } },
  { type: 'signal', matchId: 'Zr2x0n1L4qTz9bQk', data: { kind: 'end-of-candidates' } },
];

/** Odd values for a field: wrong types, prototype keys, huge and tiny numbers, long strings. */
const oddValue = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, -0, 2 ** 53, '', 'x'.repeat(100_000), [], {}, '__proto__', 'constructor', 'toString', '\u0000', '\u{1F600}'),
  fc.anything({ maxDepth: 3 }),
);

/** A valid message with fields removed, replaced or added (including `__proto__` keys). */
const mutated: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom(...VALID),
  fc.array(fc.tuple(fc.constantFrom('type', 'version', 'hub', 'interests', 'code', 'matchId', 'id', 'data', 'kind', 'sdp', 'candidate', '__proto__', 'constructor', 'zz'), fc.option(oddValue)), { maxLength: 3 }),
).map(([base, edits]) => {
  const o: Record<string, unknown> = JSON.parse(JSON.stringify(base));
  for (const [k, v] of edits) {
    if (v === null) delete o[k];
    else Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  }
  return JSON.stringify(o) ?? 'null';
});

/** Frames: any text, any JSON, mutated messages, and JSON nested too deep for a recursive walk. */
const frameText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 200 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 4 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 4 },
  { arbitrary: mutated, weight: 6 },
  { arbitrary: mutated.map((s) => s.slice(0, Math.floor(s.length / 2))), weight: 2 },
  {
    arbitrary: fc.oneof(
      fc.integer({ min: 1, max: 30_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
      fc.integer({ min: 1, max: 10_000 }).map((n) => `{"type":"signal","matchId":"Zr2x0n1L4qTz9bQk","data":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`),
    ),
    weight: 1,
  },
);

const KNOWN_CODES = new Set(Object.keys(ERROR_CODES));

describe('protocol frame parsing on hostile text', () => {
  it(`parseClientFrame returns a result with a documented code, never throws (${RUNS} cases)`, () => {
    // The server's limit (64 KiB by default), and now and then a small or a large one.
    const limit = fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 1_000_000 }), weight: 1 });
    fc.assert(fc.property(frameText, limit, (text, limit) => {
      const r = parseClientFrame(text, Buffer.byteLength(text), limit);
      if (r.ok) {
        expect(CLIENT_MESSAGE_TYPES).toContain(r.value.type);
      } else {
        expect(KNOWN_CODES.has(r.code), r.code).toBe(true);
        expect(r.message.length).toBeLessThan(1000);
        if (r.ref !== undefined) expect(r.ref.length).toBeLessThanOrEqual(40);
      }
    }), { numRuns: RUNS });
  });

  it(`parseServerFrame returns a result, never throws (${RUNS} cases)`, () => {
    fc.assert(fc.property(frameText, (text) => {
      const r = parseServerFrame(text);
      if (!r.ok) expect(KNOWN_CODES.has(r.code), r.code).toBe(true);
    }), { numRuns: RUNS });
  });
});
