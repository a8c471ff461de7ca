// The verdict in plain words, and the advice, for each kind of network.
import { afterAll, describe, expect, it } from 'vitest';
import type { FamilyReach, IceResult, IpFamilyResult, IpResult, NatResult, SignalResult, StunResult, TurnResult } from '../../src/probe/report.js';
import { decideVerdict, VERDICT_CODES, type VerdictInput, type VerdictOutput } from '../../src/probe/verdict.js';
import { isGlobalIpv4, isGlobalIpv6 } from '../../src/probe/ip-family-check.js';

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
    expect(verdict.summary).toMatch(/People behind symmetric NATs cannot reach you directly: that needs TURN, and no TURN server is configured/);
    expect(advice.join('\n')).toMatch(/does not hairpin/);
  });

  it('symmetric NAT without TURN: says calls need TURN and none is configured, and how to add one', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ mapping: 'address-and-port-dependent' }) }));
    expect(verdict).toMatchObject({ level: 'poor', code: 'symmetric-no-turn' });
    expect(verdict.summary).toMatch(/symmetric NAT.*calls with most people need TURN, and none is configured/);
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
    expect(verdict.summary).toBe('Your NAT\'s type could not be measured, so whether direct calls connect is unknown, and no TURN server is configured as a fallback.');
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

