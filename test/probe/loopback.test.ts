// `chatzyo probe` against a real loopback setup: our server with RFC 5780 STUN on 127.0.0.1
// and 127.0.0.2 (both loopback on Linux), and coturn with UDP, TCP and TLS. Checks the JSON
// document's shape and values, that no check runs into its deadline, and that bad credentials, an unreachable
// server, a port that does not speak TLS and an untrusted certificate are told apart.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe, type ProbeCliOptions } from '../../src/cli/probe.js';
import type { ProbeReport } from '../../src/probe/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { freeUdpPort } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { capture, makeCert, startTestCoturn, type TestCoturn } from './helpers.js';

let coturn: TestCoturn;
let server: SignalServer;
let cert: ReturnType<typeof makeCert>;
let caFile: string;

beforeAll(async () => {
  cert = makeCert('127.0.0.1');
  caFile = path.join(cert.dir, 'ca.pem');
  writeFileSync(caFile, cert.pem);
  coturn = await startTestCoturn({ ip: '127.0.0.1', port: await freeUdpPort(), tlsPort: await freeUdpPort(), tls: cert, allowLoopbackPeers: true });
  server = await startServer({
    stunAddress: '127.0.0.1', stunAltAddress: '127.0.0.2',
    turnUrls: [`turn:127.0.0.1:${coturn.port}?transport=udp`, `turn:127.0.0.1:${coturn.port}?transport=tcp`, `turns:127.0.0.1:${coturn.tlsPort}?transport=tcp`],
    turnSecret: coturn.secret,
  });
});
afterAll(async () => {
  await server?.close();
  await coturn?.stop();
  cert?.remove();
});

async function probeJson(args: Omit<ProbeCliOptions, 'json'>, deps: Parameters<typeof runProbe>[2] = {}): Promise<{ report: ProbeReport; printed: ProbeReport }> {
  const out = capture();
  const err = capture();
  const report = await withTimeout(runProbe({ ...args, json: true }, { out: out.stream, err: err.stream, tty: false }, deps), 20_000, 'probe');
  expect(err.text()).toBe('');
  return { report, printed: JSON.parse(out.text()) as ProbeReport };
}

