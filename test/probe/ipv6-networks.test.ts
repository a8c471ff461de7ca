// IPv6 on real simulated networks: network namespaces joined by veth pairs through a router
// namespace, with IPv6 addresses from the documentation prefix 2001:db8::/32 only. Two client
// namespaces have no IPv4 at all (not even 127.0.0.1), one is dual-stack (198.51.100.0/24);
// the server namespace runs `chatzyo serve --host ::` (HTTP, WebSocket and STUN on both
// families, even with net.ipv6.bindv6only=1 there) and a second server on its IPv4 address only. Each client's /etc/hosts gives the
// names DNS would: chatzyo.example (A and AAAA), v4only.chatzyo.example (A only) and
// v6broken.chatzyo.example (A and AAAA, but that server listens on IPv4 only).
//
//   [v6a] 2001:db8:0:2::2            ---+
//   [v6b] 2001:db8:0:3::2            ---+-- [rtr] --- [srv] 2001:db8:0:1::2, 203.0.113.18
//   [dual] 2001:db8:0:4::2, 198.51.100.2 -+            :8080 serve --host ::
//                                                      :8081 serve --host 203.0.113.18
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/probe/index.js';
import { requireRoot, TestNetwork, type NsProcess } from './netns.js';

const SERVER_V6 = '2001:db8:0:1::2';
const SERVER_V4 = '203.0.113.18';
const BY_LITERAL = `http://[${SERVER_V6}]:8080`;
const BY_NAME = 'http://chatzyo.example:8080';

let net: TestNetwork;

beforeAll(async () => {
  requireRoot();
  TestNetwork.reapStale();
  net = new TestNetwork();
  net.addNamespace('rtr', { forward: true });
  net.addNamespace('srv');
  net.addNamespace('v6a', { noIpv4: true });
  net.addNamespace('v6b', { noIpv4: true });
  net.addNamespace('dual');
  net.link({ ns: 'rtr', dev: 's0', addr: ['2001:db8:0:1::1/64', '203.0.113.17/28'] }, { ns: 'srv', dev: 'eth0', addr: [`${SERVER_V6}/64`, `${SERVER_V4}/28`] });
  net.link({ ns: 'rtr', dev: 'a0', addr: '2001:db8:0:2::1/64' }, { ns: 'v6a', dev: 'eth0', addr: '2001:db8:0:2::2/64' });
  net.link({ ns: 'rtr', dev: 'b0', addr: '2001:db8:0:3::1/64' }, { ns: 'v6b', dev: 'eth0', addr: '2001:db8:0:3::2/64' });
  net.link({ ns: 'rtr', dev: 'd0', addr: ['2001:db8:0:4::1/64', '198.51.100.1/28'] }, { ns: 'dual', dev: 'eth0', addr: ['2001:db8:0:4::2/64', '198.51.100.2/28'] });
  net.defaultRoute('srv', '2001:db8:0:1::1');
  net.defaultRoute('srv', '203.0.113.17');
  net.defaultRoute('v6a', '2001:db8:0:2::1');
  net.defaultRoute('v6b', '2001:db8:0:3::1');
  net.defaultRoute('dual', '2001:db8:0:4::1');
  net.defaultRoute('dual', '198.51.100.1');
  for (const c of ['v6a', 'v6b', 'dual']) {
    net.hosts(c, [
      [SERVER_V4, 'chatzyo.example'], [SERVER_V6, 'chatzyo.example'], [SERVER_V4, 'v4only.chatzyo.example'],
      [SERVER_V4, 'v6broken.chatzyo.example'], [SERVER_V6, 'v6broken.chatzyo.example'],
    ]);
  }
  // Here a socket on :: takes IPv6 only unless it asks otherwise (as on some BSDs): the
  // server must serve IPv4 clients all the same (its STUN responder binds an IPv4 socket too).
  net.exec('srv', ['sysctl', '-qw', 'net.ipv6.bindv6only=1']);
  const server = net.cli('server', 'srv', ['serve', '--host', '::', '--port', '8080', '--stun-port', '3478', '--log-level', 'silent', '--json']);
  const v4server = net.cli('IPv4-only server', 'srv', ['serve', '--host', SERVER_V4, '--port', '8081', '--stun-port', '3479', '--log-level', 'silent', '--json']);
  await Promise.all([server.waitFor(/"event":"listening"/, 20_000), v4server.waitFor(/"event":"listening"/, 20_000)]);
}, 60_000);

