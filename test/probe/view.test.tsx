// The ink view: spinners for running checks, results as they finish, then the verdict; and
// the plain-text form used without a TTY.
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { ProbeView } from '../../src/cli/probe-view.js';
import { reportText } from '../../src/cli/probe-text.js';
import type { ProbeProgress } from '../../src/probe/probe.js';
import type { IpResult, ProbeReport } from '../../src/probe/report.js';

const running: ProbeProgress = {
  checks: { signal: 'done', interfaces: 'done', ip: 'running', stun: 'running', nat: 'pending', turn: 'running', ice: 'skipped', uplink: 'pending' },
  signal: { url: 'ws://203.0.113.1:8080/ws', ok: true, connectMs: 3.2, welcomeMs: 1.1, rttMs: { min: 1, p50: 1.5, p95: 2.5, max: 3, samples: 10 }, turnAnnounced: false, iceServerUrls: ['stun:203.0.113.1:3478'] },
  interfaces: {
    interfaces: [
      { name: 'eth0', address: '198.18.1.2', family: 4, internal: false, hostCandidate: true },
      { name: 'lo', address: '127.0.0.1', family: 4, internal: true, hostCandidate: false, excluded: 'loopback' },
    ],
    hostCandidates: [{ interface: 'eth0', address: '198.18.1.2', family: 4 }],
  },
  ip: null, stun: [], nat: null, turn: [], ice: [], uplink: null,
};

/** A dual-stack host: both families reach the server (by name) and STUN. */
const dualStack: IpResult = {
  ipv4: {
    family: 4, addresses: ['198.18.1.2'], global: false,
    signal: { status: 'ok', url: 'http://chatzyo.example:8080', address: '203.0.113.1', ms: 4.2 },
    stun: { status: 'ok', url: 'stun:chatzyo.example:3478', address: '203.0.113.1', ms: 0.8, mapped: { address: '198.51.100.18', port: 61000 } },
  },
  ipv6: {
    family: 6, addresses: ['2001:db8:0:2::2'], global: true,
    signal: { status: 'ok', url: 'http://chatzyo.example:8080', address: '2001:db8::1', ms: 3.9 },
    stun: { status: 'ok', url: 'stun:chatzyo.example:3478', address: '2001:db8::1', ms: 0.7, mapped: { address: '2001:db8:0:2::2', port: 40002 } },
  },
  ipv6Only: false,
};

/** An IPv6-only host: the name's A record is there, but no route to it. */
const v6only: IpResult = {
  ipv4: {
    ...dualStack.ipv4, addresses: [],
    signal: { status: 'no-route', url: 'http://chatzyo.example:8080', address: '203.0.113.1', ms: null },
    stun: { status: 'no-route', url: 'stun:chatzyo.example:3478', address: '203.0.113.1', ms: null, mapped: null },
  },
  ipv6: dualStack.ipv6,
  ipv6Only: true,
};

const finished: ProbeProgress = {
  ...running,
  checks: { signal: 'done', interfaces: 'done', ip: 'done', stun: 'done', nat: 'done', turn: 'skipped', ice: 'done', uplink: 'skipped' },
  ip: dualStack,
  stun: [{
    url: 'stun:203.0.113.1:3478', host: '203.0.113.1', port: 3478, address: '203.0.113.1', reachable: true, rttMs: { min: 0.4, median: 0.5, max: 0.9, samples: 5 },
    mapped: { address: '198.51.100.18', port: 61000 }, local: { address: '198.18.1.2', port: 40000 }, otherAddress: { address: '203.0.113.2', port: 3479 }, rfc5780: true,
  }],
  nat: {
    mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', server: 'stun:203.0.113.1:3478',
    mapped: { address: '198.51.100.18', port: 61000 }, udpBlocked: false, hairpinning: false, lifetime: null, notes: [],
  },
  ice: [{ policy: 'all', connected: true, ms: 250, localCandidateType: 'host', remoteCandidateType: 'host', ipFamily: 4, gathered: { host: 1, srflx: 1 } }],
};

const report: ProbeReport = {
  version: 1, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1234, checkMs: {}, server: 'http://203.0.113.1:8080', interfaces: finished.interfaces, ip: dualStack,
  stun: finished.stun, nat: finished.nat!, turn: [], signal: finished.signal, ice: finished.ice,
  verdict: { level: 'poor', code: 'symmetric-no-turn', summary: 'You are behind a symmetric NAT (a new public port for every destination): calls need TURN, and none is configured.' },
  advice: ['Configure a TURN server (coturn) and announce it.'],
};

