/** ICE candidate helpers shared by the interfaces and end-to-end checks. */
import type { IceServer } from '../protocol/index.js';
import type { GatheredCandidate } from './report.js';
import { withoutThirdPartyStun } from '../peer/call.js';

/** Parses the fields of an `a=candidate` / `candidate:` line that the probe reports. */
export function parseCandidate(line: string): GatheredCandidate | null {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ... (RFC 8839 section 5.1)
  const m = /candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/i.exec(line);
  if (!m) return null;
  return { protocol: m[1]!.toLowerCase(), address: m[2]!, port: Number(m[3]), type: m[4]!.toLowerCase() };
}

/** The ICE servers, with a loopback placeholder when none is a STUN server (see src/peer/call.ts). */
export function withStunPlaceholder(servers: IceServer[]): IceServer[] {
  return withoutThirdPartyStun(servers);
}