describe('chatzyo probe --json against a loopback server and coturn', () => {
  it('reports every check, classifies "no NAT" by RFC 5780, allocates on UDP, TCP and TLS, and no check runs into its deadline', async () => {
    const { report, printed } = await probeJson({ server: server.url, ca: caFile });
    expect(printed).toEqual(JSON.parse(JSON.stringify(report)));
    expect(Object.keys(printed)).toEqual(expect.arrayContaining(['stun', 'nat', 'turn', 'signal', 'ice', 'verdict', 'advice']));
    // How long the probe takes is measured, not asserted (a loaded CI box is slower): no check may have hit its deadline.
    expect(JSON.stringify(report)).not.toContain('CHZ_ERR_PROBE_TIMEOUT');
    expect(report.durationMs).toBeGreaterThan(0);

    // STUN: the built-in responder, as the welcome announced it.
    expect(report.stun).toHaveLength(1);
    const stun = report.stun[0]!;
    expect(stun).toMatchObject({ url: `stun:127.0.0.1:${server.stunPort}`, reachable: true, rfc5780: true, otherAddress: { address: '127.0.0.2', port: server.stunAltPort } });
    expect(stun.mapped).toEqual(stun.local);
    expect(stun.rttMs!.samples).toBe(5);
    expect(stun.rttMs!.min).toBeLessThanOrEqual(stun.rttMs!.median);
    expect(stun.rttMs!.median).toBeLessThanOrEqual(stun.rttMs!.max);

    // NAT: none on loopback; replies from the other address and port get in.
    expect(report.nat).toMatchObject({ mapping: 'none', filtering: 'endpoint-independent', method: 'rfc5780', confidence: 'high', udpBlocked: false, hairpinning: null });

    // TURN: one row per transport, all allocated on 127.0.0.1, with a round trip through the relay.
    const byTransport = Object.fromEntries(report.turn.map((t) => [t.transport, t]));
    expect(Object.keys(byTransport).sort()).toEqual(['tcp', 'tls', 'udp']);
    for (const t of report.turn) {
      expect(t, t.transport).toMatchObject({ status: 'ok', relayed: { address: '127.0.0.1' }, lifetimeSeconds: expect.any(Number) });
      expect(t.allocateMs, t.transport).toBeGreaterThan(0);
      expect(t.relayRttMs, `${t.transport}: ${t.note}`).toBeGreaterThan(0);
    }

    // Signaling.
    expect(report.signal).toMatchObject({ ok: true, url: `${server.url.replace('http', 'ws')}/ws`, turnAnnounced: true });
    expect(report.signal!.connectMs).toBeGreaterThan(0);
    expect(report.signal!.rttMs).toMatchObject({ samples: 10 });
    expect(report.signal!.rttMs!.p50).toBeLessThanOrEqual(report.signal!.rttMs!.p95);

    // End to end: a normal call and a relay-only call through coturn.
    const all = report.ice.find((i) => i.policy === 'all')!;
    const relay = report.ice.find((i) => i.policy === 'relay')!;
    expect(all, JSON.stringify(all)).toMatchObject({ connected: true });
    expect(relay, JSON.stringify(relay)).toMatchObject({ connected: true, localCandidateType: 'relay' });
    expect(relay.gathered.relay).toBeGreaterThan(0);

    // The uplink test: a relayed call through coturn (UDP), with the TURN credentials of the welcome, ramping its rate over loopback.
    expect(report.uplink, JSON.stringify(report.uplink)).toMatchObject({ status: 'measured', server: `turn:127.0.0.1:${coturn.port}?transport=udp` });
    expect(report.uplink!.upKbps!).toBeGreaterThan(1000);
    expect(report.advice.join('\n')).toMatch(/Your upload sustains (about|at least) \d+ kbit\/s/);

    expect(report.verdict).toMatchObject({ level: 'good', code: 'open' });
    // TLS works, so no advice to add a turns: URL.
    expect(report.advice.join('\n')).not.toMatch(/Add a turns: URL/);
  });

  it('tells bad credentials, an unreachable server, a port without TLS and an untrusted certificate apart', async () => {
    const dead = await freeUdpPort();
    const { report } = await probeJson({
      stun: [`stun:127.0.0.1:${server.stunPort}`],
      turn: [
        `turn:127.0.0.1:${coturn.port}?transport=udp`,
        `turn:127.0.0.1:${dead}?transport=udp`,
        `turn:127.0.0.1:${dead}?transport=tcp`,
        `turns:127.0.0.1:${coturn.port}?transport=tcp`,
        `turns:127.0.0.1:${coturn.tlsPort}?transport=tcp`,
      ],
      turnUser: 'someone', turnPass: 'wrong', ice: false,
    }, { probe: { timeouts: { turn: 800 } } });
    const row = (port: number, transport: string) => report.turn.find((t) => t.port === port && t.transport === transport);
    expect(row(coturn.port, 'udp')).toMatchObject({ status: 'auth-failed', error: { code: 'CHZ_ERR_TURN_AUTH' } });
    expect(row(dead, 'udp')).toMatchObject({ status: 'unreachable', error: { code: 'CHZ_ERR_TURN_UNREACHABLE' } });
    expect(row(dead, 'tcp')).toMatchObject({ status: 'unreachable', error: { code: 'CHZ_ERR_TURN_UNREACHABLE', message: expect.stringMatching(/ECONNREFUSED/) } });
    expect(row(coturn.port, 'tls')).toMatchObject({ status: 'tls-error', error: { code: 'CHZ_ERR_TURN_TLS' } });
    // No --ca: the self-signed certificate is not trusted, as a browser would not trust it.
    expect(row(coturn.tlsPort!, 'tls')).toMatchObject({ status: 'tls-error', error: { code: 'CHZ_ERR_TURN_TLS', message: expect.stringMatching(/self.signed/i) } });
    // With the CA, the credentials are what fails.
    const { report: withCa } = await probeJson({ turn: [`turns:127.0.0.1:${coturn.tlsPort}?transport=tcp`], turnUser: 'someone', turnPass: 'wrong', ca: caFile, ice: false });
    expect(withCa.turn.find((t) => t.transport === 'tls')).toMatchObject({ status: 'auth-failed' });
    expect(report.advice.join('\n')).toMatch(/check --turn-user and --turn-pass/);
  });

  it('a dead server ends in a verdict within the signaling deadline, not a hang', async () => {
    const gone = await startServer();
    const url = gone.url;
    await gone.close();
    // A hang would run into the test's own deadline; the verdict must name the refusal, not a timeout.
    const { report } = await withTimeout(probeJson({ server: url }), 20_000, 'the probe against a dead server finished');
    expect(report.signal).toMatchObject({ ok: false, error: { code: 'CHZ_ERR_SERVER_UNREACHABLE' } });
    expect(report.verdict).toMatchObject({ level: 'poor', code: 'server-unreachable' });
    expect(report.ice).toEqual([]);
  });

  it('a STUN URL that does not parse is a usage error (exit code 2)', async () => {
    const out = capture();
    await expect(runProbe({ stun: ['stun:'], json: true }, { out: out.stream, err: out.stream, tty: false })).rejects.toMatchObject({ code: 'CHZ_ERR_USAGE', exitCode: 2 });
    await expect(runProbe({ json: true }, { out: out.stream, err: out.stream, tty: false })).rejects.toMatchObject({ code: 'CHZ_ERR_USAGE', exitCode: 2 });
  });
});
