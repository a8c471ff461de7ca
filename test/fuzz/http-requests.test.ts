// Property-based fuzzing of the HTTP side of `chatzyo serve` (src/signal/server.ts) over raw TCP:
// fast-check writes request lines (targets such as `//`, `http://[`, `%`, `*`, absolute-form,
// very long, non-ASCII and NUL bytes, CR/LF injection), methods and headers, once on the plain
// request path and once with the WebSocket upgrade headers (and both on the separate metrics
// listener). Every connection must get well-formed HTTP/1.1 responses (no internal error, no
// header carrying our CR/LF) or be closed, within a deadline; nothing may throw out of a
// listener; afterwards /healthz is 200 and a real client connects and says hello. The admin API
// is on (--admin-token), and some requests carry its token.
import { createHash } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { healthz, watchUncaught, type UncaughtWatch } from './harness.js';

const RUNS = 1500;
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';

let server: SignalServer;
/** A second server with /metrics and /healthz on their own listener. */
let opsServer: SignalServer;
let watch: UncaughtWatch;

beforeAll(async () => {
  watch = watchUncaught();
  // Every option that reads a header: an Origin allow-list, X-Forwarded-For behind two proxies,
  // TURN credentials (minted for a relay-only hello, see helloFrame).
  server = await withTimeout(startServer({
    allowedOrigins: ['https://allowed.example'], trustProxy: 2, turnUrls: ['turn:127.0.0.1:3478'], turnSecret: 'fuzz-secret',
    maxConnectionsPerAddress: 100_000, adminToken: ADMIN_TOKEN,
  }), 10_000, 'starting the server');
  opsServer = await withTimeout(startServer({ metricsPort: 0, adminToken: ADMIN_TOKEN }), 10_000, 'starting the server with a metrics listener');
});
afterAll(async () => {
  await withTimeout(Promise.all([server?.close(), opsServer?.close()]), 10_000, 'closing the servers');
  watch?.dispose();
  watch?.check('the last case');
});

// ---- what the fuzzer writes ----------------------------------------------------------------

/** Pieces request targets are glued from: path syntax, percent-escapes, IPv6 brackets. */
const TARGET_PARTS = [
  '/', '//', '/ws', 'ws', 'healthz', 'metrics', 'api/hubs', 'api/admin/', 'reports', 'ban', 'export', 'index.html', 'app.js', '?', '#', '&', '=', '%', '%2', '%zz', '%00',
  '%2F', '%2e%2e', '..', '.', '[', ']', '[::1]', ':', ':0', ':99999', '@', '\\', 'http://', 'https://', 'ws://', 'x', '*', ';', ',',
  '"', '<', '>', '{', '}', '|', '^', '`', '~', '+', '$', '!', "'",
];
/** And bytes a request line may not carry, which the parser must refuse. */
const BAD_TARGET_PARTS = [' ', '\t', '\x00', '\x7f', '\x80', '\xff', 'é', '\u{1F600}', '\r', '\n', '\r\n', '\r\nX-Injected: 1\r\n'];
const targetPart = fc.oneof({ arbitrary: fc.constantFrom(...TARGET_PARTS), weight: 15 }, { arbitrary: fc.constantFrom(...BAD_TARGET_PARTS), weight: 1 });

