// `chatzyo probe` on real simulated networks: network namespaces joined by veth pairs, with
// iptables NAT in router namespaces. An "internet" namespace runs `chatzyo serve` with
// RFC 5780 STUN on two addresses, and coturn. Behind it: a host with no NAT, a plain
// MASQUERADE router (endpoint-independent mapping, address-and-port-dependent filtering),
// a MASQUERADE --random-fully router (symmetric: address-and-port-dependent mapping), and a
// router that drops UDP. Each classification is cross-checked with coturn's
// turnutils_natdiscovery from the same namespace. Then two peers behind two symmetric NATs:
// the probe says beforehand that calls need TURN; without TURN the call fails, with coturn it
// connects over a relay.
//
//   198.18.1.2 [c-masq] -- [r-masq] 198.51.100.18 ---+
//   198.18.2.2 [c-sym]  -- [r-sym]  198.51.100.34 ---+
//   198.18.3.2 [c-blk]  -- [r-blk]  198.51.100.50 ---+--- [inet] 203.0.113.1/.2 chatzyo serve (STUN + alt)
//   198.18.4.2 [c-sym2] -- [r-sym2] 198.51.100.66 ---+          203.0.113.3    coturn (UDP, TCP, TLS)
//              [open]               198.51.100.2  ---+
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/probe/index.js';
import { makeCert, startTestCoturn, type TestCoturn } from './helpers.js';
import { requireRoot, TestNetwork, type NsProcess } from './netns.js';

const SERVER_A = 'http://203.0.113.1:8080'; // no TURN
const SERVER_B = 'http://203.0.113.1:8081'; // coturn announced, per-session credentials
const TURN_SECRET = 'chatzyo-netns-secret';

let net: TestNetwork;
let coturn: TestCoturn | undefined;
let cert: ReturnType<typeof makeCert> | undefined;
let caFile: string;

/** A router namespace `r-NAME` with a LAN client `c-NAME` behind it. */
function natted(name: string, wan: { inetDev: string; inet: string; router: string }, lan: string, nat: string[][]): void {
  net.addNamespace(`r-${name}`, { forward: true });
  net.addNamespace(`c-${name}`);
  net.link({ ns: 'inet', dev: wan.inetDev, addr: `${wan.inet}/28` }, { ns: `r-${name}`, dev: 'wan', addr: `${wan.router}/28` });
  net.link({ ns: `r-${name}`, dev: 'lan', addr: `${lan}.1/24` }, { ns: `c-${name}`, dev: 'eth0', addr: `${lan}.2/24` });
  net.defaultRoute(`r-${name}`, wan.inet);
  net.defaultRoute(`c-${name}`, `${lan}.1`);
  for (const rule of nat) net.exec(`r-${name}`, ['iptables', ...rule]);
}

