// The verdict in plain words, and the advice, for each kind of network.
import { describe, expect, it } from 'vitest';
import type { IceResult, NatResult, SignalResult, StunResult, TurnResult } from '../../src/probe/report.js';
import { decideVerdict, type VerdictInput } from '../../src/probe/verdict.js';

const stunOk: StunResult = {
  url: 'stun:203.0.113.1:3478', host: '203.0.113.1', port: 3478, address: '203.0.113.1', reachable: true,
  rttMs: { min: 10, median: 12, max: 15, samples: 5 }, mapped: { address: '198.51.100.18', port: 4000 }, local: { address: '198.18.1.2', port: 4000 },
  otherAddress: { address: '203.0.113.2', port: 3479 }, rfc5780: true,
};
const stunDead: StunResult = { ...stunOk, reachable: false, rttMs: null, mapped: null, otherAddress: null, rfc5780: false, error: { code: 'CHZ_ERR_STUN_TIMEOUT', message: 'no answer' } };
const nat = (over: Partial<NatResult>): NatResult => ({
  mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', server: stunOk.url,
  mapped: stunOk.mapped, udpBlocked: false, hairpinning: true, lifetime: null, notes: [], ...over,
});
const turn = (transport: TurnResult['transport'], status: TurnResult['status']): TurnResult => ({
  url: `turn:203.0.113.3:3478?transport=${transport}`, host: '203.0.113.3', port: 3478, transport, status,
  relayed: status === 'ok' ? { address: '203.0.113.3', port: 50000 } : null, mapped: null, allocateMs: status === 'ok' ? 20 : null, relayRttMs: null, lifetimeSeconds: null,
  ...(status !== 'ok' && status !== 'not-tested' ? { error: { code: status === 'auth-failed' ? 'CHZ_ERR_TURN_AUTH' : 'CHZ_ERR_TURN_UNREACHABLE', message: status } } : {}),
});
const signalOk: SignalResult = { url: 'ws://203.0.113.1:8080/ws', ok: true, connectMs: 3, welcomeMs: 2, rttMs: { min: 1, p50: 2, p95: 3, max: 4, samples: 10 }, turnAnnounced: false, iceServerUrls: [] };
const iceOk: IceResult = { policy: 'all', connected: true, ms: 300, localCandidateType: 'host', remoteCandidateType: 'host', gathered: { host: 1, srflx: 1 } };
const relayOk: IceResult = { policy: 'relay', connected: true, ms: 400, localCandidateType: 'relay', remoteCandidateType: 'relay', gathered: { relay: 1 } };

function input(over: Partial<VerdictInput>): VerdictInput {
  return { server: 'http://203.0.113.1:8080', stun: [stunOk], nat: nat({}), turn: [], signal: signalOk, ice: [iceOk], turnCredentialsFromServer: true, ...over };
}