afterAll(async () => {
  if (net) {
    await net.destroy();
    expect(net.leftovers()).toEqual([]);
  }
}, 30_000);

/** `chatzyo connect --json` inside a namespace, without media. */
function peer(client: string, args: string[]): NsProcess {
  return net.cli(`peer in ${client}`, client, ['connect', '--no-video', '--no-audio', '--json', '--connect-timeout', '15', ...args]);
}

/** The `connected` line of a peer. */
async function connected(p: NsProcess): Promise<{ candidateType: string; localCandidateType: string; ipFamily: number }> {
  const m = await p.waitFor(/\{"event":"connected".*\}/, 25_000);
  return JSON.parse(m[0]) as { candidateType: string; localCandidateType: string; ipFamily: number };
}

describe('calls on IPv6-only networks (2001:db8::/32)', () => {
  it('two peers with no IPv4 at all connect through a server on --host ::, over IPv6 host candidates', async () => {
    // One names the server by its IPv6 literal, the other by a name that also has an A record.
    const a = peer('v6a', ['--server', BY_LITERAL, '--room', 'global']);
    const b = peer('v6b', ['--server', BY_NAME, '--room', 'global']);
    const [ca, cb] = await Promise.all([connected(a), connected(b)]);
    // Host to host; the partner's host address may carry the name peer-reflexive (see below).
    for (const c of [ca, cb]) {
      expect(c).toMatchObject({ ipFamily: 6, localCandidateType: 'host' });
      expect(['host', 'prflx']).toContain(c.candidateType);
    }
    await Promise.all([a.kill(), b.kill()]);
  });

  it('a dual-stack peer calls an IPv6-only one over IPv6', async () => {
    const a = peer('dual', ['--server', BY_NAME, '--room', 'usa']);
    const b = peer('v6a', ['--server', BY_NAME, '--room', 'usa']);
    const [ca, cb] = await Promise.all([connected(a), connected(b)]);
    // Direct over IPv6. The partner's address may be learned from its first connectivity check
    // before its signaled host candidate arrives: then it is peer-reflexive (RFC 8445 section
    // 7.2.5.3.1), the same host address by another name (a CI run saw it). Never a relay.
    for (const c of [ca, cb]) {
      expect(c).toMatchObject({ ipFamily: 6, localCandidateType: 'host' });
      expect(['host', 'prflx']).toContain(c.candidateType);
    }
    await Promise.all([a.kill(), b.kill()]);
  });

  it('two dual-stack peers: -6 keeps their call on IPv6, -4 on IPv4', async () => {
    for (const [flag, family, room] of [['-6', 6, 'uk'], ['-4', 4, 'hindi']] as const) {
      const a = peer('dual', ['--server', BY_NAME, '--room', room, flag]);
      const b = peer('dual', ['--server', BY_NAME, '--room', room, flag]);
      const [ca, cb] = await Promise.all([connected(a), connected(b)]);
      // Direct, ours a host candidate; the partner's peer-reflexive when its first check came
      // before its signaled candidate (as above: CI run 56 saw it under -4). Never a relay.
      for (const c of [ca, cb]) {
        expect(c, flag).toMatchObject({ ipFamily: family, localCandidateType: 'host' });
        expect(['host', 'prflx'], flag).toContain(c.candidateType);
      }
      await Promise.all([a.kill(), b.kill()]);
    }
  });
});