/** A request target. */
const target: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(
    '/', '//', '///', '//ws', '/ws', '/ws/', '/WS', '/ws?x=1', '/ws#f', '/ws%00', '/ws;x', 'http://[', 'http://[::1', 'http://[::1]/ws',
    'http://x/ws', 'HTTP://X/ws', 'ws://x/ws', 'https://user:pw@x:99999/ws', 'http://x:0/', '*', '%', '/%', '/%zz', '/..',
    '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', 'http:', 'http:/', 'http://', '//[', '//x:0/ws', '//@/ws', 'a:b', '\\\\x\\ws',
    '/healthz', '/healthz?', '/metrics', '/api/hubs', '/api/admin/reports', '/api/admin/ban', '/api/admin/unban', '/api/admin/export', '/api/admin/', '/index.html', '/app.js', '?', '#', '', ' ', '/\u00e9', '/\u{1F600}',
  ), weight: 6 },
  // The parser refuses a target that starts with neither '/', '*' nor a scheme: mostly start right.
  { arbitrary: fc.tuple(fc.constantFrom('/', '/', '/', '//', 'http://', 'http://x/', '*', ''), fc.array(targetPart, { maxLength: 12 }))
    .map(([start, parts]) => start + parts.join('')), weight: 6 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `/${s}`), weight: 1 },
  // Long: past the parser's 16 KiB header limit, and just under it.
  { arbitrary: fc.integer({ min: 2000, max: 20_000 }).map((n) => `/${'a'.repeat(n)}`), weight: 1 },
);

const method: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant('GET'), weight: 8 },
  { arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'PATCH', 'PRI', 'get', 'M-SEARCH', 'SOURCE'), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 10 }), weight: 1 },
);

const version = fc.oneof(
  { arbitrary: fc.constant('HTTP/1.1'), weight: 16 },
  { arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 x', 'HTTP/1.', 'HTTP/9.9', ''), weight: 1 },
);

/** Header values anyone might send, and ones nobody should. */
const WEIRD_VALUES = [
  '', ' ', 'x', '[', ']', '[::1', '[::1]:80', 'x:99999', 'x:0', 'a b', 'é', '\u{1F600}', '\x00', '\x7f', '\xff', 'null', 'http://[',
  'http://', '//', 'file://', 'https://allowed.example', 'https://allowed.example.evil', 'http://localhost', '1.2.3.4, 5.6.7.8',
  'unknown', '-1', '0', '18446744073709551616', 'chunked', 'gzip, chunked', '100-continue', 'h\r\nX-Injected: 1', 'a\nb', 'a\rb',
  'x'.repeat(9000), `Bearer ${ADMIN_TOKEN}`, 'Bearer ', 'Bearer x',
];
const headerValue = fc.oneof(
  { arbitrary: fc.constantFrom(...WEIRD_VALUES), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }).map((v) => v.replace(/[\x00-\x1f\x7f]/g, '')), weight: 8 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
);
/** Values for the headers that frame a body: mostly ones the parser takes. */
const framingHeader = fc.oneof(
  fc.constantFrom('0', '1', '5', '64', '-1', '1, 1', '1, 2', ' 3', '99999999999', 'x').map((v) => `Content-Length: ${v}`),
  fc.constantFrom('chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'x').map((v) => `Transfer-Encoding: ${v}`),
);
const HEADER_NAMES = [
  'Host', 'Origin', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions', 'X-Forwarded-For', 'Forwarded', 'X-Real-IP', 'Expect',
  'Cookie', 'Accept', 'Accept-Encoding', 'User-Agent', 'Range', 'If-None-Match', 'Authorization',
];
const headerName = fc.oneof(
  { arbitrary: fc.constantFrom(...HEADER_NAMES), weight: 12 },
  { arbitrary: fc.constantFrom(...HEADER_NAMES).map((n) => n.toUpperCase()), weight: 1 },
  { arbitrary: fc.constantFrom('', ' Host', 'Host ', 'Ho st', 'Hóst', 'X:Y', '\x00', 'Host\r\nX-Injected', ' '), weight: 1 },
  { arbitrary: fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }), weight: 1 },
);
const header = fc.oneof(
  { arbitrary: fc.tuple(headerName, headerValue).map(([n, v]) => `${n}: ${v}`), weight: 16 },
  { arbitrary: framingHeader, weight: 1 },
  // obs-fold (a continuation line), a line without a colon, an empty name.
  { arbitrary: fc.constantFrom(' folded', '\tfolded: x', 'NoColon', ': empty-name', 'Host:'), weight: 1 },
);

