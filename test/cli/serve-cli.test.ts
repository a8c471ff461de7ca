import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { durationArg, durationListArg } from '../../src/cli/parsers.js';
import { withTimeout } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');

function capture() {
  let text = '';
  return { stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream, get text() { return text; } };
}

describe('chatzyo CLI', () => {
  it('--help lists the commands and serve --help shows an example and env vars', async () => {
    const out = capture();
    const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
    await expect(program.parseAsync(['node', 'chatzyo', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    expect(out.text).toMatch(/serve/);
    const out2 = capture();
    const p2 = buildProgram({ out: out2.stream, err: out2.stream }).exitOverride();
    for (const c of p2.commands) c.exitOverride();
    await expect(p2.parseAsync(['node', 'chatzyo', 'serve', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    expect(out2.text).toMatch(/Examples:/);
    expect(out2.text).toMatch(/CHATZYO_PORT/);
  });

  it('rejects a bad --port with a usage error', async () => {
    const out = capture();
    const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
    for (const c of program.commands) c.exitOverride();
    await expect(program.parseAsync(['node', 'chatzyo', 'serve', '--port', 'abc'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(out.text).toMatch(/--port must be an integer/);
  });

  it('--landmark and --region take names and stun: URLs, and say what is wrong with a bad one', async () => {
    for (const [args, why] of [
      [['--landmark', 'chennai'], /give NAME=stun:host:port/],
      [['--landmark', 'chennai=turn:x:1'], /give NAME=stun:host:port/],
      [['--landmark', 'Chennai=stun:x:1'], /landmark names are 1-32 of a-z/],
      [['--landmark', 'a=stun:x:1', '--landmark', 'a=stun:y:1'], /--landmark a: given twice/],
      [['--region', 'North India'], /--region "North India": landmark names/],
      [['--pairing', 'closest'], /Allowed choices are nearby, random/],
    ] as const) {
      const out = capture();
      const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
      for (const c of program.commands) c.exitOverride();
      await expect(program.parseAsync(['node', 'chatzyo', 'serve', ...args])).rejects.toMatchObject({ code: expect.stringMatching(/^commander\.invalid/) });
      expect(out.text, args.join(' ')).toMatch(why);
    }
  });

  it('the safety options take durations and lists of them, and refuse what would let one reporter ban', async () => {
    expect(durationArg('--ban-window')('24h')).toBe(24 * 3_600_000);
    expect(durationArg('--report-min-call')('1500')).toBe(1500);
    expect(durationListArg('--ban-durations')('1h, 24h,7d')).toEqual([3_600_000, 86_400_000, 7 * 86_400_000]);
    expect(durationListArg('--ban-durations')('90s,0.5m')).toEqual([90_000, 30_000]);
    for (const [args, why] of [
      [['--ban-durations', '1h,x'], /--ban-durations must be comma-separated durations/],
      [['--ban-window', 'a day'], /--ban-window must be a duration/],
      [['--ban-after-reports', '1'], /--ban-after-reports must be an integer from 2/],
      [['--screening', 'strict'], /Allowed choices are off, blur-until-safe, flag-only/],
    ] as const) {
      const out = capture();
      const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
      for (const c of program.commands) c.exitOverride();
      await expect(program.parseAsync(['node', 'chatzyo', 'serve', ...args])).rejects.toMatchObject({ code: expect.stringMatching(/^commander\.invalid/) });
      expect(out.text, args.join(' ')).toMatch(why);
    }
  });

  it('the real binary announces --region and --landmark in welcome; --pairing random announces none', async () => {
    for (const [extra, want] of [
      [['--region', 'chennai', '--landmark', 'london=stun:198.51.100.7:3478'], ['chennai', 'london']],
      [['--pairing', 'random'], undefined],
    ] as const) {
      const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--stun-port', '0', '--host', '127.0.0.1', '--json', '--log-level', 'silent', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        const first = await withTimeout(new Promise<string>((resolve) => {
          const check = () => { const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); };
          child.stdout.on('data', check);
          check();
        }), 15_000, 'listening line');
        const c = await TestClient.connect(JSON.parse(first).url.replace('http', 'ws') + '/ws');
        const w = c.raw.map((r) => JSON.parse(r) as { type: string; landmarks?: { name: string }[] }).find((m) => m.type === 'welcome')!;
        expect(w.landmarks?.map((l) => l.name)).toEqual(want);
        await c.close();
      } finally {
        child.kill('SIGTERM');
        await withTimeout(exited, 10_000, 'exit after SIGTERM');
      }
    }
  }, 40_000);

  it('the real binary serves on port 0, prints a JSON listening line, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--stun-port', '0', '--host', '127.0.0.1', '--json', '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const first = await withTimeout(new Promise<string>((resolve, reject) => {
        const check = () => { const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); };
        child.stdout.on('data', check);
        child.on('exit', () => reject(new Error(`exited early: ${err}`)));
      }), 15_000, 'listening line');
      const ev = JSON.parse(first);
      expect(ev).toMatchObject({ event: 'listening' });
      expect(ev.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ev.stunPort).toBeGreaterThan(0);
      const c = await TestClient.connect(ev.url.replace('http', 'ws') + '/ws');
      const health = await (await fetch(`${ev.url}/healthz`)).json();
      expect(health.clients).toBe(1);
      child.kill('SIGTERM');
      await c.error('CHZ_ERR_SERVER_SHUTDOWN');
      expect(await withTimeout(exited, 10_000, 'exit after SIGTERM')).toBe(0);
      expect(out).toMatch(/"event":"closed"/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reads options from environment variables', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHATZYO_PORT: '0', CHATZYO_HOST: '127.0.0.1', CHATZYO_NO_STUN: '1', CHATZYO_HUBS: 'alpha,beta', CHATZYO_LOG_LEVEL: 'silent' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await withTimeout(new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('\n') && resolve())), 15_000, 'listening');
      const ev = JSON.parse(out.split('\n')[0]!);
      expect(ev.stunPort).toBeNull();
      const hubs = (await (await fetch(`${ev.url}/api/hubs`)).json()).hubs.map((h: { name: string }) => h.name);
      expect(hubs).toEqual(['alpha', 'beta']);
      child.kill('SIGINT');
      await withTimeout(exited, 10_000, 'exit');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
