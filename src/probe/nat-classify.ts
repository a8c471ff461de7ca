/**
 * Pure NAT classification from observations, following RFC 5780 sections 4.3 (mapping) and
 * 4.4 (filtering), with the terms of RFC 4787. The I/O that gathers the observations lives in
 * nat-check.ts; these functions only decide, so they are unit tested on plain values.
 */
import type { Confidence, Endpoint, NatFiltering, NatMapping } from './report.js';

const same = (a: Endpoint | null | undefined, b: Endpoint | null | undefined) => !!a && !!b && a.address === b.address && a.port === b.port;

/** What the RFC 5780 mapping tests saw, all from one local socket. */
export interface MappingObservations {
  /** Our local transport address. */
  local: Endpoint;
  /** Test I: mapped address seen by the primary address and port. */
  test1: Endpoint;
  /** Test II: mapped address seen by the alternate IP, primary port; null when it did not answer; undefined when not run. */
  test2?: Endpoint | null;
  /** Test III: mapped address seen by the alternate IP and alternate port. */
  test3?: Endpoint | null;
  /**
   * A server without a second IP (OTHER-ADDRESS has the primary IP): test 2 went to the
   * alternate port on the primary IP instead.
   */
  portOnly?: boolean;
}

/** A classification with its certainty and what led to it. */
export interface Classified<T> { value: T; confidence: Confidence; note: string }

/** RFC 5780 section 4.3: mapping behaviour from tests I-III. */
export function classifyMapping(o: MappingObservations): Classified<NatMapping> {
  if (same(o.test1, o.local)) {
    return { value: 'none', confidence: 'high', note: `the server saw our local address ${fmt(o.local)}: no NAT on this path` };
  }
  if (o.test2 === undefined) return { value: 'unknown', confidence: 'none', note: 'only test I ran' };
  if (o.test2 === null) return { value: 'unknown', confidence: 'none', note: 'the alternate address did not answer test II' };
  if (o.portOnly) {
    if (same(o.test2, o.test1)) {
      return { value: 'endpoint-independent', confidence: 'low', note: 'same mapping toward a second port of the same IP; without a second server IP, address-dependent mapping cannot be ruled out' };
    }
    return { value: 'address-and-port-dependent', confidence: 'high', note: `a different mapping for a different port of the same IP (${fmt(o.test1)} vs ${fmt(o.test2)})` };
  }
  if (same(o.test2, o.test1)) {
    return { value: 'endpoint-independent', confidence: 'high', note: `the same mapping ${fmt(o.test1)} toward both server IPs` };
  }
  if (o.test3 === undefined) return { value: 'unknown', confidence: 'none', note: 'test III did not run' };
  if (o.test3 === null) return { value: 'unknown', confidence: 'none', note: 'the alternate address and port did not answer test III' };
  if (same(o.test3, o.test2)) {
    return { value: 'address-dependent', confidence: 'high', note: `a new mapping per destination IP (${fmt(o.test1)} vs ${fmt(o.test2)}), kept across ports` };
  }
  return { value: 'address-and-port-dependent', confidence: 'high', note: `a new mapping per destination IP and port (${fmt(o.test1)}, ${fmt(o.test2)}, ${fmt(o.test3)})` };
}

/** What the RFC 5780 filtering tests saw (true: a response arrived; null: not run). */
export interface FilteringObservations {
  /** Test II: CHANGE-REQUEST change IP and port. */
  changeIpAndPort: boolean | null;
  /** Test III: CHANGE-REQUEST change port only. */
  changePort: boolean | null;
}

/** RFC 5780 section 4.4: filtering behaviour from tests II-III. */
export function classifyFiltering(o: FilteringObservations): Classified<NatFiltering> {
  if (o.changeIpAndPort === true) {
    if (o.changePort === false) return { value: 'unknown', confidence: 'low', note: 'a reply from another IP and port arrived but one from another port did not: packet loss or an unusual firewall' };
    return { value: 'endpoint-independent', confidence: 'high', note: 'a reply from a different IP and port got in' };
  }
  if (o.changePort === true) {
    if (o.changeIpAndPort === null) {
      return { value: 'address-dependent-or-looser', confidence: 'medium', note: 'a reply from a different port got in; the server has no second IP to test more' };
    }
    return { value: 'address-dependent', confidence: 'high', note: 'replies from another port of the same IP get in; from another IP they do not' };
  }
  if (o.changePort === false) {
    return { value: 'address-and-port-dependent', confidence: 'high', note: 'only replies from exactly the address and port we sent to get in' };
  }
  return { value: 'unknown', confidence: 'none', note: 'the filtering tests did not run' };
}

/** One server's view of our mapping, from a shared local socket. */
export interface ServerView { server: Endpoint; mapped: Endpoint }

/**
 * Mapping behaviour without RFC 5780: the same local socket asks two or more servers (RFC
 * 5780 section 4.3 discusses this as a weaker substitute). Filtering cannot be learnt this way.
 */
export function classifyByComparison(local: Endpoint, views: ServerView[]): Classified<NatMapping> {
  if (views.length === 0) return { value: 'unknown', confidence: 'none', note: 'no STUN server answered' };
  if (views.every((v) => same(v.mapped, local))) {
    return { value: 'none', confidence: views.length > 1 ? 'high' : 'medium', note: `every server saw our local address ${fmt(local)}: no NAT on this path` };
  }
  if (views.length < 2) {
    return { value: 'unknown', confidence: 'none', note: 'there is a NAT, but one server without RFC 5780 support cannot tell its type; give a second --stun server or use a chatzyo server with --stun-alt-address' };
  }
  for (let i = 0; i < views.length; i++) {
    for (let j = i + 1; j < views.length; j++) {
      const a = views[i]!;
      const b = views[j]!;
      if (a.server.address === b.server.address && a.server.port !== b.server.port && !same(a.mapped, b.mapped)) {
        return { value: 'address-and-port-dependent', confidence: 'medium', note: `a different mapping for another port of the same server IP (${fmt(a.mapped)} vs ${fmt(b.mapped)})` };
      }
    }
  }
  const distinctIps = new Set(views.map((v) => v.server.address)).size > 1;
  if (views.every((v) => same(v.mapped, views[0]!.mapped))) {
    return distinctIps
      ? { value: 'endpoint-independent', confidence: 'medium', note: `${views.length} servers at different IPs saw the same mapping ${fmt(views[0]!.mapped)}` }
      : { value: 'endpoint-independent', confidence: 'low', note: 'the servers share one IP, so address-dependent mapping cannot be ruled out' };
  }
  return { value: 'endpoint-dependent', confidence: 'medium', note: `servers at different IPs saw different mappings (${views.map((v) => fmt(v.mapped)).join(', ')}): a symmetric NAT (address- or address-and-port-dependent)` };
}

function fmt(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** True for mappings that break direct connections with most other NATed peers ("symmetric"). */
export function isSymmetric(m: NatMapping): boolean {
  return m === 'address-dependent' || m === 'address-and-port-dependent' || m === 'endpoint-dependent';
}