/** A WebSocket key: mostly valid (16 random bytes, base64), sometimes not. */
const wsKey = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')), weight: 4 },
  { arbitrary: headerValue, weight: 1 },
);

/**
 * One raw request: the bytes on the wire and, for checking the answer, its method and keys.
 * `halfClose`: the client sends FIN right after the bytes (an abrupt client; the server may
 * drop a response still being prepared). Otherwise it waits for the first response before
 * closing, which it can only do when the request is complete: no body length of ours in it
 * (else Node's parser waits for the body, as it should).
 */
interface RawRequest { bytes: Buffer; method: string; keys: string[]; halfClose: boolean }

/** Glues a request together; `latin1` writes each char as one byte, else UTF-8. */
function render(m: string, t: string, v: string, headers: string[], eol: string, body: Buffer, latin1: boolean, abrupt: boolean, keys: string[] = []): RawRequest {
  const text = `${m} ${t}${v ? ` ${v}` : ''}${eol}${headers.map((h) => `${h}${eol}`).join('')}${eol}`;
  // After `PRI` and an empty head, Node's parser waits for the rest of the HTTP/2 preface.
  const complete = eol === '\r\n' && !/content-length|transfer-encoding/i.test(text) && m !== 'PRI';
  return { bytes: Buffer.concat([Buffer.from(text, latin1 ? 'latin1' : 'utf8'), body]), method: m, keys, halfClose: abrupt || !complete };
}
const abrupt = fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 });

const eol = fc.oneof({ arbitrary: fc.constant('\r\n'), weight: 20 }, { arbitrary: fc.constantFrom('\n', '\r', '\r\r\n'), weight: 1 });
const body = fc.oneof({ arbitrary: fc.constant(Buffer.alloc(0)), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), weight: 1 });
const hostHeader = fc.oneof({ arbitrary: fc.constant(['Host: localhost']), weight: 3 }, { arbitrary: fc.constant([] as string[]), weight: 1 });

/** A request on the plain path: method, target, version, Host and random headers. */
const plainRequest: fc.Arbitrary<RawRequest> = fc.record({
  m: method, t: target, v: version, host: hostHeader, headers: fc.array(header, { maxLength: 4 }), eol, body, latin1: fc.boolean(), abrupt,
}).map((r) => render(r.m, r.t, r.v, [...r.host, ...r.headers], r.eol, r.body, r.latin1, r.abrupt));

/** The headers of a WebSocket upgrade, each of which the fuzzer may drop or garble. */
const upgradeRequest: fc.Arbitrary<RawRequest> = fc.record({
  m: fc.oneof({ arbitrary: fc.constant('GET'), weight: 8 }, { arbitrary: method, weight: 1 }),
  t: fc.oneof({ arbitrary: fc.constant('/ws'), weight: 1 }, { arbitrary: target, weight: 3 }),
  v: version,
  host: hostHeader,
  key: wsKey,
  garble: fc.array(fc.record({ which: fc.nat(3), value: fc.option(headerValue) }), { maxLength: 2 }),
  extra: fc.array(fc.tuple(fc.nat(8), header), { maxLength: 3 }),
  eol,
  // Bytes after the head reach ws as the first frames (or garbage).
  body: fc.oneof({ arbitrary: fc.constant(Buffer.alloc(0)), weight: 3 }, { arbitrary: fc.constant(helloFrame()), weight: 1 }, { arbitrary: body, weight: 1 }),
  latin1: fc.boolean(),
  abrupt,
}).map((r) => {
  const names = ['Connection', 'Upgrade', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version'];
  const upgrade: (string | null)[] = ['Connection: Upgrade', 'Upgrade: websocket', `Sec-WebSocket-Key: ${r.key}`, 'Sec-WebSocket-Version: 13'];
  for (const g of r.garble) upgrade[g.which] = g.value === null ? null : `${names[g.which]}: ${g.value}`;
  const headers = [...r.host, ...upgrade.filter((h): h is string => h !== null)];
  for (const [at, h] of r.extra) headers.splice(at % (headers.length + 1), 0, h);
  const keys = headers.filter((h) => /^sec-websocket-key:/i.test(h)).map((h) => h.slice(h.indexOf(':') + 1).trim());
  return render(r.m, r.t, r.v, headers, r.eol, r.body, r.latin1, r.abrupt, keys);
});

/** A masked text frame with a hello (what a client sends first). */
function helloFrame(): Buffer {
  const payload = Buffer.from(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, relayOnly: true }));
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

