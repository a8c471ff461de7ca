/**
 * The safety number: a short code both sides of a call compute from the two DTLS fingerprints
 * (RFC 8122 `a=fingerprint` lines of the local and remote SDP). The fingerprints are sorted,
 * so both sides get the same code; a signaling server that swaps a fingerprint (to sit in the
 * middle of DTLS) makes the two codes differ. Uses WebCrypto, present in browsers and Node 20.
 */

/** The `a=fingerprint` values of an SDP (hash function and value, normalised), session or media level. */
export function sdpFingerprints(sdp: string): string[] {
  const out = new Set<string>();
  for (const m of sdp.matchAll(/^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/gm)) {
    out.add(`${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}`);
  }
  return [...out].sort();
}

/**
 * Derives the safety number from the local and remote SDP: 12 digits in three groups of four
 * ("0412 9981 3307"). Order of arguments does not matter. Throws when an SDP has no fingerprint.
 */
export async function safetyNumber(localSdp: string, remoteSdp: string): Promise<string> {
  const a = sdpFingerprints(localSdp);
  const b = sdpFingerprints(remoteSdp);
  if (!a.length || !b.length) throw new Error('an SDP has no a=fingerprint line');
  const parts = [a.join(','), b.join(',')].sort();
  const input = new TextEncoder().encode(`chatzyo-safety-v1|${parts[0]}|${parts[1]}`);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', input));
  let n = 0n;
  for (let i = 0; i < 8; i++) n = (n << 8n) | BigInt(digest[i]!);
  const digits = (n % 10n ** 12n).toString().padStart(12, '0');
  return `${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8)}`;
}
