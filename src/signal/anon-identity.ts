/**
 * Anonymous identity, for enforcement only: a server-signed token the client keeps (it carries a
 * random id and nothing else) and a keyed hash of the client's address. Both are derived from
 * one per-deployment secret, so every node agrees on them and a restart keeps them; neither can
 * be turned back into a person or an address without the secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

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

  /**
   * The keyed hash of the network a reporter counts by when reporters are told apart
   * ({@link reporterNetKey}: an IPv4 address as is, an IPv6 address by its /48). For IPv4 it
   * equals {@link hashAddress} of the same address. Bans still use {@link hashAddress}.
   */
  hashReporterNet(address: string): string {
    return this.hashAddress(reporterNetKey(address));
  }

  #mac(anonId: string): Buffer {
    return createHmac('sha256', this.#tokenKey).update(anonId).digest().subarray(0, MAC_BYTES);
  }
}

/** A random secret for a deployment that did not give one (32 bytes, base64url). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The network a reporter is counted by when telling reporters apart: an IPv4 address as is (an
 * IPv4-mapped IPv6 address as its IPv4 form), an IPv6 address by its /48 (`2001:db8:7::/48`).
 * One subscriber commonly gets a /56 or a /48 delegated (RFC 6177), so counting by /64, as the
 * per-address limits do, would let one person be many "distinct" reporters. Takes a raw address
 * or the server's address key (`2001:db8:7:1::/64`); anything else comes back unchanged.
 */
export function reporterNetKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/\/\d{1,3}$/, '').split('%')[0]!.toLowerCase();
  if (isIP(bare) !== 6) return address;
  const [head, tail] = bare.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) takes the room of two groups.
  const right = tail ? tail.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 3).map((g) => (parseInt(g || '0', 16) || 0).toString(16)).join(':')}::/48`;
}
