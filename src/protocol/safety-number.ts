/**
 * The safety number (version 2): a 12-digit short authentication string (SAS) both sides of a
 * call compute from the two DTLS certificate fingerprints (RFC 8122 `a=fingerprint`) and two
 * random nonces that are committed to before either is revealed (the commit-then-reveal of
 * ZRTP, RFC 6189 section 4.4.1.1). The exchange that carries the nonces is in
 * `safety-exchange.ts`; the scheme and why a man in the middle gets one guess in 10^12 are in
 * docs/safety-number.md. Uses WebCrypto (`globalThis.crypto`), present in browsers and Node 20.
 */

/** Domain tag of a commitment `H(tag | nonce | fingerprint)`. */
const COMMIT_TAG = 'chatzyo-sas-commit-v2';
/** Domain tag of the safety number's hash. */
const NUMBER_TAG = 'chatzyo-safety-v2';
/** Length of each side's nonce, in bytes (256 bits: never guessed, never repeated). */
export const NONCE_BYTES = 32;
/** Number of decimal digits in a safety number. */
const SAFETY_DIGITS = 12;

/** The `a=fingerprint` values of an SDP (hash function and value, normalised), session or media level, sorted. */
export function sdpFingerprints(sdp: string): string[] {
  const out = new Set<string>();
  for (const m of sdp.matchAll(/^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/gm)) {
    out.add(`${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}`);
  }
  return [...out].sort();
}

/**
 * The certificate identity of one side as it enters the safety number: every fingerprint of
 * its SDP, sorted and joined with commas. Both sides derive the same string for the same SDP.
 * Throws when the SDP has no fingerprint (such an SDP cannot set up DTLS at all).
 */
export function sdpIdentity(sdp: string): string {
  const fps = sdpFingerprints(sdp);
  if (!fps.length) throw new Error('the SDP has no a=fingerprint line');
  return fps.join(',');
}

const utf8 = new TextEncoder();

/**
 * Unambiguous encoding of a hash input: each field (the tag first) as a 4-byte big-endian
 * length and its bytes, so no two different field lists give the same bytes.
 */
function framed(fields: readonly (string | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const parts = fields.map((f) => (typeof f === 'string' ? utf8.encode(f) : f));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

async function sha256(fields: readonly (string | Uint8Array)[]): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', framed(fields)));
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a lower-case hex string (the caller has validated it). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A fresh random nonce of {@link NONCE_BYTES} bytes from the platform's CSPRNG. */
export function randomNonce(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/**
 * The commitment a side sends before its nonce: SHA-256 over {@link COMMIT_TAG}, the nonce and
 * the side's own identity ({@link sdpIdentity} of its local SDP). Binding the identity means a
 * commitment relayed from the other leg of a man in the middle never opens correctly.
 */
export function commitment(nonce: Uint8Array, identity: string): Promise<Uint8Array> {
  return sha256([COMMIT_TAG, nonce, identity]);
}

/** What one side knows once the exchange is done: both identities, both nonces. */
export interface SafetyInput {
  /** {@link sdpIdentity} of this side's local SDP. */
  localIdentity: string;
  /** {@link sdpIdentity} of the partner's SDP as this side received it. */
  remoteIdentity: string;
  localNonce: Uint8Array;
  remoteNonce: Uint8Array;
}

/**
 * SHA-256 over {@link NUMBER_TAG} and the two (identity, nonce) pairs in a canonical order
 * (by identity, then by nonce), so both sides hash the same bytes.
 */
export function safetyDigest(input: SafetyInput): Promise<Uint8Array> {
  const pairs: [string, Uint8Array][] = [[input.localIdentity, input.localNonce], [input.remoteIdentity, input.remoteNonce]];
  pairs.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : toHex(x[1]) < toHex(y[1]) ? -1 : 1));
  return sha256([NUMBER_TAG, pairs[0]![0], pairs[0]![1], pairs[1]![0], pairs[1]![1]]);
}

/**
 * The digest read as one 256-bit big-endian number, reduced modulo 10^12 and shown as three
 * groups of four digits ("0412 9981 3307"). Using all 256 bits keeps the reduction's bias below
 * 2^-216: every number has probability 10^-12 within a factor 1 + 2^-216.
 */
export function formatSafetyNumber(digest: Uint8Array): string {
  const n = BigInt(`0x${toHex(digest)}`) % 10n ** BigInt(SAFETY_DIGITS);
  const d = n.toString().padStart(SAFETY_DIGITS, '0');
  return `${d.slice(0, 4)} ${d.slice(4, 8)} ${d.slice(8)}`;
}

/** The safety number of one side: {@link formatSafetyNumber} of {@link safetyDigest}. Symmetric in the two sides. */
export async function deriveSafetyNumber(input: SafetyInput): Promise<string> {
  return formatSafetyNumber(await safetyDigest(input));
}
