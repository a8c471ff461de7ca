/**
 * `chatzyo probe --require direct|relay|any`: whether calls of one kind will work on this
 * network, from the same measured facts as the verdict ({@link verdictFacts}). A pure function
 * of the report, so every outcome is unit tested; the CLI turns it into an exit code.
 *
 * `direct` is a peer-to-peer call without a relay: it works with most people when this side's
 * mapping is endpoint-independent or there is no NAT (RFC 8445, RFC 4787). `relay` is a call
 * through TURN: a TURN allocation worked, and the relay-only test call, when it ran, connected.
 * `any` is either. What could not be measured is neither met nor unmet: `met` is null.
 */
import type { ProbeReport } from './report.js';
import { HOW_TO_MEASURE_FILTERING, verdictFacts } from './verdict.js';

/** The kinds of call --require accepts. */
export const REQUIREMENTS = ['direct', 'relay', 'any'] as const;
/** A kind of call --require accepts. */
export type Requirement = (typeof REQUIREMENTS)[number];

/** Whether calls of one kind will work here, and why (a sentence a person can act on). */
export interface RequirementResult {
  requirement: Requirement;
  /** true: they will; false: they will not; null: it could not be measured. */
  met: boolean | null;
  reason: string;
}

/** What the requirement reads: the report without its verdict. */
export type RequirementInput = Pick<ProbeReport, 'server' | 'stun' | 'nat' | 'turn' | 'signal' | 'ice' | 'ip'>;

type Outcome = Omit<RequirementResult, 'requirement'>;

function direct(r: RequirementInput): Outcome {
  const f = verdictFacts(r);
  const call = r.ice.find((i) => i.policy === 'all');
  if (f.serverUnreachable) return { met: false, reason: `the chatzyo server at ${r.server} cannot be reached, so nobody can be matched` };
  if (f.udpBlocked) return { met: false, reason: 'no STUN server answered over UDP (UDP is blocked here, or every STUN server is down), and direct calls need both' };
  if (f.ipv6Only) return { met: false, reason: 'this network is IPv6-only (no IPv4 address), so direct calls reach only partners who have IPv6' };
  if (f.mapping === 'symmetric') return { met: false, reason: `the NAT is symmetric (${r.nat.mapping} mapping: a new public port for every destination), so direct calls with most people need a TURN relay` };
  if (call && !call.connected) return { met: false, reason: `two test peers on this machine did not connect (${call.error?.message ?? 'no reason given'}): something local blocks WebRTC` };
  if (f.mapping === 'none' || f.mapping === 'endpoint-independent') {
    const nat = f.mapping === 'none' ? 'there is no NAT' : 'the NAT keeps one public port per local port (endpoint-independent mapping)';
    const filtering = f.filtering === 'unknown' ? `; NAT filtering is unknown, so whether people behind symmetric NATs reach you is too (${HOW_TO_MEASURE_FILTERING})` : '';
    const tested = call?.connected ? ', and a test call connected' : '';
    return { met: true, reason: `${nat}, so direct calls work with most people${tested}${filtering}` };
  }
  if (!f.stunReachable) return { met: null, reason: 'no STUN server could be used, so the NAT could not be measured: pass --stun stun:HOST:PORT, or a --server that announces a working one' };
  return { met: null, reason: 'the NAT\'s mapping could not be measured: probe a chatzyo server started with --stun-alt-address IP2 (RFC 5780), or give two --stun servers at different addresses' };
}

function relay(r: RequirementInput): Outcome {
  const f = verdictFacts(r);
  const call = r.ice.find((i) => i.policy === 'relay');
  if (f.serverUnreachable) return { met: false, reason: `the chatzyo server at ${r.server} cannot be reached, so nobody can be matched` };
  if (f.turn === 'none-configured') return { met: false, reason: 'no TURN server is configured: pass --turn, or a --server that announces one (chatzyo serve --turn ... --turn-secret ...)' };
  const tested = r.turn.filter((t) => t.status !== 'not-tested');
  const ok = tested.filter((t) => t.status === 'ok');
  if (f.turn === 'failed') return { met: false, reason: `no TURN allocation worked (${tested.map((t) => `${t.host}:${t.port} over ${t.transport.toUpperCase()}: ${t.status}`).join('; ')})` };
  if (call && !call.connected) return { met: false, reason: `TURN allocations work, but a test call relayed through TURN did not connect (${call.error?.message ?? 'no reason given'})` };
  const how = [...new Set(ok.map((t) => t.transport.toUpperCase()))].join(', ');
  const proof = call?.connected ? ', and a relay-only test call connected' : call ? '' : ' (the relay-only test call did not run)';
  return { met: true, reason: `a TURN allocation over ${how} worked${proof}` };
}

/** Whether calls of kind `need` will work here, from a probe report. */
export function checkRequirement(r: RequirementInput, need: Requirement): RequirementResult {
  if (need === 'direct') return { requirement: need, ...direct(r) };
  if (need === 'relay') return { requirement: need, ...relay(r) };
  const d = direct(r);
  const t = relay(r);
  if (d.met) return { requirement: need, met: true, reason: `direct: ${d.reason}` };
  if (t.met) return { requirement: need, met: true, reason: `relay: ${t.reason}` };
  const met = d.met === false && t.met === false ? false : null;
  return { requirement: need, met, reason: `direct: ${d.reason}; relay: ${t.reason}` };
}