describe('decideVerdict', () => {
  it('open network: direct calls work with everyone', () => {
    const { verdict } = decideVerdict(input({ nat: nat({ mapping: 'none', filtering: 'endpoint-independent', hairpinning: null }) }));
    expect(verdict).toMatchObject({ level: 'good', code: 'open' });
    expect(verdict.summary).toMatch(/direct calls will work with everyone/);
  });

  it('cone NAT (plain MASQUERADE): direct calls work with most people; symmetric peers need TURN', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ hairpinning: false }) }));
    expect(verdict).toMatchObject({ level: 'good', code: 'cone' });
    expect(verdict.summary).toMatch(/Direct calls will work with most people/);
    expect(verdict.summary).toMatch(/symmetric NATs will not reach you/);
    expect(advice.join('\n')).toMatch(/does not hairpin/);
  });

  it('symmetric NAT without TURN: says calls need TURN and none is configured, and how to add one', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ mapping: 'address-and-port-dependent' }) }));
    expect(verdict).toMatchObject({ level: 'poor', code: 'symmetric-no-turn' });
    expect(verdict.summary).toMatch(/symmetric NAT.*calls need TURN, and none is configured/);
    expect(advice.join('\n')).toMatch(/--turn turn:.*--turn-secret/);
  });

  it('symmetric NAT with a working TURN: fair, and says a relayed test call connected', () => {
    const { verdict } = decideVerdict(input({ nat: nat({ mapping: 'endpoint-dependent', method: 'two-server' }), turn: [turn('udp', 'ok')], ice: [iceOk, relayOk] }));
    expect(verdict).toMatchObject({ level: 'fair', code: 'symmetric-turn' });
    expect(verdict.summary).toMatch(/through the TURN relay, which works here \(a test call through it connected\)/);
  });

  it('symmetric NAT and TURN refusing the server\'s credentials: poor, and blames the shared secret', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ mapping: 'address-dependent' }), turn: [turn('udp', 'auth-failed')] }));
    expect(verdict).toMatchObject({ level: 'poor', code: 'symmetric-turn-failed' });
    expect(advice.join('\n')).toMatch(/--turn-secret must equal coturn's static-auth-secret/);
  });

  it('bad credentials given on the command line point at --turn-user/--turn-pass; unreachable says so', () => {
    const { advice } = decideVerdict(input({ turnCredentialsFromServer: false, turn: [turn('udp', 'auth-failed'), turn('tcp', 'unreachable')] }));
    expect(advice.join('\n')).toMatch(/check --turn-user and --turn-pass/);
    expect(advice.join('\n')).toMatch(/TURN at 203\.0\.113\.3:3478 over TCP did not answer/);
  });

  it('UDP blocked: TURN over TCP is the only way (fair), or nothing works (poor)', () => {
    const blocked = nat({ udpBlocked: true, mapping: 'unknown', filtering: 'unknown', method: 'none', confidence: 'none', hairpinning: null });
    expect(decideVerdict(input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'unreachable'), turn('tcp', 'ok')] })).verdict)
      .toMatchObject({ level: 'fair', code: 'udp-blocked-turn-tcp', summary: expect.stringMatching(/UDP is blocked.*over TCP/) });
    expect(decideVerdict(input({ stun: [stunDead], nat: blocked })).verdict).toMatchObject({ level: 'poor', code: 'udp-blocked-no-turn' });
    expect(decideVerdict(input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'unreachable')] })).verdict).toMatchObject({ level: 'poor', code: 'udp-blocked-turn-failed' });
  });

  it('an unreachable server comes first', () => {
    const { verdict, advice } = decideVerdict(input({ signal: { ...signalOk, ok: false, error: { code: 'CHZ_ERR_SERVER_UNREACHABLE', message: 'ECONNREFUSED' } }, stun: [], nat: nat({ mapping: 'unknown' }), ice: [] }));
    expect(verdict).toMatchObject({ level: 'poor', code: 'server-unreachable' });
    expect(advice[0]).toMatch(/--server URL/);
  });

  it('an unknown NAT type asks for an RFC 5780 server or a second STUN server', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ mapping: 'unknown', filtering: 'unknown', method: 'single-server', confidence: 'none' }) }));
    expect(verdict).toMatchObject({ level: 'fair', code: 'nat-unknown' });
    expect(advice.join('\n')).toMatch(/--stun-alt-address/);
  });

  it('no STUN at all: LAN-only unless TURN works', () => {
    expect(decideVerdict(input({ stun: [], nat: nat({ mapping: 'unknown', method: 'none' }) })).verdict.code).toBe('no-stun');
    expect(decideVerdict(input({ stun: [], nat: nat({ mapping: 'unknown', method: 'none' }), turn: [turn('udp', 'ok')] })).verdict.code).toBe('no-stun-turn');
  });

  it('suggests turns: when TURN has no working TLS transport, but not when it has', () => {
    expect(decideVerdict(input({ turn: [turn('udp', 'ok')] })).advice.join('\n')).toMatch(/Add a turns: URL/);
    expect(decideVerdict(input({ turn: [turn('udp', 'ok'), turn('tls', 'ok')] })).advice.join('\n')).not.toMatch(/Add a turns: URL/);
  });

  it('a relayed call that fails although allocations work points at the relay ports', () => {
    const { advice } = decideVerdict(input({ turn: [turn('udp', 'ok')], ice: [iceOk, { ...relayOk, connected: false, error: { code: 'CHZ_ERR_ICE_FAILED', message: 'x' } }] }));
    expect(advice.join('\n')).toMatch(/relay port range/);
    // Only TCP/TLS allocations work: the probe's own peers are the likelier culprit.
    const tcpOnly = decideVerdict(input({ turn: [turn('udp', 'unreachable'), turn('tcp', 'ok')], ice: [iceOk, { ...relayOk, connected: false }] }));
    expect(tcpOnly.advice.join('\n')).toMatch(/confirm with a browser call/);
  });

  it('a short mapping lifetime is mentioned', () => {
    const { advice } = decideVerdict(input({ nat: nat({ lifetime: { aliveAfterS: 2, goneAfterS: 3, waitsS: [1, 2, 3, 5] } }) }));
    expect(advice.join('\n')).toMatch(/idle UDP mapping within 3 s/);
  });
});
