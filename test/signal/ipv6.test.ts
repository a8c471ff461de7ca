// `chatzyo serve --host ::`: one server for IPv4 and IPv6 clients. HTTP and the WebSocket take
// both families on the one port; the built-in STUN responder answers both on one dual-stack
// UDP socket, an IPv4 client with an IPv4 XOR-MAPPED-ADDRESS (family 0x01, not the
// ::ffff:a.b.c.d its socket reports) and an IPv6 client with family 0x02 (RFC 8489 section
// 14.2); the welcome names the STUN server as each client reached the server, IPv6 literals
// in brackets (RFC 7064). Cross-checked with coturn's turnutils_stunclient over both families.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { Attr, StunType, decodeStun, decodeXorAddress, encodeStun, getAttr, newTransactionId } from '../../src/stun/message.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let server: SignalServer;

beforeAll(async () => {
  server = await startServer({ host: '::' });
});
afterAll(async () => {
  await server?.close();
});

/** One Binding request from a fresh socket of `type` bound to `local`; the raw XOR-MAPPED-ADDRESS and what it decodes to. */
async function binding(type: 'udp4' | 'udp6', local: string): Promise<{ familyByte: number; mapped: { address: string; port: number; family: 4 | 6 }; port: number }> {
  const sock = dgram.createSocket(type);
  try {
    await withTimeout(new Promise<void>((r) => sock.bind(0, local, () => r())), 2000, `bind ${local}`);
    const tid = newTransactionId();
    const got = new Promise<Buffer>((resolve) => sock.once('message', resolve));
    sock.send(encodeStun({ type: StunType.BindingRequest, transactionId: tid, attributes: [] }, { fingerprint: true }), server.stunPort!, local);
    const msg = decodeStun(await withTimeout(got, 2000, `STUN answer to ${local}`));
    expect(msg.type).toBe(StunType.BindingSuccess);
    const xor = getAttr(msg, Attr.XorMappedAddress)!;
    return { familyByte: xor[1]!, mapped: decodeXorAddress(xor, tid), port: sock.address().port };
  } finally {
    sock.close();
  }
}

function stunclient(host: string): Promise<string> {
  return withTimeout(new Promise((resolve, reject) => {
    const p = spawn('turnutils_stunclient', ['-p', String(server.stunPort), host]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => reject(new Error(`turnutils_stunclient could not run (${e.message}); install coturn`)));
    p.on('close', () => resolve(out));
  }), 10_000, `turnutils_stunclient ${host}`);
}

describe('serve --host :: (dual stack)', () => {
  it('serves HTTP to an IPv4 and an IPv6 client on the one port', async () => {
    for (const host of ['127.0.0.1', '[::1]']) {
      const res = await withTimeout(fetch(`http://${host}:${server.port}/healthz`), 5000, `GET /healthz via ${host}`);
      expect(res.status, host).toBe(200);
    }
  });

  it('welcomes WebSocket clients of both families and names the STUN server as each reached us', async () => {
    const v4 = await TestClient.connect(`ws://127.0.0.1:${server.port}/ws`);
    const v6 = await TestClient.connect(`ws://[::1]:${server.port}/ws`);
    try {
      const welcome = (c: TestClient) => JSON.parse(c.raw.find((t) => t.includes('"welcome"'))!) as { iceServers: unknown };
      expect(welcome(v4).iceServers).toEqual([{ urls: [`stun:127.0.0.1:${server.stunPort}`] }]);
      expect(welcome(v6).iceServers).toEqual([{ urls: [`stun:[::1]:${server.stunPort}`] }]);
    } finally {
      await Promise.all([v4.close(), v6.close()]);
    }
  });

  it('answers an IPv4 client with an IPv4 XOR-MAPPED-ADDRESS (family 1) and an IPv6 client with family 2', async () => {
    const a = await binding('udp4', '127.0.0.1');
    expect(a.familyByte).toBe(0x01);
    expect(a.mapped).toEqual({ family: 4, address: '127.0.0.1', port: a.port });
    const b = await binding('udp6', '::1');
    expect(b.familyByte).toBe(0x02);
    expect(b.mapped).toEqual({ family: 6, address: '::1', port: b.port });
  });

  it("interoperates with coturn's turnutils_stunclient over both families", async () => {
    expect(await stunclient('127.0.0.1')).toMatch(/UDP reflexive addr: 127\.0\.0\.1:\d+/);
    expect(await stunclient('::1')).toMatch(/UDP reflexive addr: \[?::1\]?:\d+/);
  });
});
