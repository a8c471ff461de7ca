/**
 * The shape of a probe report: what each check found. `chatzyo probe --json` prints one
 * {@link ProbeReport}; the ink view and the verdict read the same objects.
 */
import type { CheckError } from './errors.js';
import type { TurnTransport } from './ice-url.js';
import type { StunBurstResult } from './stun-burst.js';

/** A transport address. */
export interface Endpoint { address: string; port: number }

/** Minimum, median and maximum of some samples, in ms. */
export interface RttSummary { min: number; median: number; max: number; samples: number }

/** Percentiles of some samples, in ms. */
interface RttPercentiles { min: number; p50: number; p95: number; max: number; samples: number }


/** One local network interface address. */
export interface InterfaceAddress {
  name: string;
  address: string;
  family: 4 | 6;
  internal: boolean;
  /** A call offers a host candidate on this address. */
  hostCandidate: boolean;
  /** Why not, when it does not. */
  excluded?: string;
}

/** One ICE candidate, as gathered. */
export interface GatheredCandidate { type: string; protocol: string; address: string; port: number }

/** Local interfaces and the host candidates a call offers from them. */
export interface InterfacesResult {
  interfaces: InterfaceAddress[];
  hostCandidates: { interface: string; address: string; family: 4 | 6 }[];
}

/**
 * How one IP family fared toward one server (the chatzyo server, or a STUN server).
 * `ok`: it answered; `failed`: tried, and it did not; `no-route`: this host has no route to
 * the server's address of this family; `no-address`: the server's name has no address of this
 * family (no A or AAAA record); `not-tested`: its URL names an address of the other family, or
 * there was no server to try.
 */
export interface FamilyReach {
  status: 'ok' | 'failed' | 'no-route' | 'no-address' | 'not-tested';
  /** The URL tried (null: none). */
  url: string | null;
  /** The address tried. */
  address: string | null;
  /** Signaling: WebSocket connect + welcome; STUN: one Binding round trip. */
  ms: number | null;
  /** STUN only: our address as the server saw it (XOR-MAPPED-ADDRESS). */
  mapped?: Endpoint | null;
  error?: CheckError;
}

/** What this host has of one IP family, and what it reached over it. */
export interface IpFamilyResult {
  family: 4 | 6;
  /** Interface addresses of this family other than loopback and link-local. */
  addresses: string[];
  /** One of them is global: IPv6 in 2000::/3; IPv4 outside RFC 1918 and RFC 6598 (100.64/10) space. */
  global: boolean;
  /** The chatzyo server over this family. */
  signal: FamilyReach;
  /** The first STUN server with an address of this family. */
  stun: FamilyReach;
}

/** IPv4 and IPv6, each on its own. */
export interface IpResult {
  ipv4: IpFamilyResult;
  ipv6: IpFamilyResult;
  /**
   * No interface has an IPv4 address (other than loopback and link-local) and one has an IPv6
   * address: calls offer IPv6 candidates only.
   */
  ipv6Only: boolean;
}

/** One STUN server. */
export interface StunResult {
  url: string;
  host: string;
  port: number;
  /** The address the host name resolved to. */
  address: string | null;
  reachable: boolean;
  rttMs: RttSummary | null;
  /** Our public address as this server sees it (XOR-MAPPED-ADDRESS). */
  mapped: Endpoint | null;
  /** The local socket the requests went out from. */
  local: Endpoint | null;
  /** OTHER-ADDRESS, when the server supports RFC 5780 behaviour discovery. */
  otherAddress: Endpoint | null;
  rfc5780: boolean;
  error?: CheckError;
}

/**
 * NAT mapping behaviour, RFC 4787 section 4.1 / RFC 5780 section 4.3.
 * @public The values the report's JSON can carry in this field (the type below is derived from it).
 */
export const NAT_MAPPINGS = [
  'none', 'endpoint-independent', 'address-dependent', 'address-and-port-dependent',
  /** Two servers saw different mappings: address- or address-and-port-dependent, not told apart. */
  'endpoint-dependent',
  'unknown',
] as const;
export type NatMapping = (typeof NAT_MAPPINGS)[number];

/**
 * NAT filtering behaviour, RFC 4787 section 5 / RFC 5780 section 4.4.
 * @public The values the report's JSON can carry in this field (the type below is derived from it).
 */
export const NAT_FILTERINGS = [
  'endpoint-independent', 'address-dependent', 'address-and-port-dependent',
  /** A response from the alternate port arrived: endpoint-independent or address-dependent (a server without a second IP cannot tell). */
  'address-dependent-or-looser',
  'unknown',
] as const;
export type NatFiltering = (typeof NAT_FILTERINGS)[number];

/** How the NAT was classified. */
type NatMethod = 'rfc5780' | 'rfc5780-port-only' | 'two-server' | 'single-server' | 'none';

/** How sure the classification is. */
export type Confidence = 'high' | 'medium' | 'low' | 'none';

/** Mapping lifetime (RFC 5780 section 4.6), bracketed between two waits. */
export interface LifetimeResult {
  /** The mapping was still there after this many seconds. */
  aliveAfterS: number | null;
  /** The mapping was gone after this many seconds (null: alive at every wait). */
  goneAfterS: number | null;
  /** The waits tried, in seconds. */
  waitsS: number[];
  error?: CheckError;
}

