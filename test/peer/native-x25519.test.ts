/** werift's DTLS key exchange done by OpenSSL instead of tweetnacl (src/peer/werift-seam.ts nativeX25519). */
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { MediaStreamTrack } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeX25519, withoutThirdPartyStun, x25519, x25519KeyPair, x25519Uses } from '../../src/peer/werift-seam.js';
import { connectWeriftPair } from '../helpers/werift-pair.js';

/** tweetnacl's low-level functions (untyped in its declarations), which nativeX25519 does not replace. */
const lowlevel = (nacl as unknown as { lowlevel: { crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): number } }).lowlevel;

/** tweetnacl's own X25519: the reference. */
function reference(n: Uint8Array, p: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  lowlevel.crypto_scalarmult(out, n, p);
  return out;
}

describe('x25519 by OpenSSL', () => {
  it('agrees with tweetnacl on random scalars and points, and its key pairs fit together', () => {
    for (let i = 0; i < 40; i++) {
      const n = new Uint8Array(randomBytes(32));
      const p = new Uint8Array(randomBytes(32));
      // Any 32 bytes: RFC 7748 clamps the scalar and masks the point's top bit in both.
      p[31]! &= 0x7f;
      expect(Buffer.from(x25519(n, p))).toEqual(Buffer.from(reference(n, p)));
    }
    const a = x25519KeyPair();
    const b = x25519KeyPair();
    // Its public key is the private one times the base point, as tweetnacl computes it.
    const base = new Uint8Array(32);
    base[0] = 9;
    expect(Buffer.from(a.publicKey)).toEqual(Buffer.from(reference(a.secretKey, base)));
    expect(Buffer.from(x25519(a.secretKey, b.publicKey))).toEqual(Buffer.from(x25519(b.secretKey, a.publicKey)));
    // werift copies `.buffer`: each key must own an ArrayBuffer of exactly its 32 bytes.
    expect(a.secretKey.buffer.byteLength).toBe(32);
    expect(a.publicKey.buffer.byteLength).toBe(32);
  });
});

describe('nativeX25519', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => { for (const c of closers.splice(0).reverse()) await c(); });

  it('makes werift\'s DTLS handshake use OpenSSL for both key pairs and both secrets, and the call connects', async () => {
    nativeX25519();
    nativeX25519(); // once only: a second call wraps nothing again
    const before = { ...x25519Uses };
    const config = { iceServers: withoutThirdPartyStun([]).map((s) => ({ urls: s.urls })), bundlePolicy: 'max-bundle' as const };
    const pair = await connectWeriftPair(config, (a, b) => {
      a.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
      b.addTransceiver('audio', { direction: 'recvonly' });
    });
    closers.push(pair.close);
    // Connected means DTLS finished: both sides derived the same keys from these exchanges.
    expect(x25519Uses.keyPairs - before.keyPairs).toBe(2);
    expect(x25519Uses.secrets - before.secrets).toBe(2);
  });
});
