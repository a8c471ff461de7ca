// `chatzyo bots` as a real process: JSON summary, exit codes 0/1/2, help.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { buildProgram } from '../../src/cli/program.js';
import { CliProcess } from '../cli/cli-process.js';
import { startServer } from '../helpers/server.js';

let server: SignalServer;
const procs: CliProcess[] = [];
beforeAll(async () => { server = await startServer({ maxConnectionsPerAddress: 1000 }); });
afterEach(async () => { await Promise.all(procs.splice(0).map((p) => p.kill())); });
afterAll(async () => { await server?.close(); });

function bots(name: string, args: string[]): CliProcess {
  const p = new CliProcess(name, ['bots', ...args]);
  procs.push(p);
  return p;
}

function capture() {
  let text = '';
  return { stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream, get text() { return text; } };
}

describe('chatzyo bots (the real binary)', () => {
  it('passes with exit code 0 and prints one JSON document with the summary', async () => {
    const p = bots('bots ok', ['--server', server.url, '--count', '10', '--ramp', '100', '--json']);
    expect(await p.exitCode(30_000)).toBe(0);
    const s = JSON.parse(p.stdout) as Record<string, unknown>;
    for (const k of ['bots', 'matched', 'connected', 'failed', 'timeToMatchMs', 'timeToConnectMs', 'timeToFirstMediaMs', 'recvBitrateKbps', 'lossPercent', 'serverErrors', 'cpu', 'memory', 'passed']) {
      expect(s, k).toHaveProperty(k);
    }
    expect(s).toMatchObject({ bots: 10, matched: 10, connected: 10, passed: true, failed: { signal: 0, match: 0, exchange: 0, ice: 0, dtls: 0, media: 0 } });
  });

  it('a threshold that cannot hold gives exit code 1 and names it', async () => {
    // The first bot of each pair waits for the second, which starts 50 ms later: p95 time to match is >= 50 ms.
    const p = bots('bots too strict', ['--server', server.url, '--count', '10', '--ramp', '20', '--max-p95-match-ms', '1', '--json']);
    expect(await p.exitCode(30_000)).toBe(1);
    const s = JSON.parse(p.stdout) as { passed: boolean; thresholds: { name: string; passed: boolean; value: number }[] };
    expect(s.passed).toBe(false);
    const t = s.thresholds.find((x) => x.name === 'max-p95-match-ms')!;
    expect(t.passed).toBe(false);
    expect(t.value).toBeGreaterThanOrEqual(40);
    expect(s.thresholds.find((x) => x.name === 'max-fail-rate')?.passed).toBe(true);
    expect(p.stderr).toMatch(/p95 time to match .* > 1 ms.*CHZ_ERR_BOTS_THRESHOLD/);
  });

  it('prints the summary table without --json', async () => {
    const p = bots('bots text', ['--server', server.url, '--count', '4', '--ramp', '100']);
    expect(await p.exitCode(30_000)).toBe(0);
    expect(p.stdout).toMatch(/time to\s+p50\s+p95\s+p99\s+max\s+count/);
    expect(p.stdout).toMatch(/failed by phase: signal 0 · match 0 · exchange 0/);
    expect(p.stdout).toMatch(/PASSED/);
  });

  it('bad arguments give exit code 2', async () => {
    const cases = [
      ['--mode', 'video'],
      ['--count', '0'],
      ['--next-every', '5'],
      ['--min-bitrate-kbps', '300'],
      ['--max-fail-rate', '150%'],
      ['--server', 'ftp://x'],
      ['--private', '--rooms', 'tamil'],
      ['--relay-only'],
      ['--rooms', 'Not A Hub'],
    ];
    // Parsed in-process (commander errors are what main() turns into exit code 2)...
    for (const args of cases) {
      const out = capture();
      const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
      for (const c of program.commands) c.exitOverride();
      await expect(program.parseAsync(['node', 'chatzyo', 'bots', '--server', server.url, ...args]), args.join(' ')).rejects.toMatchObject({ code: expect.stringMatching(/^commander\./) });
      expect(out.text, args.join(' ')).toMatch(/error/);
    }
    // ...and the real binary exits with 2.
    for (const args of [cases[0]!, cases[2]!]) {
      const p = bots(`bots ${args.join(' ')}`, ['--server', server.url, ...args]);
      expect(await p.exitCode(20_000), args.join(' ')).toBe(2);
      expect(p.stderr, args.join(' ')).toMatch(/error/);
    }
  });

  it('--help shows the options, the thresholds, the exit codes and an example', async () => {
    const out = capture();
    const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
    for (const c of program.commands) c.exitOverride();
    await expect(program.parseAsync(['node', 'chatzyo', 'bots', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    for (const flag of ['--server', '--count', '--mode', '--rooms', '--ramp', '--duration', '--next-every', '--interests', '--private', '--relay-only',
      '--max-fail-rate', '--max-p95-connect-ms', '--max-p95-match-ms', '--min-bitrate-kbps', '--json']) {
      expect(out.text).toContain(flag);
    }
    expect(out.text).toMatch(/Exit codes: 0 .* 1 .* 2 bad arguments/);
    expect(out.text).toMatch(/Examples:/);
    const serveHelp = capture();
    const p2 = buildProgram({ out: serveHelp.stream, err: serveHelp.stream }).exitOverride();
    for (const c of p2.commands) c.exitOverride();
    await expect(p2.parseAsync(['node', 'chatzyo', 'serve', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    expect(serveHelp.text).toContain('--demo-bots');
  });
});