describe('ProbeView', () => {
  it('shows a spinner on running checks, a circle on pending ones, and finished results', () => {
    const { lastFrame, rerender } = render(<ProbeView progress={running} report={null} frame={0} />);
    const f = lastFrame()!;
    expect(f).toMatch(/⠋ STUN checking…/);
    expect(f).toMatch(/⠋ TURN checking…/);
    expect(f).toMatch(/○ NAT/);
    expect(f).toMatch(/connected in 3\.20 ms, welcome after 1\.10 ms/);
    expect(f).toMatch(/RTT p50 1\.50 ms, p95 2\.50 ms over 10 pings/);
    expect(f).toMatch(/✔ eth0 198\.18\.1\.2 {2}host candidate/);
    expect(f).toMatch(/End to end\n.*skipped/);
    rerender(<ProbeView progress={running} report={null} frame={1} />);
    expect(lastFrame()).toMatch(/⠙ STUN checking…/);
  });

  it('fills in the NAT type, the call and the verdict with advice', () => {
    const { lastFrame } = render(<ProbeView progress={finished} report={report} frame={3} />);
    // Long rows wrap at the terminal width (100 columns here): compare with the wrapping undone.
    const f = lastFrame()!.replace(/\s+/g, ' ');
    expect(f).not.toMatch(/checking…/);
    expect(f).toMatch(/public address 198\.51\.100\.18:61000/);
    expect(f).toMatch(/mapping: address-and-port-dependent \(symmetric/);
    expect(f).toMatch(/method: RFC 5780 CHANGE-REQUEST and OTHER-ADDRESS against stun:203\.0\.113\.1:3478, high confidence/);
    expect(f).toMatch(/hairpinning: no/);
    expect(f).toMatch(/call: connected in 250 ms over host <-> host \(IPv4\)/);
    expect(f).toMatch(/IPv4 and IPv6 ✔ IPv4: 198\.18\.1\.2 ✔ IPv4 to the server: 203\.0\.113\.1 answered in 4\.20 ms/);
    expect(f).toMatch(/✔ IPv6: 2001:db8:0:2::2 \(global\)/);
    expect(f).toMatch(/✔ IPv6 to STUN: \[2001:db8::1\] answered in 0\.70 ms, public address \[2001:db8:0:2::2\]:40002/);
    expect(f).not.toMatch(/IPv6-only/);
    expect(f).toMatch(/You are behind a symmetric NAT.*calls need TURN, and none is configured/);
    expect(f).toMatch(/• Configure a TURN server/);
    expect(f).toMatch(/probe took 1\.2 s/);
  });
});

describe('IPv6-only network', () => {
  it('says so, and why IPv4 was not reached', () => {
    const { lastFrame } = render(<ProbeView progress={{ ...finished, ip: v6only }} report={null} frame={0} />);
    const f = lastFrame()!.replace(/\s+/g, ' ');
    expect(f).toMatch(/! IPv4: no address on any interface/);
    expect(f).toMatch(/! IPv4 to the server: no route to 203\.0\.113\.1/);
    expect(f).toMatch(/✔ IPv6 to the server: \[2001:db8::1\] answered in 3\.90 ms/);
    expect(f).toMatch(/! This network is IPv6-only: no interface has an IPv4 address, so calls offer IPv6 candidates only/);
  });
});

describe('reportText (no TTY)', () => {
  it('prints every section, the verdict and the advice without escape codes', () => {
    const t = reportText(report, finished);
    expect(t).not.toMatch(/\x1b\[/);
    expect(t).toMatch(/^Signaling\n {2}\+ ws:\/\/203\.0\.113\.1:8080\/ws: connected/);
    expect(t).toMatch(/NAT\n {2}x mapping: address-and-port-dependent/);
    expect(t).toMatch(/TURN\n {2}- skipped/);
    expect(t).toMatch(/Verdict: You are behind a symmetric NAT/);
    expect(t).toMatch(/ {2}\* Configure a TURN server/);
  });

  it('the uplink test: the sustained rate, the call\'s numbers and the steps; or why it was skipped', () => {
    const uplink = {
      status: 'measured' as const, server: 'turn:203.0.113.3:3478?transport=udp', upKbps: 297, atLeast: false, rttMs: 88, jitterMs: 16.4, lossPercent: 0, mos: 4.36,
      steps: [
        { offeredKbps: 150, sent: 11, received: 11, receivedKbps: 150, lossPercent: 0, delayGrowthMs: 1, ok: true },
        { offeredKbps: 300, sent: 22, received: 22, receivedKbps: 296, lossPercent: 0, delayGrowthMs: 11.5, ok: true },
        { offeredKbps: 600, sent: 44, received: 26, receivedKbps: 297, lossPercent: 40.9, delayGrowthMs: 285.6, ok: false, why: 'loss' as const },
      ],
    };
    const t = reportText(report, { ...finished, checks: { ...finished.checks, uplink: 'done' }, uplink });
    expect(t).toMatch(/Uplink \(a test call through TURN\)\n {2}! turn:203\.0\.113\.3:3478\?transport=udp: sustains about 297 kbit\/s \(up to the TURN server and back down: the smaller of your upload and download\)/);
    expect(t).toMatch(/ {2}- round trip 88 ms, jitter 16 ms, 0% lost, estimated MOS 4\.4/);
    expect(t).toMatch(/ {2}- steps \(kbit\/s\): 150 ok, 300 ok, 600 no \(40\.9% lost, 297 arrived\)/);
    const skipped = reportText(report, { ...finished, uplink: { ...uplink, status: 'not-measured', upKbps: null, steps: [], note: 'it needs a TURN server, and none is configured' } });
    expect(skipped).toMatch(/Uplink \(a test call through TURN\)\n {2}- skipped: it needs a TURN server, and none is configured/);
  });

  it('an unmeasured mapping or filtering reads "unknown", with how to measure it', () => {
    const unknown = { ...finished, nat: { ...finished.nat!, mapping: 'none' as const, filtering: 'unknown' as const, method: 'single-server' as const, confidence: 'medium' as const } };
    const t = reportText(report, unknown);
    expect(t).toMatch(/! filtering: unknown \(not measured: needs a STUN server with RFC 5780, e\.g\. chatzyo serve --stun-alt-address\)/);
    const noMapping = reportText(report, { ...unknown, nat: { ...unknown.nat, mapping: 'unknown' as const } });
    expect(noMapping).toMatch(/! mapping: unknown \(not measured: .*--stun-alt-address, or two --stun servers\)/);
  });
});
