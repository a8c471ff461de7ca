/**
 * STUN and TURN URIs (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:`), as they appear in
 * RTCIceServer.urls and on the probe's command line.
 */
import { ProbeUsageError } from './errors.js';

/** The transports a TURN client can reach its server over (RFC 8656 section 3.1). */
export type TurnTransport = 'udp' | 'tcp' | 'tls';

/** A parsed STUN URI. */
export interface StunUri {
  url: string;
  host: string;
  port: number;
  /** `stuns:` (STUN over TLS) cannot be tested with UDP Binding requests. */
  secure: boolean;
}

/** A parsed TURN URI. */
export interface TurnUri {
  url: string;
  host: string;
  port: number;
  /** The transports this URI asks for: an explicit `?transport=` gives one, none gives UDP and TCP. */
  transports: TurnTransport[];
}

/** Bad STUN/TURN URI (a usage error when it comes from the command line). */
class IceUriError extends ProbeUsageError {
  override readonly name = 'IceUriError';
  override readonly code = 'CHZ_ERR_PROBE_BAD_URL';
}

function hostPort(rest: string, defaultPort: number, url: string): { host: string; port: number } {
  // RFC 7064: host [ ":" port ]; IPv6 literals in brackets.
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/?#]+)(?::(\d{1,5}))?$/.exec(rest);
  if (!m) throw new IceUriError(`"${url}" is not a STUN/TURN URL (expected scheme:host[:port])`);
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new IceUriError(`"${url}": port out of range`);
  return { host, port };
}

/** Parses `stun:host[:port]` / `stuns:host[:port]` (default ports 3478 / 5349). */
export function parseStunUri(url: string): StunUri {
  const m = /^(stuns?):(?:\/\/)?([^?]+)$/i.exec(url.trim());
  if (!m) throw new IceUriError(`"${url}" is not a stun: URL (e.g. stun:stun.example.com:3478)`);
  const secure = m[1]!.toLowerCase() === 'stuns';
  return { url, secure, ...hostPort(m[2]!, secure ? 5349 : 3478, url) };
}

/**
 * Parses `turn:host[:port][?transport=udp|tcp]` and `turns:host[:port][?transport=tcp]`
 * (default ports 3478 / 5349). `turns:` is TURN over TLS.
 */
export function parseTurnUri(url: string): TurnUri {
  const m = /^(turns?):(?:\/\/)?([^?]+)(?:\?(.*))?$/i.exec(url.trim());
  if (!m) throw new IceUriError(`"${url}" is not a turn: URL (e.g. turn:turn.example.com:3478?transport=udp)`);
  const secure = m[1]!.toLowerCase() === 'turns';
  const { host, port } = hostPort(m[2]!, secure ? 5349 : 3478, url);
  const params = new URLSearchParams(m[3] ?? '');
  const t = params.get('transport')?.toLowerCase();
  if (t !== undefined && t !== 'udp' && t !== 'tcp') throw new IceUriError(`"${url}": transport must be udp or tcp`);
  let transports: TurnTransport[];
  if (secure) {
    if (t === 'udp') throw new IceUriError(`"${url}": turns: runs over TLS, so transport=udp (DTLS) is not supported`);
    transports = ['tls'];
  } else {
    transports = t ? [t] : ['udp', 'tcp'];
  }
  return { url, host, port, transports };
}

/** The URLs of an RTCIceServer entry as a list. */
export function urlsOf(urls: string | string[]): string[] {
  return Array.isArray(urls) ? urls : [urls];
}
