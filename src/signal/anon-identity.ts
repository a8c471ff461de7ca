/**
 * Anonymous identity, for enforcement only: a server-signed token the client keeps (it carries a
 * random id and nothing else) and a keyed hash of the client's address. Both are derived from
 * one per-deployment secret, so every node agrees on them and a restart keeps them; neither can
 * be turned back into a person or an address without the secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The random part of a token: 12 bytes, base64url. */
const ID_BYTES = 12;
/** Bytes of HMAC-SHA256 kept in a token (128 bits: forging one is out of reach). */
const MAC_BYTES = 16;
const TOKEN_RE = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})$/;

/** Mints and checks anonymous tokens and hashes addresses with keys derived from one secret. */
export class AnonIdentity {
  readonly #tokenKey: Buffer;
  readonly #addressKey: Buffer;

  constructor(secret: string) {
    // Separate keys per use, so a token's MAC can never be replayed as an address hash.
    this.#tokenKey = createHmac('sha256', secret).update('chatzyo anonymous token v1').digest();
    this.#addressKey = createHmac('sha256', secret).update('chatzyo address hash v1').digest();
  }

  /** A fresh identity: its id and the token (`v1.ID.MAC`) the client stores. */
  mint(): { anonId: string; token: string } {
    const anonId = randomBytes(ID_BYTES).toString('base64url');
    return { anonId, token: `v1.${anonId}.${this.#mac(anonId).toString('base64url')}` };
  }

  /** The anonymous id a token carries, or null when this deployment did not sign it. */
  verify(token: string): string | null {
    const m = TOKEN_RE.exec(token);
    if (!m) return null;
    const given = Buffer.from(m[2]!, 'base64url');
    const want = this.#mac(m[1]!);
    return given.length === want.length && timingSafeEqual(given, want) ? m[1]! : null;
  }

  /** The keyed hash of an address key (16 hex characters): logged and stored instead of the address. */
  hashAddress(address: string): string {
    return createHmac('sha256', this.#addressKey).update(address).digest('hex').slice(0, 16);
  }

  #mac(anonId: string): Buffer {
    return createHmac('sha256', this.#tokenKey).update(anonId).digest().subarray(0, MAC_BYTES);
  }
}

/** A random secret for a deployment that did not give one (32 bytes, base64url). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}
