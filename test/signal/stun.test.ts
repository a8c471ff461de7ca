import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StunServer } from '../../src/signal/stun-server.js';
import { stunBinding, StunClientError } from '../../src/stun/client.js';
import { Attr, StunType, checkFingerprint, decodeStun, encodeStun, newTransactionId, decodeErrorCode, getAttr } from '../../src/stun/message.js';
import { withTimeout } from '../helpers/deadline.js';

let stun: StunServer;
let sock: dgram.Socket;

beforeAll(async () => {
  stun = await StunServer.start({ address: '127.0.0.1', port: 0 });
  sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
});
afterAll(async () => {
  sock?.close();
  await stun?.close();
});

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const p = spawn(cmd, args);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => reject(new Error(`${cmd} could not run (${e.message}); install coturn`)));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  }), 10_000, `${cmd} finished`);
}

describe('built-in STUN responder (RFC 8489 Binding)', () => {
  it('answers a Binding request with the XOR-MAPPED-ADDRESS the client was seen from', async () => {
    const res = await stunBinding(sock, '127.0.0.1', stun.port);
    expect(res.mapped).toEqual({ family: 4, address: '127.0.0.1', port: sock.address().port });
    expect(res.otherAddress).toBeUndefined();
  });

  it('signs responses with a valid FINGERPRINT and names itself in SOFTWARE', async () => {
    const tid = newTransactionId();
    const req = encodeStun({ type: StunType.BindingRequest, transactionId: tid, attributes: [] });
    const got = new Promise<Buffer>((resolve) => sock.once('message', resolve));
    sock.send(req, stun.port, '127.0.0.1');
    const buf = await withTimeout(got, 2000, 'binding response');
    expect(checkFingerprint(buf)).toBe(true);
    const msg = decodeStun(buf);
    expect(msg.type).toBe(StunType.BindingSuccess);
    expect(getAttr(msg, Attr.Software)?.toString()).toBe('chatzyo');
  });

  it('refuses CHANGE-REQUEST without a second address with 420', async () => {
    const err = await stunBinding(sock, '127.0.0.1', stun.port, { change: 0x06 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StunClientError);
    expect((err as StunClientError).stunCode).toBe(420);
  });

  it('ignores garbage without crashing and keeps answering', async () => {
    for (const junk of [Buffer.from('hello'), Buffer.alloc(20), Buffer.from('0001ffff2112a442000000000000000000000000', 'hex')]) {
      sock.send(junk, stun.port, '127.0.0.1');
    }
    const res = await stunBinding(sock, '127.0.0.1', stun.port);
    expect(res.mapped.port).toBe(sock.address().port);
  });

  it("interoperates with coturn's turnutils_stunclient", async () => {
    const { code, out } = await run('turnutils_stunclient', ['-p', String(stun.port), '127.0.0.1']);
    expect(code).toBe(0);
    expect(out).toMatch(/UDP reflexive addr: 127\.0\.0\.1:\d+/);
  });

  it('decodes ERROR-CODE', () => {
    const e = decodeErrorCode(Buffer.from([0, 0, 4, 20, 0x41]));
    expect(e).toEqual({ code: 420, reason: 'A' });
  });
});

describe('RFC 5780 with a second address and port', () => {
  it('answers CHANGE-REQUEST from the other address/port and includes OTHER-ADDRESS and RESPONSE-ORIGIN', async () => {
    // 127.0.0.1 and 127.0.0.2 are both loopback on Linux.
    const s5780 = await StunServer.start({ address: '127.0.0.1', port: 0, altAddress: '127.0.0.2', altPort: 0 });
    try {
      const plain = await stunBinding(sock, '127.0.0.1', s5780.port);
      expect(plain.otherAddress).toEqual({ family: 4, address: '127.0.0.2', port: s5780.altPort });
      expect(plain.responseOrigin).toEqual({ family: 4, address: '127.0.0.1', port: s5780.port });
      const both = await stunBinding(sock, '127.0.0.1', s5780.port, { change: 0x06 });
      expect(both.from).toEqual({ address: '127.0.0.2', port: s5780.altPort });
      expect(both.responseOrigin).toEqual({ family: 4, address: '127.0.0.2', port: s5780.altPort });
      const portOnly = await stunBinding(sock, '127.0.0.1', s5780.port, { change: 0x02 });
      expect(portOnly.from).toEqual({ address: '127.0.0.1', port: s5780.altPort });
      const ipOnly = await stunBinding(sock, '127.0.0.1', s5780.port, { change: 0x04 });
      expect(ipOnly.from).toEqual({ address: '127.0.0.2', port: s5780.port });
    } finally {
      await s5780.close();
    }
  });
});
