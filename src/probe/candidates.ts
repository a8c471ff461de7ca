/** ICE candidate helpers shared by the interfaces and end-to-end checks. */
import type { IceServer } from '../protocol/index.js';
import type { GatheredCandidate } from './report.js';

/** Parses the fields of an `a=candidate` / `candidate:` line that the probe reports. */
export function parseCandidate(line: string): GatheredCandidate | null {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ... (RFC 8839 section 5.1)
  const m = /candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/i.exec(line);
  if (!m) return null;
  return { protocol: m[1]!.toLowerCase(), address: m[2]!, port: Number(m[3]), type: m[4]!.toLowerCase() };
}

/**
 * werift falls back to stun.l.google.com:19302 when it is given no STUN server (its ICE
 * `Connection` defaults `stunServer`). A probe must not talk to a third party it was not told
 * about, so with no STUN URL the peers get one that cannot answer: the discard port on loopback.
 */
export const NO_STUN_PLACEHOLDER: IceServer = { urls: 'stun:127.0.0.1:9' };

/** The ICE servers, with {@link NO_STUN_PLACEHOLDER} when none is a STUN server. */
export function withStunPlaceholder(servers: IceServer[]): IceServer[] {
  const hasStun = servers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^stuns?:/i.test(u)));
  return hasStun ? servers : [...servers, NO_STUN_PLACEHOLDER];
}

