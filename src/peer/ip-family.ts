/**
 * Which IP family a peer uses: both (the default, as browsers do: RFC 8421 happy eyeballs for
 * ICE lets the checks pick), IPv4 only, or IPv6 only (`connect -6`, to test an IPv6-only path
 * or to keep a call off IPv4).
 */
import { isIP } from 'node:net';
import type { RTCPeerConnectionConfig } from 'werift';
import type { IceServer } from '../protocol/index.js';

/** 4 or 6: use that family only. */
export type IpFamily = 4 | 6;

/**
 * werift settings that gather host candidates (and open sockets) of one family only. werift
 * gathers both by default; server-reflexive candidates it asks for over IPv4 only (an IPv6
 * host address needs no reflexive twin where there is no NAT66).
 */
export function ipFamilyConfig(family: IpFamily | undefined): Partial<RTCPeerConnectionConfig> {
  if (family === 6) return { iceUseIpv4: false, iceUseIpv6: true };
  if (family === 4) return { iceUseIpv4: true, iceUseIpv6: false };
  return {};
}

/** The family of an IP literal (an IPv4-mapped IPv6 address counts as IPv4), or null for a name. */
export function familyOf(address: string): IpFamily | null {
  if (/^::ffff:\d{1,3}(\.\d{1,3}){3}$/i.test(address)) return 4;
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0]!;
  const f = isIP(bare);
  return f === 4 || f === 6 ? f : null;
}

/** The host of a `stun:`/`turn:` URL (RFC 7064/7065), brackets removed; null when it has none. */
function iceUrlHost(url: string): string | null {
  const m = /^(?:stuns?|turns?):(?:\/\/)?(\[[^\]]*\]|[^:?/]+)/i.exec(url.trim());
  return m ? m[1]!.replace(/^\[|\]$/g, '') : null;
}

/**
 * The ICE servers a peer of one family can use: URLs that name an address literal of the
 * other family are left out (a host name stays: it may resolve to either). Servers left with
 * no URL are dropped.
 */
export function iceServersForFamily(servers: readonly IceServer[], family: IpFamily | undefined): IceServer[] {
  if (family === undefined) return [...servers];
  const out: IceServer[] = [];
  for (const s of servers) {
    const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => {
      const host = iceUrlHost(u);
      const f = host === null ? null : familyOf(host);
      return f === null || f === family;
    });
    if (urls.length) out.push({ ...s, urls });
  }
  return out;
}
