/**
 * Puts a participant behind an {@link ImpairmentRelay}: its ICE servers become one TURN URL
 * pointing at the relay (with the credentials the server handed out), and the relay forwards
 * to the TURN server that URL named. With relay-only ICE every media packet then crosses the
 * relay. TURN over TCP or TLS cannot pass a UDP relay, so only a UDP TURN URL is kept.
 */
import type { IceServer } from '../protocol/index.js';
import { labError } from './errors.js';
import type { ImpairmentRelay } from './relay.js';

/** The host and port of a `turn:` URL over UDP (RFC 7065), or null for another kind. */
export function udpTurnTarget(url: string): { host: string; port: number } | null {
  const m = /^turn:(\[[^\]]+\]|[^:?]+)(?::(\d+))?(\?.*)?$/i.exec(url.trim());
  if (!m) return null;
  const transport = /[?&]transport=([a-z]+)/i.exec(m[3] ?? '')?.[1]?.toLowerCase() ?? 'udp';
  if (transport !== 'udp') return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 3478 };
}

/**
 * The ICE servers a participant behind `relay` uses: the first UDP TURN server of `servers`,
 * its URL rewritten to the relay, which is told to forward there. Throws `CHZ_ERR_LAB_RELAY`
 * when there is no UDP TURN server (the server must hand out TURN for `--network`).
 */
export function iceServersThroughRelay(servers: readonly IceServer[], relay: Pick<ImpairmentRelay, 'upstream' | 'setUpstream' | 'address'>): IceServer[] {
  for (const s of servers) {
    for (const url of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      const target = udpTurnTarget(url);
      if (!target) continue;
      if (!relay.upstream) relay.setUpstream(target);
      const { host, port } = relay.address;
      return [{ urls: `turn:${host.includes(':') ? `[${host}]` : host}:${port}?transport=udp`, username: s.username, credential: s.credential }];
    }
  }
  throw labError('CHZ_ERR_LAB_RELAY', 'The server handed out no TURN server over UDP, so the lab cannot put this participant behind a shaped link (start the server with a TURN URL).');
}