/** Runs `chatzyo probe` inside a namespace: the report with --json, else the text. */
async function probe(client: string, args: string[]): Promise<{ report: ProbeReport | null; text: string }> {
  const p = net.cli(`probe in ${client}`, client, ['probe', ...args]);
  const code = await p.exitCode(30_000);
  expect(code, p.stderr).toBe(0);
  return args.includes('--json') ? { report: JSON.parse(p.stdout) as ProbeReport, text: p.stdout } : { report: null, text: p.stdout };
}

describe('chatzyo probe: IPv4 and IPv6 reachability', () => {
  it('IPv6-only: the server and STUN answer over IPv6, IPv4 has no route, the network is called IPv6-only and a test call connects over IPv6', async () => {
    const { report: r } = await probe('v6a', ['--server', BY_NAME, '--json']);
    expect(r!.ip).toMatchObject({
      ipv6Only: true,
      ipv4: { addresses: [], signal: { status: 'no-route', address: SERVER_V4 }, stun: { status: 'no-route', address: SERVER_V4 } },
      ipv6: {
        addresses: ['2001:db8:0:2::2'], global: true,
        signal: { status: 'ok', address: SERVER_V6 }, stun: { status: 'ok', address: SERVER_V6, mapped: { address: '2001:db8:0:2::2' } },
      },
    });
    // The name's A record comes first, but there is no route to it: the checks use the AAAA one.
    expect(r!.signal).toMatchObject({ ok: true });
    expect(r!.stun[0]).toMatchObject({ reachable: true, address: SERVER_V6, mapped: { address: '2001:db8:0:2::2' } });
    expect(r!.nat).toMatchObject({ udpBlocked: false, mapping: 'none' });
    expect(r!.interfaces!.hostCandidates).toEqual([{ interface: 'eth0', address: '2001:db8:0:2::2', family: 6 }]);
    expect(r!.ice[0]).toMatchObject({ policy: 'all', connected: true, ipFamily: 6 });
    expect(r!.verdict).toMatchObject({ level: 'poor', code: 'ipv6-only' });
    expect(r!.verdict.summary).toMatch(/This network is IPv6-only .*partners who have IPv6/);
    expect(r!.advice.join('\n')).toMatch(/relays to IPv4/);
  });

  it('IPv6-only, as text: the IPv4 and IPv6 section and the verdict say it', async () => {
    const { text } = await probe('v6a', ['--server', BY_LITERAL, '--no-ice']);
    expect(text).toMatch(/IPv4 and IPv6\n {2}! IPv4: no address on any interface\n/);
    expect(text).toMatch(/\+ IPv6: 2001:db8:0:2::2 \(global\)/);
    expect(text).toMatch(/\+ IPv6 to the server: \[2001:db8:0:1::2\] answered in/);
    expect(text).toMatch(/- IPv4 to the server: not tested \(http:\/\/\[2001:db8:0:1::2\]:8080 names an IPv6 address\)/);
    expect(text).toMatch(/! This network is IPv6-only/);
    expect(text).toMatch(/Verdict: This network is IPv6-only/);
  });

  it('dual stack: both families reach the server and STUN, each with its own public address; not IPv6-only', async () => {
    const { report: r } = await probe('dual', ['--server', BY_NAME, '--json', '--no-ice']);
    expect(r!.ip).toMatchObject({
      ipv6Only: false,
      ipv4: { addresses: ['198.51.100.2'], signal: { status: 'ok', address: SERVER_V4 }, stun: { status: 'ok', mapped: { address: '198.51.100.2' } } },
      ipv6: { addresses: ['2001:db8:0:4::2'], global: true, signal: { status: 'ok', address: SERVER_V6 }, stun: { status: 'ok', mapped: { address: '2001:db8:0:4::2' } } },
    });
    expect(r!.verdict.code).not.toMatch(/ipv6/);
    expect(r!.advice.join('\n')).not.toMatch(/IPv6|AAAA/);
  });

  it('dual stack, a server that listens on IPv4 only behind a name with an AAAA record: IPv6 fails, and the advice says so', async () => {
    const { report: r } = await probe('dual', ['--server', 'http://v6broken.chatzyo.example:8081', '--json', '--no-ice']);
    expect(r!.ip!.ipv4.signal).toMatchObject({ status: 'ok', address: SERVER_V4 });
    expect(r!.ip!.ipv6.signal).toMatchObject({ status: 'failed', address: SERVER_V6, error: { code: 'CHZ_ERR_SERVER_UNREACHABLE' } });
    expect(r!.advice.join('\n')).toMatch(/The server answers over IPv4 but not over IPv6 \(\[2001:db8:0:1::2\]: .*ECONNREFUSED.*--host ::/);
  });

  it('IPv6-only, a server name without an AAAA record: unreachable, and the advice names the missing record', async () => {
    const { report: r } = await probe('v6a', ['--server', 'http://v4only.chatzyo.example:8081', '--json', '--no-ice']);
    expect(r!.ip).toMatchObject({ ipv6Only: true, ipv4: { signal: { status: 'no-route' } }, ipv6: { signal: { status: 'no-address' } } });
    expect(r!.verdict.code).toBe('server-unreachable');
    expect(r!.advice.join('\n')).toMatch(/no IPv6 address \(no AAAA record\): people on IPv6-only networks cannot reach it, and this is one\./);
  });
});

describe('chatzyo bots on IPv6', () => {
  /** `chatzyo bots --json` inside a namespace: its exit code and summary. */
  async function bots(client: string, args: string[]): Promise<{ code: number | null; summary: Record<string, unknown> }> {
    const p = net.cli(`bots in ${client}`, client, ['bots', '--server', BY_NAME, '--json', ...args]);
    const code = await p.exitCode(60_000);
    return { code, summary: JSON.parse(p.stdout || '{}') as Record<string, unknown> };
  }

  it('media bots on an IPv6-only network call each other; -4 there has no way to the server', async () => {
    const v6 = await bots('v6a', ['--mode', 'media', '--count', '2', '--hold', '2', '--rooms', 'tamil']);
    expect(v6.code, JSON.stringify(v6.summary)).toBe(0);
    expect(v6.summary).toMatchObject({ bots: 2, matched: 2, connected: 2, passed: true });
    const v4 = await bots('v6a', ['--mode', 'signal', '--count', '2', '--rooms', 'tamil', '-4']);
    expect(v4.code).toBe(1);
    expect(v4.summary).toMatchObject({ bots: 2, connected: 0, failed: { signal: 2 } });
  });

  it('-6 on a dual-stack host: media bots gather IPv6 candidates only (with IPv6 UDP dropped they fail in ICE; without -6 they call over IPv4)', async () => {
    const ok = await bots('dual', ['--mode', 'media', '--count', '2', '--hold', '2', '--rooms', 'malayalam', '-6']);
    expect(ok.code, JSON.stringify(ok.summary)).toBe(0);
    expect(ok.summary).toMatchObject({ bots: 2, connected: 2, passed: true });
    // Drop IPv6 UDP in this namespace: signaling (TCP) still works over IPv6, ICE cannot.
    net.exec('dual', ['ip6tables', '-A', 'OUTPUT', '-p', 'udp', '-j', 'DROP']);
    try {
      const v6 = await bots('dual', ['--mode', 'media', '--count', '2', '--rooms', 'uk', '--connect-timeout', '4', '-6']);
      expect(v6.code).toBe(1);
      expect(v6.summary).toMatchObject({ bots: 2, matched: 2, connected: 0 });
      const either = await bots('dual', ['--mode', 'media', '--count', '2', '--hold', '2', '--rooms', 'hindi']);
      expect(either.code, JSON.stringify(either.summary)).toBe(0);
      expect(either.summary).toMatchObject({ bots: 2, connected: 2 });
    } finally {
      net.exec('dual', ['ip6tables', '-D', 'OUTPUT', '-p', 'udp', '-j', 'DROP']);
    }
  });
});
