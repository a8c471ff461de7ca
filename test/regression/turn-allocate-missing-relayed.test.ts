// Regression: a TURN server (or anyone forging its answers) that says Allocate Success without
// XOR-RELAYED-ADDRESS, or with a short LIFETIME, made turnAllocate fail with a TypeError or
// RangeError instead of its typed error.
import dgram from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StunClientError, turnAllocate } from '../../src/stun/client.js';
import { Attr, StunType, decodeStun, encodeStun, encodeXorAddress, type StunMessage } from '../../src/stun/message.js';

let fake: dgram.Socket;
/** What the fake server answers to the next requests. */
let answer: (req: StunMessage) => StunMessage;
beforeAll(async () => {
  fake = dgram.createSocket('udp4');
  fake.on('message', (buf, rinfo) => {
    fake.send(encodeStun(answer(decodeStun(buf))), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => fake.bind(0, '127.0.0.1', () => r()));
});
afterAll(() => { fake?.close(); });
const SHORT_LIFETIME = { type: Attr.Lifetime, value: Buffer.from([0, 1]) };

it('an Allocate Success without XOR-RELAYED-ADDRESS is CHZ_ERR_TURN_REJECTED', async () => {
  answer = (req) => ({ type: StunType.AllocateSuccess, transactionId: req.transactionId, attributes: [SHORT_LIFETIME] });
  const err = await turnAllocate('127.0.0.1', fake.address().port, 'u', 'p', { timeoutMs: 2000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StunClientError);
  expect((err as StunClientError).code).toBe('CHZ_ERR_TURN_REJECTED');
});

it('a 2-byte LIFETIME reads as 0, and an unauthenticated allocation is released without credentials', async () => {
  answer = (req) => ({
    type: req.type === StunType.AllocateRequest ? StunType.AllocateSuccess : StunType.RefreshSuccess, transactionId: req.transactionId,
    attributes: [{ type: Attr.XorRelayedAddress, value: encodeXorAddress({ address: '127.0.0.1', port: 40000, family: 4 }, req.transactionId) }, SHORT_LIFETIME],
  });
  const res = await turnAllocate('127.0.0.1', fake.address().port, 'u', 'p', { timeoutMs: 2000 });
  expect(res.relayed).toEqual({ address: '127.0.0.1', port: 40000, family: 4 });
  expect(res.lifetimeSeconds).toBe(0);
});

it('a 401 without NONCE, or with a malformed ERROR-CODE, is a typed refusal', async () => {
  answer = (req) => ({ type: StunType.AllocateError, transactionId: req.transactionId, attributes: [{ type: Attr.ErrorCode, value: Buffer.from([0, 0, 4, 1]) }] });
  const noNonce = await turnAllocate('127.0.0.1', fake.address().port, 'u', 'p', { timeoutMs: 2000, keep: true }).catch((e: unknown) => e);
  expect((noNonce as StunClientError).code).toBe('CHZ_ERR_TURN_REJECTED');
  answer = (req) => ({ type: StunType.AllocateError, transactionId: req.transactionId, attributes: [{ type: Attr.ErrorCode, value: Buffer.from([0, 4]) }] });
  const malformed = await turnAllocate('127.0.0.1', fake.address().port, 'u', 'p', { timeoutMs: 2000 }).catch((e: unknown) => e);
  expect(malformed).toBeInstanceOf(StunClientError);
  expect((malformed as StunClientError).code).toBe('CHZ_ERR_TURN_REJECTED');
});