/** NAT behaviour. */
export interface NatResult {
  mapping: NatMapping;
  filtering: NatFiltering;
  method: NatMethod;
  confidence: Confidence;
  /** The server (URL) whose answers were used. */
  server: string | null;
  /** Our public address (Test I). */
  mapped: Endpoint | null;
  /** UDP reached no STUN server at all. */
  udpBlocked: boolean;
  /** A packet to our own public address came back to us (RFC 5780 section 4.5); null: not tested. */
  hairpinning: boolean | null;
  /** Only with --lifetime. */
  lifetime: LifetimeResult | null;
  /** What was observed, for a person reading the JSON. */
  notes: string[];
}

/**
 * Outcome of one TURN allocation.
 * @public The values the report's JSON can carry in this field (the type below is derived from it).
 */
export const TURN_STATUSES = ['ok', 'auth-failed', 'unreachable', 'refused', 'tls-error', 'not-tested'] as const;
export type TurnStatus = (typeof TURN_STATUSES)[number];

/** One TURN server over one transport. */
export interface TurnResult {
  url: string;
  host: string;
  port: number;
  transport: TurnTransport;
  status: TurnStatus;
  /** The relayed transport address (XOR-RELAYED-ADDRESS). */
  relayed: Endpoint | null;
  /** Our address as the TURN server sees it. */
  mapped: Endpoint | null;
  /** Time from the first Allocate to the successful one (both round trips, incl. connect). */
  allocateMs: number | null;
  /** Round trip client -> relay -> a test peer -> relay -> client (median), when measurable. */
  relayRttMs: number | null;
  lifetimeSeconds: number | null;
  error?: CheckError;
  /** Why not tested, or why relayRttMs is null. */
  note?: string;
}

/** The signaling path. */
export interface SignalResult {
  url: string;
  ok: boolean;
  /** TCP (+TLS) + WebSocket upgrade. */
  connectMs: number | null;
  /** Open to the welcome after hello. */
  welcomeMs: number | null;
  rttMs: RttPercentiles | null;
  /** The server announces TURN. */
  turnAnnounced: boolean | null;
  /** ICE server URLs the server announced (credentials left out). */
  iceServerUrls: string[];
  error?: CheckError;
}

/** One end-to-end call between two werift peers in the probe. */
export interface IceResult {
  /** `all`: a normal call; `relay`: both peers use TURN relay candidates only. */
  policy: 'all' | 'relay';
  connected: boolean;
  /** From creating the peers to DTLS connected. */
  ms: number | null;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  /** IP family of the pair the call connected over. */
  ipFamily?: 4 | 6 | null;
  /** Candidates each peer gathered, by type. */
  gathered: Record<string, number>;
  error?: CheckError;
}

/** What one step of the ramp found. */
export interface UplinkStep {
  /** The rate A sent at, kbit/s (IP layer). */
  offeredKbps: number;
  sent: number;
  received: number;
  /** The rate that reached B, kbit/s, over the time its packets arrived (null: too few arrived). */
  receivedKbps: number | null;
  lossPercent: number;
  /** How much the one-way delay grew from the first third of the step to the last, ms. */
  delayGrowthMs: number | null;
  /** The path carried this rate: loss under 5% and no runaway delay growth. */
  ok: boolean;
  /** Why not, when not. */
  why?: 'loss' | 'delay' | 'queue';
}

/** What the uplink test measured. */
export interface UplinkResult {
  /** `measured`; `failed`: it ran and could not measure (the call did not connect); `not-measured`: it did not run (see `note`). */
  status: 'measured' | 'failed' | 'not-measured';
  /** The TURN URL the call went through. */
  server: string | null;
  /**
   * The rate the path this machine -> TURN -> this machine sustains, kbit/s: the smaller of
   * the upload and the download (on most access links, the upload). Null when not measured.
   */
  upKbps: number | null;
  /** Every step passed: the path sustains at least `upKbps` (the ramp's top), maybe more. */
  atLeast: boolean;
  /** One-way time up to the TURN server and back down (so a round trip to it), at the lowest rate, ms (median). */
  rttMs: number | null;
  /** RFC 3550 interarrival jitter over the steps the path carried, ms. */
  jitterMs: number | null;
  /** Loss over the steps the path carried, percent. */
  lossPercent: number | null;
  /** Estimated audio MOS of a call on this path (src/quality/mos.ts). */
  mos: number | null;
  steps: UplinkStep[];
  /** Why it was not measured, or something to know about the number. */
  note?: string;
  error?: CheckError;
}

/** The plain-words outcome. */
export interface Verdict {
  /** good: direct calls work with most people; fair: calls work, some through a relay; poor: many or all calls will fail. */
  level: 'good' | 'fair' | 'poor';
  /** A stable code for scripts. */
  code: string;
  summary: string;
}

/** Everything `chatzyo probe` found. */
export interface ProbeReport {
  version: 1;
  startedAt: string;
  durationMs: number;
  /** How long each check that ran took, in ms (checks run in parallel where they can). */
  checkMs: Partial<Record<'signal' | 'interfaces' | 'ip' | 'stun' | 'nat' | 'turn' | 'ice' | 'uplink', number>>;
  server: string | null;
  interfaces: InterfacesResult | null;
  /** IPv4 and IPv6 reachability, and whether the network is IPv6-only. */
  ip: IpResult | null;
  stun: StunResult[];
  nat: NatResult;
  turn: TurnResult[];
  signal: SignalResult | null;
  ice: IceResult[];
  /** The call-quality STUN burst (RTT, jitter, loss, MOS); null when it did not run. */
  quality?: StunBurstResult | null;
  /**
   * The uplink test: the rate a relayed call sustains from this machine up to the TURN server
   * and back down (the smaller of upload and download), with its RTT, jitter, loss and MOS;
   * `status` says whether it was measured and, if not, why (absent in reports of older versions).
   */
  uplink?: UplinkResult | null;
  verdict: Verdict;
  advice: string[];
}
