// `chatzyo probe --require direct|relay|any` as a pure function of the report: each way it is
// met, not met, or could not be measured.
import { describe, expect, it } from 'vitest';
import type { IceResult, NatResult, ProbeReport, SignalResult, StunResult, TurnResult } from '../../src/probe/report.js';
import { checkRequirement, type RequirementInput } from '../../src/probe/requirement.js';

const stunOk: StunResult = {
  url: 'stun:203.0.113.1:3478', host: '203.0.113.1', port: 3478, address: '203.0.113.1', reachable: true,
  rttMs: { min: 10, median: 12, max: 15, samples: 5 }, mapped: { address: '198.51.100.18', port: 4000 }, local: { address: '198.18.1.2', port: 4000 },
  otherAddress: null, rfc5780: false,
};
const nat = (over: Partial<NatResult>): NatResult => ({
  mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', server: stunOk.url,
  mapped: stunOk.mapped, udpBlocked: false, hairpinning: null, lifetime: null, notes: [], ...over,
});
const turn = (transport: TurnResult['transport'], status: TurnResult['status']): TurnResult => ({
  url: `turn:203.0.113.3:3478?transport=${transport}`, host: '203.0.113.3', port: 3478, transport, status,
  relayed: status === 'ok' ? { address: '203.0.113.3', port: 50000 } : null, mapped: null, allocateMs: null, relayRttMs: null, lifetimeSeconds: null,
});
const signalOk: SignalResult = { url: 'ws://203.0.113.1:8080/ws', ok: true, connectMs: 3, welcomeMs: 2, rttMs: null, turnAnnounced: false, iceServerUrls: [] };
const call = (policy: IceResult['policy'], connected: boolean): IceResult => ({
  policy, connected, ms: connected ? 300 : null, localCandidateType: null, remoteCandidateType: null, gathered: {},
  ...(connected ? {} : { error: { code: 'CHZ_ERR_ICE_FAILED', message: 'ICE failed' } }),
});
const report = (over: Partial<ProbeReport>): RequirementInput => ({
  server: 'http://203.0.113.1:8080', stun: [stunOk], nat: nat({}), turn: [], signal: signalOk, ice: [], ip: null, ...over,
});

describe('checkRequirement', () => {
  it('direct: met with no NAT or an endpoint-independent mapping; filtering unknown is said, not assumed', () => {
    expect(checkRequirement(report({ nat: nat({ mapping: 'none' }), ice: [call('all', true)] }), 'direct'))
      .toMatchObject({ met: true, reason: expect.stringMatching(/there is no NAT.*a test call connected/) });
    const cone = checkRequirement(report({ nat: nat({ filtering: 'unknown', method: 'two-server' }) }), 'direct');
    expect(cone).toMatchObject({ met: true, reason: expect.stringMatching(/endpoint-independent.*filtering is unknown.*--stun-alt-address/) });
  });

  it('direct: not met behind a symmetric NAT, with UDP blocked, IPv6-only, a failed local call, or an unreachable server', () => {
    const cases: [Partial<ProbeReport>, RegExp][] = [
      [{ nat: nat({ mapping: 'address-and-port-dependent' }) }, /symmetric/],
      [{ nat: nat({ mapping: 'unknown', filtering: 'unknown', udpBlocked: true }), stun: [{ ...stunOk, reachable: false }] }, /no STUN server answered over UDP/],
      [{ ip: { ipv4: {} as never, ipv6: {} as never, ipv6Only: true } }, /IPv6-only/],
      [{ ice: [call('all', false)] }, /two test peers on this machine did not connect \(ICE failed\)/],
      [{ signal: { ...signalOk, ok: false } }, /cannot be reached/],
    ];
    for (const [over, reason] of cases) expect(checkRequirement(report(over), 'direct')).toMatchObject({ met: false, reason: expect.stringMatching(reason) });
  });

  it('direct: could not be measured when the mapping is unknown or no STUN server could be used', () => {
    expect(checkRequirement(report({ nat: nat({ mapping: 'unknown', filtering: 'unknown', method: 'single-server' }) }), 'direct'))
      .toMatchObject({ met: null, reason: expect.stringMatching(/mapping could not be measured.*--stun-alt-address/) });
    expect(checkRequirement(report({ stun: [], nat: nat({ mapping: 'unknown', method: 'none' }) }), 'direct'))
      .toMatchObject({ met: null, reason: expect.stringMatching(/no STUN server could be used.*--stun/) });
  });

  it('relay: met when a TURN allocation works and the relayed call (if run) connected; not met otherwise', () => {
    expect(checkRequirement(report({ turn: [turn('udp', 'ok'), turn('tls', 'not-tested')], ice: [call('relay', true)] }), 'relay'))
      .toEqual({ requirement: 'relay', met: true, reason: 'a TURN allocation over UDP worked, and a relay-only test call connected' });
    expect(checkRequirement(report({ turn: [turn('tcp', 'ok')] }), 'relay').reason).toMatch(/the relay-only test call did not run/);
    expect(checkRequirement(report({}), 'relay')).toMatchObject({ met: false, reason: expect.stringMatching(/no TURN server is configured/) });
    expect(checkRequirement(report({ turn: [turn('udp', 'auth-failed')] }), 'relay')).toMatchObject({ met: false, reason: expect.stringMatching(/203\.0\.113\.3:3478 over UDP: auth-failed/) });
    expect(checkRequirement(report({ turn: [turn('udp', 'ok')], ice: [call('relay', false)] }), 'relay')).toMatchObject({ met: false, reason: expect.stringMatching(/relayed through TURN did not connect/) });
  });

  it('any: met when either is, not met when both are not, unknown when direct is unknown and relay is not met', () => {
    expect(checkRequirement(report({ nat: nat({ mapping: 'address-dependent' }), turn: [turn('udp', 'ok')] }), 'any')).toMatchObject({ met: true, reason: expect.stringMatching(/^relay: /) });
    expect(checkRequirement(report({}), 'any')).toMatchObject({ met: true, reason: expect.stringMatching(/^direct: /) });
    expect(checkRequirement(report({ nat: nat({ mapping: 'address-dependent' }) }), 'any')).toMatchObject({ met: false, reason: expect.stringMatching(/^direct: .*symmetric.*; relay: no TURN server/) });
    expect(checkRequirement(report({ nat: nat({ mapping: 'unknown', filtering: 'unknown' }) }), 'any')).toMatchObject({ met: null });
  });
});
