/**
 * Local interfaces and the host candidates (RFC 8445 section 5.1.1.1) a call offers from them.
 * The selection mirrors werift's (itself after libwebrtc's `network.cc`): loopback, link-local
 * and interfaces named ipsec*, tun*, utun*, tap*, vmnet* or veth* give no host candidate.
 * Browsers apply similar rules and may hide host addresses behind mDNS names (RFC 8828).
 */
import os from 'node:os';
import type { InterfaceAddress, InterfacesResult } from './report.js';

/** Interface name prefixes werift (and libwebrtc) skip: VPN tunnels, VM and container links. */
const SKIPPED_INTERFACE_PREFIXES = ['ipsec', 'tun', 'utun', 'tap', 'vmnet', 'veth'];

/** Why an interface address gives no host candidate, or null when it gives one. */
function hostCandidateExclusion(a: Pick<InterfaceAddress, 'name' | 'address' | 'family' | 'internal'>): string | null {
  if (a.internal) return 'loopback';
  const prefix = SKIPPED_INTERFACE_PREFIXES.find((p) => a.name.startsWith(p));
  if (prefix) return `${prefix}* interfaces are skipped (VPN/VM/container links)`;
  if ((a.family === 4 && a.address.startsWith('169.254.')) || (a.family === 6 && /^fe[89ab]/i.test(a.address))) return 'link-local';
  return null;
}

/** The machine's interface addresses, each marked with whether it gives a host candidate. */
export function listInterfaces(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const [name, addrs] of Object.entries(interfaces)) {
    for (const a of addrs ?? []) {
      const base = { name, address: a.address, family: (a.family === 'IPv6' || (a.family as unknown) === 6 ? 6 : 4) as 4 | 6, internal: a.internal };
      const why = hostCandidateExclusion(base);
      out.push({ ...base, hostCandidate: why === null, ...(why ? { excluded: why } : {}) });
    }
  }
  return out.sort((x, y) => x.name.localeCompare(y.name) || x.family - y.family);
}

/** Lists interfaces and the host candidates they give. */
export function checkInterfaces(): InterfacesResult {
  const interfaces = listInterfaces();
  return {
    interfaces,
    hostCandidates: interfaces.filter((i) => i.hostCandidate).map((i) => ({ interface: i.name, address: i.address, family: i.family })),
  };
}
