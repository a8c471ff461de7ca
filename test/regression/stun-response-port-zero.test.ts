// Regression: one STUN Binding Request carrying RESPONSE-PORT = 0 killed `chatzyo serve`
// (dgram.send threw ERR_SOCKET_BAD_PORT inside the UDP 'message' listener). RESPONSE-PORT and
// CHANGE-REQUEST are honoured only in RFC 5780 mode, and every attribute is checked first.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StunServer } from '../../src/signal/stun-server.js';
import { errorForLog, maskAddresses } from '../../src/signal/log-safe.js';
import { stunBinding } from '../../src/stun/client.js';
import { Attr, StunType, decodeErrorCode, decodeStun, encodeStun, getAttr, newTransactionId, type StunMessage } from '../../src/stun/message.js';
import { withTimeout } from '../helpers/deadline.js';

let sock: dgram.Socket;
let plain: StunServer;
let rfc5780: StunServer;

beforeAll(async () => {
  sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  plain = await StunServer.start({ address: '127.0.0.1', port: 0 });
  rfc5780 = await StunServer.start({ address: '127.0.0.1', port: 0, altAddress: '127.0.0.2', altPort: 0 });
});
afterAll(async () => {
  sock?.close();
  await plain?.close();
  await rfc5780?.close();
});

function attr(type: number, bytes: number[]): StunMessage['attributes'][number] {
  return { type, value: Buffer.from(bytes) };
}

/** Sends one Binding Request with `attributes` and returns the decoded answer. */
async function ask(port: number, attributes: StunMessage['attributes']): Promise<StunMessage> {
  const transactionId = newTransactionId();
  const req = encodeStun({ type: StunType.BindingRequest, transactionId, attributes }, { fingerprint: true });
  const got = new Promise<StunMessage>((resolve) => {
    const on = (buf: Buffer) => {
      const m = decodeStun(buf);
      if (!m.transactionId.equals(transactionId)) return;
      sock.off('message', on);
      resolve(m);
    };
    sock.on('message', on);
  });
  sock.send(req, port, '127.0.0.1');
  return withTimeout(got, 2000, 'an answer to the Binding Request');
}

function errorCode(m: StunMessage): number {
  expect(m.type).toBe(StunType.BindingError);
  return decodeErrorCode(getAttr(m, Attr.ErrorCode)!).code;
}

describe('STUN responder with hostile attributes', () => {
  it('answers RESPONSE-PORT = 0 with 420 when not in RFC 5780 mode, and keeps answering', async () => {
    const m = await ask(plain.port, [attr(Attr.ResponsePort, [0, 0, 0, 0])]);
    expect(errorCode(m)).toBe(420);
    expect([...getAttr(m, Attr.UnknownAttributes)!]).toEqual([0x00, 0x27]);
    const ok = await stunBinding(sock, '127.0.0.1', plain.port);
    expect(ok.mapped.port).toBe(sock.address().port);
  });

  it('does not honour a valid RESPONSE-PORT outside RFC 5780 mode (no reflection to other ports)', async () => {
    const m = await ask(plain.port, [attr(Attr.ResponsePort, [0x30, 0x39, 0, 0])]);
    expect(errorCode(m)).toBe(420);
  });

  it('answers RESPONSE-PORT = 0 and malformed RESPONSE-PORT/CHANGE-REQUEST with 400 in RFC 5780 mode', async () => {
    expect(errorCode(await ask(rfc5780.port, [attr(Attr.ResponsePort, [0, 0, 0, 0])]))).toBe(400);
    expect(errorCode(await ask(rfc5780.port, [attr(Attr.ResponsePort, [0x30])]))).toBe(400);
    expect(errorCode(await ask(rfc5780.port, [attr(Attr.ChangeRequest, [0, 0, 6])]))).toBe(400);
    const ok = await stunBinding(sock, '127.0.0.1', rfc5780.port, { change: 0x06 });
    expect(ok.from).toEqual({ address: '127.0.0.2', port: rfc5780.altPort });
  });

  it('honours a valid RESPONSE-PORT in RFC 5780 mode', async () => {
    const other = dgram.createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    try {
      const port = other.address().port;
      const transactionId = newTransactionId();
      const got = new Promise<StunMessage>((resolve) => other.once('message', (b) => resolve(decodeStun(b))));
      sock.send(encodeStun({ type: StunType.BindingRequest, transactionId, attributes: [attr(Attr.ResponsePort, [port >> 8, port & 0xff, 0, 0])] }), rfc5780.port, '127.0.0.1');
      const m = await withTimeout(got, 2000, 'the answer on the RESPONSE-PORT');
      expect(m.type).toBe(StunType.BindingSuccess);
      expect(m.transactionId.equals(transactionId)).toBe(true);
    } finally {
      other.close();
    }
  });
});

describe('STUN logs', () => {
  it("log a send error by code and message with the destination masked", async () => {
    // A real send error: broadcast without SO_BROADCAST is refused, and Node names the target.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const err = await withTimeout(new Promise<Error>((resolve) => {
      s.send(Buffer.from('x'), 3478, '255.255.255.255', (e) => resolve(e ?? new Error('no error')));
    }), 2000, 'the send error');
    s.close();
    expect(err.message).toContain('255.255.255.255');
    const logged = errorForLog(err);
    expect(JSON.stringify(logged)).not.toContain('255.255.255.255');
    expect(logged.code).toBe((err as NodeJS.ErrnoException).code);
    expect(maskAddresses('send EPERM [2001:db8::7]:5000 and 203.0.113.7:52019')).toBe('send EPERM <addr> and <addr>');
  });
});