const UPGRADE_HEADERS = 'Host: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
const raw = (text: string, keys: string[] = []): [RawRequest] => [{ bytes: Buffer.from(text, 'latin1'), method: text.split(' ')[0]!, keys, halfClose: false }];

// ---- one connection, and what may come back ------------------------------------------------

/**
 * Sends one request and collects everything the server sends until it closes. The client
 * closes its side right away (`halfClose`) or once the first response is complete.
 */
function exchange(req: RawRequest, port: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => (req.halfClose ? s.end(req.bytes) : s.write(req.bytes)));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      if (!req.halfClose && !s.writableEnded && parseResponses(Buffer.concat(chunks), req, false).firstDone) s.end();
    });
    s.on('error', () => { /* a reset is a close */ });
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Reads what the server sent on one connection: nothing, or HTTP/1.1 responses, each with a
 * status line and header lines in which none of our CR, LF or NUL bytes appear. Throws on a
 * malformed response; an incomplete one is an error only once the connection is closed (`final`).
 */
function parseResponses(out: Buffer, req: RawRequest, final: boolean): { statuses: number[]; firstDone: boolean } {
  const statuses: number[] = [];
  let rest = out.toString('latin1');
  let firstDone = false;
  const incomplete = (what: string) => {
    if (final) throw new Error(`${what}: ${JSON.stringify(rest.slice(0, 300))}`);
    return { statuses, firstDone };
  };
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return incomplete('an incomplete response head');
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.[01] ([1-5]\d\d) [^\r\n\0]*$/.exec(statusLine!);
    if (!m) throw new Error(`a bad status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      if (colon < 1 || !TOKEN.test(name) || /[\r\n\0]/.test(value)) throw new Error(`a bad response header line: ${JSON.stringify(line)}`);
      if (/^x-injected$/i.test(name)) throw new Error('a header injected through the request came back');
      headers.set(name.toLowerCase(), value);
    }
    statuses.push(status);
    rest = rest.slice(end + 4);
    if (status === 101) {
      // ws answered the handshake: the accept key must be derived from a key we sent (RFC 6455 section 4.2.2).
      const accept = headers.get('sec-websocket-accept');
      const valid = req.keys.map((k) => createHash('sha1').update(`${k}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
      if (!accept || !valid.includes(accept)) throw new Error(`101 with Sec-WebSocket-Accept ${accept} for keys ${JSON.stringify(req.keys)}`);
      return { statuses, firstDone: true }; // what follows is WebSocket frames
    }
    if (status < 200) continue;
    if (!firstDone && req.method === 'HEAD') return { statuses, firstDone: true };
    const length = headers.get('content-length');
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return incomplete('an incomplete chunk');
        const size = parseInt(rest.slice(0, lineEnd), 16);
        if (!Number.isFinite(size)) throw new Error(`a bad chunk: ${JSON.stringify(rest.slice(0, 100))}`);
        if (rest.length < lineEnd + 2 + size + 2) return incomplete('an incomplete chunk');
        rest = rest.slice(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new Error(`Content-Length ${JSON.stringify(length)}`);
      if (rest.length < Number(length)) return incomplete(`a body shorter than its Content-Length ${length}`);
      rest = rest.slice(Number(length));
    } else {
      return { statuses, firstDone: final }; // the body runs to the close
    }
    firstDone = true;
  }
  return { statuses, firstDone };
}