beforeAll(async () => {
  requireRoot();
  TestNetwork.reapStale();
  net = new TestNetwork();
  net.addNamespace('inet', { forward: true });
  for (const a of ['203.0.113.1/32', '203.0.113.2/32', '203.0.113.3/32']) net.addAddress('inet', a);
  // A host on the internet itself: no NAT.
  net.addNamespace('c-open');
  net.link({ ns: 'inet', dev: 'o0', addr: '198.51.100.1/28' }, { ns: 'c-open', dev: 'eth0', addr: '198.51.100.2/28' });
  net.defaultRoute('c-open', '198.51.100.1');
  // Plain MASQUERADE: Linux keeps the source port per local socket (endpoint-independent
  // mapping) and lets in only replies from exactly where we sent (conntrack).
  natted('masq', { inetDev: 'm0', inet: '198.51.100.17', router: '198.51.100.18' }, '198.18.1', [['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE']]);
  // --random-fully: a random source port for every new flow (address-and-port-dependent mapping).
  natted('sym', { inetDev: 's0', inet: '198.51.100.33', router: '198.51.100.34' }, '198.18.2', [['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', '--random-fully']]);
  natted('sym2', { inetDev: 's1', inet: '198.51.100.65', router: '198.51.100.66' }, '198.18.4', [['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', '--random-fully']]);
  // A network that lets only TCP out.
  natted('blk', { inetDev: 'b0', inet: '198.51.100.49', router: '198.51.100.50' }, '198.18.3', [
    ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE'],
    ['-A', 'FORWARD', '-p', 'udp', '-j', 'DROP'],
  ]);

  cert = makeCert('203.0.113.3');
  caFile = path.join(cert.dir, 'ca.pem');
  writeFileSync(caFile, cert.pem);
  const turnUrls = ['turn:203.0.113.3:3478?transport=udp', 'turn:203.0.113.3:3478?transport=tcp', 'turns:203.0.113.3:5349?transport=tcp'];
  const serve = (name: string, port: number, stunPort: number, extra: string[]) => net.cli(name, 'inet', [
    'serve', '--host', '203.0.113.1', '--port', String(port), '--stun-address', '203.0.113.1', '--stun-alt-address', '203.0.113.2',
    '--stun-port', String(stunPort), '--log-level', 'silent', '--json', ...extra,
  ]);
  const a = serve('server A', 8080, 3478, []);
  const b = serve('server B', 8081, 3480, [...turnUrls.flatMap((u) => ['--turn', u]), '--turn-secret', TURN_SECRET]);
  // A STUN server without RFC 5780 (one address, one port), for the two-server comparison.
  const plain = net.cli('plain STUN', 'inet', ['serve', '--host', '203.0.113.2', '--port', '8082', '--stun-address', '203.0.113.2', '--stun-port', '3490', '--log-level', 'silent', '--json']);
  const [c] = await Promise.all([
    startTestCoturn({ ip: '203.0.113.3', port: 3478, tlsPort: 5349, tls: cert, netns: net.ns('inet'), secret: TURN_SECRET }),
    a.waitFor(/"event":"listening"/, 20_000),
    b.waitFor(/"event":"listening"/, 20_000),
    plain.waitFor(/"event":"listening"/, 20_000),
  ]);
  coturn = c;
}, 60_000);

afterAll(async () => {
  // Each step on its own: the namespaces go even if something before failed.
  await coturn?.stop().catch(() => {});
  cert?.remove();
  if (net) {
    await net.destroy();
    expect(net.leftovers()).toEqual([]);
  }
}, 30_000);

/** Runs `chatzyo probe --json` inside a client namespace. */
async function probe(client: string, args: string[]): Promise<ProbeReport> {
  const p: NsProcess = net.cli(`probe in ${client}`, client, ['probe', '--json', ...args]);
  const code = await p.exitCode(30_000);
  expect(code, p.stderr).toBe(0);
  return JSON.parse(p.stdout) as ProbeReport;
}

/** coturn's RFC 5780 client against our STUN server, from the same namespace. */
async function natdiscovery(client: string, localIp: string): Promise<{ mapping: string | null; filtering: string | null; out: string }> {
  const p = net.start(`natdiscovery in ${client}`, client, ['turnutils_natdiscovery', '-m', '-f', '-L', localIp, '203.0.113.1']);
  await p.exitCode(40_000);
  const out = p.stdout + p.stderr;
  const [, mappingPart = '', filteringPart = ''] = out.split(/-= (?:Mapping|Filtering) Behavior Discovery =-/);
  const word = (part: string, kind: 'Mapping' | 'Filtering'): string | null => {
    if (kind === 'Mapping' && /No NAT!/.test(part)) return 'none';
    const m = new RegExp(`NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) ${kind}!`).exec(part);
    return m ? m[1]!.toLowerCase().replace(/ /g, '-') : null;
  };
  return { mapping: word(mappingPart, 'Mapping'), filtering: word(filteringPart, 'Filtering'), out };
}