describe('decideVerdict: IPv4 and IPv6', () => {
  const reach = (status: FamilyReach['status'], address: string | null, over: Partial<FamilyReach> = {}): FamilyReach => ({
    status, url: 'http://chatzyo.example:8080', address, ms: status === 'ok' ? 3 : null, ...over,
  });
  const family = (f: 4 | 6, over: Partial<IpFamilyResult> = {}): IpFamilyResult => ({
    family: f, addresses: [f === 4 ? '198.51.100.2' : '2001:db8:0:2::2'], global: true,
    signal: reach('ok', f === 4 ? '203.0.113.1' : '2001:db8::1'),
    stun: reach('ok', f === 4 ? '203.0.113.1' : '2001:db8::1', { url: 'stun:chatzyo.example:3478' }), ...over,
  });
  const dual: IpResult = { ipv4: family(4), ipv6: family(6), ipv6Only: false };
  const v6only: IpResult = {
    ipv4: family(4, { addresses: [], global: false, signal: reach('no-route', '203.0.113.1'), stun: reach('no-route', '203.0.113.1') }),
    ipv6: family(6), ipv6Only: true,
  };
  const relayed = (address: string): TurnResult => ({ ...turn('udp', 'ok'), relayed: { address, port: 50000 } });

  it('dual stack, both families reach the server and STUN: nothing to say about IP families', () => {
    const plain = decideVerdict(input({}));
    const withIp = decideVerdict(input({ ip: dual }));
    expect(withIp).toEqual(plain);
  });

  it('IPv6-only without TURN: poor, only partners with IPv6 can be reached, and a relay to IPv4 is advised', () => {
    const { verdict, advice } = decideVerdict(input({ ip: v6only, nat: nat({ mapping: 'none', filtering: 'endpoint-independent' }) }));
    expect(verdict).toMatchObject({ level: 'poor', code: 'ipv6-only' });
    expect(verdict.summary).toMatch(/^This network is IPv6-only \(no interface has an IPv4 address\): direct calls can reach only partners who have IPv6, and no TURN server is configured/);
    expect(advice.join('\n')).toMatch(/relays to IPv4/);
  });

  it('IPv6-only with a TURN relay that hands out IPv4 addresses: fair, calls with IPv4-only partners go through it', () => {
    const { verdict, advice } = decideVerdict(input({ ip: v6only, turn: [relayed('203.0.113.3')], ice: [iceOk, relayOk] }));
    expect(verdict).toMatchObject({ level: 'fair', code: 'ipv6-only-turn' });
    expect(verdict.summary).toMatch(/the TURN relay gives out IPv4 addresses \(a test call through it connected\)/);
    expect(advice.join('\n')).not.toMatch(/relays to IPv4/);
  });

  it('IPv6-only with a TURN relay that hands out IPv6 addresses only: poor', () => {
    expect(decideVerdict(input({ ip: v6only, turn: [relayed('2001:db8::3')] })).verdict).toMatchObject({ level: 'poor', code: 'ipv6-only-no-relay' });
  });

  it('a server that answers over one family only: advice names the other, with what failed', () => {
    const noV6 = decideVerdict(input({ ip: { ...dual, ipv6: family(6, { signal: reach('failed', '2001:db8::1', { error: { code: 'CHZ_ERR_SERVER_UNREACHABLE', message: 'ECONNREFUSED' } }) }) } }));
    expect(noV6.advice.join('\n')).toMatch(/The server answers over IPv4 but not over IPv6 \(\[2001:db8::1\]: ECONNREFUSED\).*--host ::/);
    const noV4 = decideVerdict(input({ ip: { ...dual, ipv4: family(4, { signal: reach('failed', '203.0.113.1', { error: { code: 'CHZ_ERR_SERVER_UNREACHABLE', message: 'timeout' } }) }) } }));
    expect(noV4.advice.join('\n')).toMatch(/The server answers over IPv6 but not over IPv4 \(203\.0\.113\.1: timeout\).*remove the server's A record/);
  });

  it('a server name without an AAAA record, and STUN that fails over one family, are advised on', () => {
    const noAaaa = decideVerdict(input({ ip: { ...dual, ipv6: family(6, { signal: reach('no-address', null), stun: reach('no-address', null) }) } }));
    expect(noAaaa.advice.join('\n')).toMatch(/no IPv6 address \(no AAAA record\): people on IPv6-only networks cannot reach it\./);
    const stunV6 = decideVerdict(input({ ip: { ...dual, ipv6: family(6, { stun: reach('failed', '2001:db8::1', { url: 'stun:chatzyo.example:3478', error: { code: 'CHZ_ERR_STUN_TIMEOUT', message: 'no answer' } }) }) } }));
    expect(stunV6.advice.join('\n')).toMatch(/answers over IPv6 but the STUN server stun:chatzyo\.example:3478 did not/);
  });

  it('tells global addresses from private ones', () => {
    expect(['2001:db8::1', '2a00:1450::1', '3fff::1'].map(isGlobalIpv6)).toEqual([true, true, true]);
    expect(['fd00::2', 'fe80::1', '::1', '::ffff:1.2.3.4'].map(isGlobalIpv6)).toEqual([false, false, false, false]);
    expect(['203.0.113.1', '198.51.100.2', '8.8.8.8'].map(isGlobalIpv4)).toEqual([true, true, true]);
    expect(['10.1.2.3', '172.16.0.1', '172.31.9.9', '192.168.1.1', '100.64.0.1', '127.0.0.1', '169.254.1.1'].map(isGlobalIpv4)).toEqual([false, false, false, false, false, false, false]);
  });
});

/**
 * Every verdict branch with the inputs that lead to it, including every input that could not be
 * measured. A branch added to VERDICT_RULES without a case here fails the last test.
 */
describe('decideVerdict: each branch, and nothing claimed that was not measured', () => {
  const covered = new Set<string>();
  const blocked = nat({ udpBlocked: true, mapping: 'unknown', filtering: 'unknown', method: 'none', confidence: 'none', hairpinning: null });
  const noNat = (filtering: NatResult['filtering']) => nat({ mapping: 'none', filtering, hairpinning: null });
  const reach = (status: FamilyReach['status'], address: string | null): FamilyReach => ({ status, url: 'http://chatzyo.example:8080', address, ms: status === 'ok' ? 3 : null });
  const v6only: IpResult = {
    ipv4: { family: 4, addresses: [], global: false, signal: reach('no-route', '203.0.113.1'), stun: reach('no-route', '203.0.113.1') },
    ipv6: { family: 6, addresses: ['2001:db8:0:2::2'], global: true, signal: reach('ok', '2001:db8::1'), stun: reach('ok', '2001:db8::1') },
    ipv6Only: true,
  };
  const relayed = (address: string): TurnResult => ({ ...turn('udp', 'ok'), relayed: { address, port: 50000 } });
  const unknownNat = nat({ mapping: 'unknown', filtering: 'unknown', method: 'single-server', confidence: 'none', hairpinning: null });
  const noIce: IceResult[] = [];

  /** What an unmeasured input must not be claimed as, and must be said instead. */
  const UNMEASURED = {
    filtering: { never: /lets in only|nothing filter|anyone can send|will not reach you|cannot reach you directly|can reach you too/, says: /filtering (was not measured|is unknown)[\s\S]*--stun-alt-address/ },
    mapping: { never: /symmetric NAT \(|one public port per local port|no NAT|Direct calls will work|should connect directly/, says: /type could not be measured[\s\S]*(--stun-alt-address|--stun stun:|fix it or stop announcing it)/ },
    turnNotConfigured: { never: /TURN (relay|server)[^.]*(did not work|works here)|TURN covers/, says: /no TURN server is configured|none is configured/ },
    turnFailed: { never: /none is configured|no TURN server is configured/, says: /did not work|no TURN allocation|gave no relay address/ },
    iceSkipped: { never: /test call through it connected|test peers on this machine did not connect/, says: /./ },
    ipFamilies: { never: /IPv6-only|have IPv4 only/, says: /IPv4 and IPv6 is unknown/ },
    udpOrStunDown: { never: /^UDP is blocked on this network[:,] (?!or)/, says: /or every STUN server is down/ },
  } as const;
  type Unmeasured = keyof typeof UNMEASURED;

  interface Case { name: string; input: VerdictInput; code: string; unmeasured: Unmeasured[]; also?: (o: VerdictOutput) => void }
  const cases: Case[] = [
    { name: 'the server does not answer', code: 'server-unreachable', unmeasured: [],
      input: input({ signal: { ...signalOk, ok: false, error: { code: 'CHZ_ERR_SERVER_UNREACHABLE', message: 'ECONNREFUSED' } }, stun: [], nat: unknownNat, ice: noIce }) },
    { name: 'no STUN answer over UDP, TURN over TCP allocates, relay call not run', code: 'udp-blocked-turn-tcp', unmeasured: ['udpOrStunDown', 'iceSkipped'],
      input: input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'unreachable'), turn('tcp', 'ok')], ice: noIce }) },
    { name: 'no STUN answer over UDP, TURN over UDP and TCP fails', code: 'udp-blocked-turn-failed', unmeasured: ['udpOrStunDown', 'turnFailed'],
      input: input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'unreachable'), turn('tcp', 'unreachable')] }) },
    { name: 'no STUN answer over UDP, TURN over UDP only and it fails', code: 'udp-blocked-turn-failed', unmeasured: ['udpOrStunDown', 'turnFailed'],
      input: input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'unreachable'), { ...turn('tcp', 'not-tested'), note: 'not offered' }] }) },
    { name: 'no STUN answer over UDP, no TURN', code: 'udp-blocked-no-turn', unmeasured: ['udpOrStunDown', 'turnNotConfigured'],
      input: input({ stun: [stunDead], nat: blocked }) },
    { name: 'no STUN answer over UDP, but a TURN allocation over UDP works: the STUN servers are down, not UDP', code: 'no-stun-turn', unmeasured: ['mapping'],
      input: input({ stun: [stunDead], nat: blocked, turn: [turn('udp', 'ok')] }),
      also: (o) => expect(o.verdict.summary).not.toMatch(/UDP is blocked/) },
    { name: 'IPv6-only, the relay hands out IPv4', code: 'ipv6-only-turn', unmeasured: [], input: input({ ip: v6only, turn: [relayed('203.0.113.3')] }) },
    { name: 'IPv6-only, the relay hands out IPv6 only', code: 'ipv6-only-no-relay', unmeasured: [], input: input({ ip: v6only, turn: [relayed('2001:db8::3')] }),
      also: (o) => expect(o.verdict.summary).toMatch(/gave only IPv6 relay addresses/) },
    { name: 'IPv6-only, TURN fails', code: 'ipv6-only-no-relay', unmeasured: ['turnFailed'], input: input({ ip: v6only, turn: [turn('udp', 'auth-failed')] }) },
    { name: 'IPv6-only, no TURN', code: 'ipv6-only', unmeasured: ['turnNotConfigured'], input: input({ ip: v6only }) },
    { name: 'symmetric NAT (RFC 5780), TURN works', code: 'symmetric-turn', unmeasured: [], input: input({ nat: nat({ mapping: 'address-and-port-dependent' }), turn: [turn('udp', 'ok')] }) },
    { name: 'symmetric NAT (two servers, filtering unknown), TURN works, relay call not run', code: 'symmetric-turn', unmeasured: ['iceSkipped'],
      input: input({ nat: nat({ mapping: 'endpoint-dependent', filtering: 'unknown', method: 'two-server', confidence: 'medium' }), turn: [turn('udp', 'ok')], ice: noIce }) },
    { name: 'symmetric NAT, TURN fails', code: 'symmetric-turn-failed', unmeasured: ['turnFailed'], input: input({ nat: nat({ mapping: 'address-dependent' }), turn: [turn('udp', 'refused')] }) },
    { name: 'symmetric NAT, no TURN', code: 'symmetric-no-turn', unmeasured: ['turnNotConfigured'], input: input({ nat: nat({ mapping: 'address-and-port-dependent' }) }) },
    { name: 'no NAT, endpoint-independent filtering', code: 'open', unmeasured: [], input: input({ nat: noNat('endpoint-independent') }) },
    { name: 'no NAT, address-and-port-dependent filtering, no TURN', code: 'open-firewalled', unmeasured: ['turnNotConfigured'], input: input({ nat: noNat('address-and-port-dependent') }),
      also: (o) => expect(o.verdict.summary).toMatch(/lets in only replies from exactly where you sent\. People behind symmetric NATs cannot reach you directly/) },
    { name: 'no NAT, address-and-port-dependent filtering, TURN fails', code: 'open-firewalled', unmeasured: ['turnFailed'], input: input({ nat: noNat('address-and-port-dependent'), turn: [turn('udp', 'unreachable')] }) },
    { name: 'no NAT, address-dependent filtering', code: 'open-firewalled', unmeasured: [], input: input({ nat: noNat('address-dependent') }),
      also: (o) => expect(o.verdict.summary).toMatch(/only from addresses you sent to\. People behind symmetric NATs can reach you too/) },
    { name: 'no NAT, address-dependent or looser filtering (a server with one IP)', code: 'open-firewalled', unmeasured: [], input: input({ nat: noNat('address-dependent-or-looser') }),
      also: (o) => expect(o.verdict.summary).toMatch(/or nothing filters: a server with one IP cannot tell/) },
    { name: 'no NAT, filtering unknown (a server without --stun-alt-address), no TURN', code: 'open-filtering-unknown', unmeasured: ['filtering', 'turnNotConfigured'],
      input: input({ nat: nat({ mapping: 'none', filtering: 'unknown', method: 'single-server', confidence: 'medium', hairpinning: null }) }) },
    { name: 'no NAT, filtering unknown, TURN works', code: 'open-filtering-unknown', unmeasured: ['filtering'],
      input: input({ nat: nat({ mapping: 'none', filtering: 'unknown', method: 'single-server', confidence: 'medium', hairpinning: null }), turn: [turn('udp', 'ok')] }) },
    { name: 'no NAT, filtering unknown, TURN fails', code: 'open-filtering-unknown', unmeasured: ['filtering', 'turnFailed'],
      input: input({ nat: nat({ mapping: 'none', filtering: 'unknown', method: 'rfc5780', confidence: 'low', hairpinning: null }), turn: [turn('udp', 'auth-failed')] }) },
    { name: 'cone NAT, address-and-port-dependent filtering, TURN works', code: 'cone', unmeasured: [], input: input({ turn: [turn('udp', 'ok')], ice: [iceOk, relayOk] }),
      also: (o) => expect(o.verdict.summary).toMatch(/the TURN relay, which works here \(a test call through it connected\), covers them/) },
    { name: 'cone NAT measured against one server IP only (low confidence)', code: 'cone', unmeasured: [],
      input: input({ nat: nat({ method: 'rfc5780-port-only', confidence: 'low', filtering: 'address-dependent-or-looser' }) }),
      also: (o) => expect(o.advice.join('\n')).toMatch(/address-dependent \(symmetric\) mapping is not ruled out/) },
    { name: 'cone NAT, filtering unknown (two servers compared), no TURN', code: 'cone-filtering-unknown', unmeasured: ['filtering', 'turnNotConfigured'],
      input: input({ nat: nat({ filtering: 'unknown', method: 'two-server', confidence: 'medium', hairpinning: null }) }) },
    { name: 'no STUN server given, TURN works', code: 'no-stun-turn', unmeasured: ['mapping'], input: input({ stun: [], nat: nat({ mapping: 'unknown', filtering: 'unknown', method: 'none' }), turn: [turn('udp', 'ok')] }) },
    { name: 'no STUN server given, no TURN', code: 'no-stun', unmeasured: ['mapping', 'turnNotConfigured'], input: input({ stun: [], nat: nat({ mapping: 'unknown', filtering: 'unknown', method: 'none' }) }) },
    { name: 'a STUN server that does not resolve, TURN fails', code: 'no-stun', unmeasured: ['mapping', 'turnFailed'],
      input: input({ stun: [{ ...stunDead, error: { code: 'CHZ_ERR_PROBE_DNS', message: 'ENOTFOUND' } }], nat: nat({ mapping: 'unknown', filtering: 'unknown', method: 'none' }), turn: [turn('udp', 'unreachable')] }) },
    { name: 'a NAT one plain STUN server cannot classify, TURN works', code: 'nat-unknown-turn', unmeasured: ['mapping'], input: input({ nat: unknownNat, turn: [turn('udp', 'ok')] }) },
    { name: 'a NAT one plain STUN server cannot classify, no TURN', code: 'nat-unknown', unmeasured: ['mapping', 'turnNotConfigured'], input: input({ nat: unknownNat }) },
    { name: 'a NAT whose RFC 5780 test II got no answer, TURN fails', code: 'nat-unknown', unmeasured: ['mapping', 'turnFailed'],
      input: input({ nat: nat({ mapping: 'unknown', filtering: 'unknown', confidence: 'none' }), turn: [turn('udp', 'auth-failed')] }) },
    { name: 'the IPv4/IPv6 check did not finish (cone NAT)', code: 'cone', unmeasured: ['ipFamilies'], input: input({ ip: null }) },
  ];

  for (const c of cases) {
    it(`${c.code}: ${c.name}`, () => {
      const out = decideVerdict(c.input);
      covered.add(out.verdict.code);
      expect(out.verdict.code).toBe(c.code);
      const text = [out.verdict.summary, ...out.advice].join('\n');
      for (const u of c.unmeasured) {
        expect(text, `${u} must not be claimed`).not.toMatch(UNMEASURED[u].never);
        expect(text, `${u} must be said to be unknown, with how to find out`).toMatch(UNMEASURED[u].says);
      }
      c.also?.(out);
    });
  }

  it('the example from issue 19: no NAT, a server without --stun-alt-address: filtering is unknown, not "a firewall lets in only replies"', () => {
    const { verdict, advice } = decideVerdict(input({ nat: nat({ mapping: 'none', filtering: 'unknown', method: 'rfc5780', confidence: 'medium', hairpinning: null }), stun: [{ ...stunOk, rfc5780: false, otherAddress: null }] }));
    expect(verdict.summary).not.toMatch(/firewall/);
    expect(verdict.summary).toMatch(/no NAT\. Whether people behind symmetric NATs can reach you directly is unknown: NAT filtering was not measured \(probe a chatzyo server started with --stun-alt-address IP2/);
    expect(advice.join('\n')).toMatch(/NAT filtering is unknown/);
  });

  afterAll(() => {
    // Runs after the cases: every branch of VERDICT_RULES was reached by some case above.
    expect([...VERDICT_CODES].filter((code) => !covered.has(code)), 'verdict branches without a test case').toEqual([]);
  });
  it('every verdict code has a case above', () => {
    expect(VERDICT_CODES.filter((code) => !cases.some((c) => c.code === code)), 'verdict branches without a test case').toEqual([]);
    expect(new Set(VERDICT_CODES).size).toBe(VERDICT_CODES.length);
  });
});