function describeRequest(req: RawRequest): string {
  const text = req.bytes.toString('latin1');
  return JSON.stringify(text.length > 400 ? `${text.slice(0, 200)}…(${text.length} bytes)…${text.slice(-100)}` : text);
}

/** One case: the server answers or closes within the deadline, without throwing, and never with a 500. */
async function exchangeChecked(req: RawRequest, port = server.port): Promise<number[]> {
  const what = describeRequest(req);
  const out = await watch.guard(withTimeout(exchange(req, port), 5000, `neither an answer nor a close for ${what}`));
  watch.check(what);
  const { statuses } = parseResponses(out, req, true);
  if (statuses.includes(500)) throw new Error(`500 Internal Server Error for ${what}: a handler threw on client input`);
  return statuses;
}

async function serverStillServes(): Promise<void> {
  expect(await healthz(server.url)).toBe(200);
  const c = await TestClient.connect(server.wsUrl);
  expect(c.sessionId).not.toBe('');
  await c.close();
}

describe('HTTP request targets and headers', () => {
  it(`the request path answers or closes, never throws or hangs (${RUNS} cases)`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(fc.asyncProperty(plainRequest, async (req) => {
      for (const s of await exchangeChecked(req)) seen.set(s, (seen.get(s) ?? 0) + 1);
    }), {
      numRuns: RUNS,
      examples: [
        raw('GET // HTTP/1.1\r\nHost: localhost\r\n\r\n'),
        raw('GET http://[ HTTP/1.1\r\nHost: localhost\r\n\r\n'),
        raw('GET % HTTP/1.1\r\nHost: localhost\r\n\r\n'),
        raw('GET * HTTP/1.1\r\nHost: localhost\r\n\r\n'),
        raw('OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n'),
        raw('GET http://x/healthz HTTP/1.1\r\nHost: [\r\n\r\n'),
        raw('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: http://[\r\n\r\n'),
        raw(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`),
      ],
    });
    // The fuzzer reached the handlers, not only the parser's rejections.
    expect([...seen.keys()].filter((s) => s < 500).length).toBeGreaterThan(1);
    await serverStillServes();
  });

  it(`the upgrade path answers, upgrades or closes, never throws or hangs (${RUNS} cases)`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(fc.asyncProperty(upgradeRequest, async (req) => {
      for (const s of await exchangeChecked(req)) seen.set(s, (seen.get(s) ?? 0) + 1);
    }), {
      numRuns: RUNS,
      examples: [
        // The review's crash: `new URL('//', base)` threw inside the 'upgrade' listener.
        raw(`GET // HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET http://[ HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET %zz HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}Origin: http://[\r\n\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}Origin: null\r\n\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS.replace('Host: localhost', 'Host: [')}\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
        raw(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}X-Forwarded-For: [\r\n\r\n`, ['dGhlIHNhbXBsZSBub25jZQ==']),
      ],
    });
    // Some upgrades succeeded and some were refused: both paths were exercised.
    expect(seen.get(101) ?? 0).toBeGreaterThan(0);
    expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
    await serverStillServes();
  });

  it(`the separate metrics listener answers or closes, never throws or hangs (${RUNS / 3} cases)`, async () => {
    const port = opsServer.metricsPort!;
    const seen = new Set<number>();
    await fc.assert(fc.asyncProperty(fc.oneof(plainRequest, upgradeRequest), async (req) => {
      for (const s of await exchangeChecked(req, port)) seen.add(s);
    }), { numRuns: RUNS / 3, examples: [raw('GET // HTTP/1.1\r\nHost: localhost\r\n\r\n'), raw(`GET // HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`),
      // One of each answer the check below asks for, whatever the random cases draw.
      raw('GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n'), raw('GET /no-such-page HTTP/1.1\r\nHost: localhost\r\n\r\n')] });
    expect(seen.has(200) && seen.has(404)).toBe(true);
    expect(await healthz(`http://127.0.0.1:${port}`)).toBe(200);
  });
});
