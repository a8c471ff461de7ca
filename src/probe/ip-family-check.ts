/**
 * IPv4 and IPv6, each on its own: which addresses this host has of each family, whether the
 * chatzyo server answers over each (a WebSocket hello and welcome with the name resolved to
 * that family only), and whether a STUN server answers a Binding over each. From the
 * addresses alone follows whether the network is IPv6-only: a call then offers IPv6
 * candidates only, so only partners with IPv6 (or a TURN relay that reaches IPv4) can answer.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { signalUrl } from '../peer/signal-client.js';
import { hasRoute, stunBinding } from '../stun/client.js';
import { toCheckError } from './errors.js';
import type { StunUri } from './ice-url.js';
import { listInterfaces } from './interfaces-check.js';
import type { FamilyReach, InterfaceAddress, IpFamilyResult, IpResult } from './report.js';
import { checkSignal } from './signal-check.js';
import { ms } from './stats.js';
import { closeQuietly, openUdp, sourceAddressFor } from './udp.js';

/** Settings of the IP family check. */
export interface IpFamilyCheckOptions {
  /** The chatzyo server (--server), if any. */
  server?: string;
  /** The STUN servers the other checks use (command line, then the welcome's). */
  stunUris: StunUri[];
  /** Deadline of each signaling attempt (connect + welcome). */
  signalTimeoutMs: number;
  /** Deadline of each STUN Binding. */
  stunTimeoutMs: number;
  /** Extra CA certificates for wss://. */
  ca?: string | Buffer | (string | Buffer)[];
  /** The interface addresses (default: this host's). */
  interfaces?: InterfaceAddress[];
}

/** True for an IPv6 global unicast address (2000::/3, RFC 4291 section 2.4). */
export function isGlobalIpv6(address: string): boolean {
  return /^[23][0-9a-f]{0,3}:/i.test(address);
}

/** True for an IPv4 address outside private (RFC 1918), shared (RFC 6598), loopback and link-local space. */
export function isGlobalIpv4(address: string): boolean {
  const [a = 0, b = 0] = address.split('.').map(Number);
  return !(a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254));
}

/** Checks both families. Never throws. */
export async function checkIpFamilies(o: IpFamilyCheckOptions): Promise<IpResult> {
  const interfaces = o.interfaces ?? listInterfaces();
  const [ipv4, ipv6] = await Promise.all([checkFamily(4, interfaces, o), checkFamily(6, interfaces, o)]);
  return { ipv4, ipv6, ipv6Only: ipv4.addresses.length === 0 && ipv6.addresses.length > 0 };
}

async function checkFamily(family: 4 | 6, interfaces: InterfaceAddress[], o: IpFamilyCheckOptions): Promise<IpFamilyResult> {
  // Every address but loopback and link-local counts, whatever the interface: a VPN's IPv4
  // address is IPv4 all the same (werift may not offer it as a candidate; see interfaces).
  const addresses = interfaces.filter((i) => i.family === family && !i.internal && i.excluded !== 'link-local').map((i) => i.address);
  const [signal, stun] = await Promise.all([signalOver(family, o), stunOver(family, o)]);
  return { family, addresses, global: addresses.some(family === 6 ? isGlobalIpv6 : isGlobalIpv4), signal, stun };
}

/** The address of `host` in `family`, or why there is none. */
async function addressIn(host: string, family: 4 | 6): Promise<{ address: string } | { status: 'no-address' | 'not-tested' }> {
  const literal = isIP(host);
  if (literal) return literal === family ? { address: host } : { status: 'not-tested' };
  try {
    return { address: (await lookup(host, { family })).address };
  } catch {
    return { status: 'no-address' };
  }
}

async function signalOver(family: 4 | 6, o: IpFamilyCheckOptions): Promise<FamilyReach> {
  const reach: FamilyReach = { status: 'not-tested', url: o.server ?? null, address: null, ms: null };
  if (!o.server) return reach;
  let host: string;
  try {
    host = new URL(signalUrl(o.server)).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return reach; // the signaling check reports a bad URL
  }
  const target = await addressIn(host, family);
  if (!('address' in target)) return { ...reach, status: target.status };
  reach.address = target.address;
  if (!(await hasRoute(target.address))) return { ...reach, status: 'no-route' };
  const { result } = await checkSignal(o.server, { timeoutMs: o.signalTimeoutMs, pings: 0, pingTimeoutMs: 0, ca: o.ca, family });
  if (!result.ok) return { ...reach, status: 'failed', error: result.error };
  return { ...reach, status: 'ok', ms: ms((result.connectMs ?? 0) + (result.welcomeMs ?? 0)) };
}

async function stunOver(family: 4 | 6, o: IpFamilyCheckOptions): Promise<FamilyReach> {
  const udp = o.stunUris.filter((u) => !u.secure);
  let firstMiss: FamilyReach = { status: 'not-tested', url: null, address: null, ms: null };
  for (const uri of udp) {
    const target = await addressIn(uri.host, family);
    if (!('address' in target)) {
      if (firstMiss.url === null) firstMiss = { status: target.status, url: uri.url, address: null, ms: null };
      continue;
    }
    const reach: FamilyReach = { status: 'failed', url: uri.url, address: target.address, ms: null, mapped: null };
    let local: string;
    try {
      local = await sourceAddressFor(target.address, uri.port);
    } catch {
      return { ...reach, status: 'no-route' };
    }
    const sock = await openUdp(local).catch(() => null);
    if (!sock) return reach;
    try {
      const r = await stunBinding(sock, target.address, uri.port, { timeoutMs: o.stunTimeoutMs });
      return { ...reach, status: 'ok', ms: ms(r.rttMs), mapped: { address: r.mapped.address, port: r.mapped.port } };
    } catch (err) {
      return { ...reach, error: toCheckError(err) };
    } finally {
      closeQuietly(sock);
    }
  }
  return firstMiss;
}
