// The ink view: spinners for running checks, results as they finish, then the verdict; and
// the plain-text form used without a TTY.
import React from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { ProbeView } from '../../src/cli/probe-view.js';
import { reportText } from '../../src/cli/probe-text.js';
import type { ProbeProgress } from '../../src/probe/probe.js';
import type { ProbeReport } from '../../src/probe/report.js';

const running: ProbeProgress = {
  checks: { signal: 'done', interfaces: 'done', stun: 'running', nat: 'pending', turn: 'running', ice: 'skipped' },
  signal: { url: 'ws://203.0.113.1:8080/ws', ok: true, connectMs: 3.2, welcomeMs: 1.1, rttMs: { min: 1, p50: 1.5, p95: 2.5, max: 3, samples: 10 }, turnAnnounced: false, iceServerUrls: ['stun:203.0.113.1:3478'] },
  interfaces: {
    interfaces: [
      { name: 'eth0', address: '198.18.1.2', family: 4, internal: false, hostCandidate: true },
      { name: 'lo', address: '127.0.0.1', family: 4, internal: true, hostCandidate: false, excluded: 'loopback' },
    ],
    hostCandidates: [{ interface: 'eth0', address: '198.18.1.2', family: 4 }],
  },
  stun: [], nat: null, turn: [], ice: [],
};

const finished: ProbeProgress = {
  ...running,
  checks: { signal: 'done', interfaces: 'done', stun: 'done', nat: 'done', turn: 'skipped', ice: 'done' },
  stun: [{
    url: 'stun:203.0.113.1:3478', host: '203.0.113.1', port: 3478, address: '203.0.113.1', reachable: true, rttMs: { min: 0.4, median: 0.5, max: 0.9, samples: 5 },
    mapped: { address: '198.51.100.18', port: 61000 }, local: { address: '198.18.1.2', port: 40000 }, otherAddress: { address: '203.0.113.2', port: 3479 }, rfc5780: true,
  }],
  nat: {
    mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', method: 'rfc5780', confidence: 'high', server: 'stun:203.0.113.1:3478',
    mapped: { address: '198.51.100.18', port: 61000 }, udpBlocked: false, hairpinning: false, lifetime: null, notes: [],
  },
  ice: [{ policy: 'all', connected: true, ms: 250, localCandidateType: 'host', remoteCandidateType: 'host', gathered: { host: 1, srflx: 1 } }],
};

const report: ProbeReport = {
  version: 1, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1234, checkMs: {}, server: 'http://203.0.113.1:8080', interfaces: finished.interfaces,
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
    expect(f).toMatch(/call: connected in 250 ms over host <-> host/);
    expect(f).toMatch(/You are behind a symmetric NAT.*calls need TURN, and none is configured/);
    expect(f).toMatch(/• Configure a TURN server/);
    expect(f).toMatch(/probe took 1\.2 s/);
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
});
