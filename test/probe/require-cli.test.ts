// `chatzyo probe --require direct|relay|any` through the real binary against a real loopback
// server (and coturn): exit 0 when calls of that kind will work, 1 with the reason on stderr
// when they will not, 3 when it could not be measured, 2 for a usage error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { CliProcess } from '../cli/cli-process.js';
import { freeUdpPort } from '../helpers/coturn.js';
import { startServer } from '../helpers/server.js';
import { startTestCoturn, type TestCoturn } from './helpers.js';

let plain: SignalServer;
let withTurn: SignalServer;
let coturn: TestCoturn;
const running: CliProcess[] = [];

beforeAll(async () => {
  coturn = await startTestCoturn({ ip: '127.0.0.1', port: await freeUdpPort(), allowLoopbackPeers: true });
  // No --stun-alt-address and no TURN: the NAT filtering cannot be measured, relayed calls cannot work.
  plain = await startServer();
  withTurn = await startServer({ turnUrls: [`turn:127.0.0.1:${coturn.port}?transport=udp`], turnSecret: coturn.secret });
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  await plain?.close();
  await withTurn?.close();
  await coturn?.stop();
});

async function probe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new CliProcess('chatzyo probe', ['probe', ...args]);
  running.push(p);
  const code = await p.exitCode(30_000);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

describe('chatzyo probe --require (real binary, loopback server)', () => {
  it('--require direct passes (exit 0) on loopback: no NAT; it says the filtering is unknown rather than assuming it', async () => {
    const r = await probe(['--server', plain.url, '--require', 'direct', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { nat: { mapping: string; filtering: string }; verdict: { code: string; summary: string } };
    expect(report.nat).toMatchObject({ mapping: 'none', filtering: 'unknown' });
    expect(report.verdict.code).toBe('open-filtering-unknown');
    expect(report.verdict.summary).not.toMatch(/firewall/);
    expect(r.stderr).toMatch(/^chatzyo: --require direct: direct calls will work here: there is no NAT, so direct calls work with most people, and a test call connected; NAT filtering is unknown.*--stun-alt-address/m);
  });

  it('--require relay fails (exit 1) against a server that announces no TURN, with the reason on stderr', async () => {
    const r = await probe(['--server', plain.url, '--require', 'relay', '--no-ice']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^Verdict: /m);
    expect(r.stderr).toMatch(/^chatzyo: --require relay: calls through a TURN relay will not work here: no TURN server is configured.* \[CHZ_ERR_PROBE_REQUIREMENT_UNMET\]$/m);
  });

  it('--require relay and --require any pass (exit 0) when the server announces a working coturn', async () => {
    const relay = await probe(['--server', withTurn.url, '--require', 'relay', '--json']);
    expect(relay.code, relay.stderr).toBe(0);
    expect(relay.stderr).toMatch(/--require relay: calls through a TURN relay will work here: a TURN allocation over UDP worked, and a relay-only test call connected/);
    const any = await probe(['--server', withTurn.url, '--require', 'any', '--json', '--no-ice']);
    expect(any.code, any.stderr).toBe(0);
  });

  it('exits 3 when it could not be measured: a STUN server that does not resolve leaves the NAT unknown', async () => {
    const r = await probe(['--stun', 'stun:no-such-host.invalid:3478', '--require', 'direct', '--no-ice']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/--require direct: whether direct calls will work here could not be measured: no STUN server could be used.* \[CHZ_ERR_PROBE_REQUIREMENT_UNKNOWN\]/);
  });

  it('an unknown kind is a usage error (exit 2) naming the choices', async () => {
    const r = await probe(['--server', plain.url, '--require', 'sometimes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/argument 'sometimes' is invalid\. Allowed choices are direct, relay, any/);
  });
});