describe('chatzyo probe on simulated networks (cross-checked with turnutils_natdiscovery)', () => {
  it('no NAT: mapping "none", filtering endpoint-independent, direct calls work with everyone', async () => {
    const [report, coturnSays] = await Promise.all([probe('c-open', ['--server', SERVER_A]), natdiscovery('c-open', '198.51.100.2')]);
    expect(report.stun[0]).toMatchObject({ reachable: true, mapped: { address: '198.51.100.2' }, rfc5780: true });
    expect(report.nat).toMatchObject({ mapping: 'none', filtering: 'endpoint-independent', method: 'rfc5780', confidence: 'high' });
    expect(coturnSays, coturnSays.out).toMatchObject({ mapping: 'none', filtering: 'endpoint-independent' });
    expect(report.verdict).toMatchObject({ level: 'good', code: 'open' });
    expect(report.interfaces?.hostCandidates).toEqual([{ interface: 'eth0', address: '198.51.100.2', family: 4 }]);
    expect(report.ice[0]).toMatchObject({ policy: 'all', connected: true });
    expect(JSON.stringify(report)).not.toContain('CHZ_ERR_PROBE_TIMEOUT'); // no check ran into its deadline (time is measured, not asserted)
  });

  it('plain MASQUERADE: endpoint-independent mapping, address-and-port-dependent filtering, no hairpinning', async () => {
    const [report, coturnSays] = await Promise.all([probe('c-masq', ['--server', SERVER_A]), natdiscovery('c-masq', '198.18.1.2')]);
    expect(report.stun[0]).toMatchObject({ reachable: true, mapped: { address: '198.51.100.18' }, local: { address: '198.18.1.2' } });
    expect(report.nat).toMatchObject({ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', hairpinning: false });
    expect(coturnSays, coturnSays.out).toMatchObject({ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' });
    expect(report.verdict).toMatchObject({ level: 'good', code: 'cone' });
    expect(report.verdict.summary).toMatch(/Direct calls will work with most people/);
    expect(JSON.stringify(report)).not.toContain('CHZ_ERR_PROBE_TIMEOUT'); // no check ran into its deadline (time is measured, not asserted)
  });

  it('MASQUERADE --random-fully: address-and-port-dependent (symmetric) mapping; without TURN the verdict says calls need it', async () => {
    const [report, coturnSays] = await Promise.all([probe('c-sym', ['--server', SERVER_A]), natdiscovery('c-sym', '198.18.2.2')]);
    expect(report.nat).toMatchObject({ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high' });
    expect(coturnSays, coturnSays.out).toMatchObject({ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' });
    expect(report.verdict).toMatchObject({ level: 'poor', code: 'symmetric-no-turn' });
    expect(report.verdict.summary).toMatch(/symmetric NAT.*calls with most people need TURN, and none is configured/);
  });

  it('UDP blocked: no STUN answers; TURN over TCP and TLS still allocates; the verdict says calls go through TURN over TCP', async () => {
    const [report, coturnSays] = await Promise.all([probe('c-blk', ['--server', SERVER_B, '--ca', caFile]), natdiscovery('c-blk', '198.18.3.2')]);
    expect(report.stun[0]).toMatchObject({ reachable: false, error: { code: 'CHZ_ERR_STUN_TIMEOUT' } });
    expect(report.nat).toMatchObject({ udpBlocked: true, mapping: 'unknown', filtering: 'unknown' });
    expect(coturnSays.mapping, coturnSays.out).toBeNull();
    expect(coturnSays.out).toMatch(/timeout/i);
    const t = Object.fromEntries(report.turn.map((r) => [r.transport, r]));
    expect(t.udp).toMatchObject({ status: 'unreachable', error: { code: 'CHZ_ERR_TURN_UNREACHABLE' } });
    expect(t.tcp).toMatchObject({ status: 'ok', relayed: { address: '203.0.113.3' }, mapped: { address: '198.51.100.50' } });
    expect(t.tls).toMatchObject({ status: 'ok', relayed: { address: '203.0.113.3' } });
    expect(report.signal).toMatchObject({ ok: true });
    expect(report.verdict).toMatchObject({ level: 'fair', code: 'udp-blocked-turn-tcp' });
    expect(report.verdict.summary).toMatch(/UDP is blocked.*TURN server over TCP and TLS/);
    expect(t.tcp!.note).toMatch(/UDP to the relay blocked/);
  });
});

describe('without RFC 5780: comparing what two servers see', () => {
  it('two plain STUN servers (ours and coturn\'s) tell a symmetric NAT from MASQUERADE, with medium confidence and no filtering result', async () => {
    const servers = ['--stun', 'stun:203.0.113.2:3490', '--stun', 'stun:203.0.113.3:3478', '--no-ice'];
    const [sym, masq] = await Promise.all([probe('c-sym', servers), probe('c-masq', servers)]);
    for (const r of [sym, masq]) {
      expect(r.stun.map((s) => s.rfc5780)).toEqual([false, false]);
      expect(r.nat).toMatchObject({ method: 'two-server', confidence: 'medium', filtering: 'unknown' });
    }
    expect(sym.nat.mapping).toBe('endpoint-dependent');
    expect(masq.nat.mapping).toBe('endpoint-independent');
    expect(sym.verdict.code).toBe('symmetric-no-turn');
    expect(masq.verdict.code).toBe('cone-filtering-unknown');
  });
});

describe('two peers behind symmetric NATs', () => {
  it('the probe says beforehand that calls need TURN; without TURN the call fails, with coturn it connects over a relay', async () => {
    // Beforehand, on the second symmetric network: without TURN (server A) and with it (server B).
    const [withoutTurn, withTurn] = await Promise.all([probe('c-sym2', ['--server', SERVER_A, '--no-ice']), probe('c-sym2', ['--server', SERVER_B])]);
    expect(withoutTurn.verdict).toMatchObject({ level: 'poor', code: 'symmetric-no-turn' });
    expect(withTurn.nat.mapping).toBe('address-and-port-dependent');
    expect(withTurn.verdict).toMatchObject({ level: 'fair', code: 'symmetric-turn' });
    expect(withTurn.verdict.summary).toMatch(/TURN relay, which works here \(a test call through it connected\)/);
    expect(withTurn.turn.find((t) => t.transport === 'udp')).toMatchObject({ status: 'ok', mapped: { address: '198.51.100.66' } });

    // Without TURN: matched, but no connection (exit code 6).
    const peer = (client: string, server: string, timeoutS: number) => net.cli(`peer in ${client}`, client, [
      'connect', '--server', server, '--room', 'global', '--no-video', '--no-audio', '--json', '--connect-timeout', String(timeoutS),
    ]);
    const a1 = peer('c-sym', SERVER_A, 8);
    const b1 = peer('c-sym2', SERVER_A, 8);
    await Promise.all([a1.waitFor(/"event":"matched"/, 15_000), b1.waitFor(/"event":"matched"/, 15_000)]);
    expect(await a1.exitCode(20_000), a1.stdout).toBe(6);
    expect(await b1.exitCode(20_000), b1.stdout).toBe(6);
    expect(a1.stdout + b1.stdout).not.toMatch(/"event":"connected"/);

    // With coturn announced (server B): the call connects, over a relay candidate. --relay-only,
    // because werift's default policy fails here: its TURN client's ChannelBind/CreatePermission
    // answers fail its MESSAGE-INTEGRITY check and coturn then sees requests with a stale nonce
    // (reported to the peer's owner); the browsers' ICE agents do not need this.
    const relayPeer = (client: string) => net.cli(`relay peer in ${client}`, client, [
      'connect', '--server', SERVER_B, '--room', 'usa', '--no-video', '--no-audio', '--json', '--connect-timeout', '20', '--relay-only',
    ]);
    const a2 = relayPeer('c-sym');
    const b2 = relayPeer('c-sym2');
    const [ca, cb] = await Promise.all([a2.waitFor(/\{"event":"connected".*\}/, 25_000), b2.waitFor(/\{"event":"connected".*\}/, 25_000)]);
    const ja = JSON.parse(ca[0]) as { candidateType: string; localCandidateType: string };
    const jb = JSON.parse(cb[0]) as { candidateType: string; localCandidateType: string };
    expect(ja, ca[0]).toMatchObject({ candidateType: 'relay', localCandidateType: 'relay' });
    expect(jb, cb[0]).toMatchObject({ candidateType: 'relay', localCandidateType: 'relay' });
    await Promise.all([a2.kill(), b2.kill()]);
  });
});

describe('--lifetime (RFC 5780 section 4.6)', () => {
  it('brackets how long the NAT keeps an idle mapping (conntrack UDP timeout set to 3 s on the router)', async () => {
    net.exec('r-masq', ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=3']);
    const report = await probe('c-masq', ['--server', SERVER_A, '--no-ice', '--lifetime', '6']);
    const life = report.nat.lifetime!;
    expect(life.error, JSON.stringify(life)).toBeUndefined();
    expect(life.waitsS).toEqual([1, 2, 3, 5, 6]);
    // Alive after 2 s, gone by 5 s: the 3 s timeout lies in between (the 3 s wait itself is a coin toss).
    expect(life.aliveAfterS, JSON.stringify(life)).toBeGreaterThanOrEqual(2);
    expect(life.goneAfterS, JSON.stringify(life)).toBeLessThanOrEqual(5);
    expect(life.goneAfterS!).toBeGreaterThan(life.aliveAfterS!);
    expect(report.advice.join('\n')).toMatch(new RegExp(`idle UDP mapping within ${life.goneAfterS} s`));
  });
});
