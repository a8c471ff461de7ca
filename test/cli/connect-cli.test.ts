import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { jsonLine, sessionOptions, targetFor } from '../../src/cli/connect.js';
import { withTimeout } from '../helpers/deadline.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');

function capture() {
  let text = '';
  return { stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream, get text() { return text; } };
}

async function parse(args: string[]): Promise<{ error: unknown; text: string }> {
  const out = capture();
  const program = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(['node', 'chatzyo', ...args]);
    return { error: null, text: out.text };
  } catch (error) {
    return { error, text: out.text };
  }
}

describe('chatzyo connect options', () => {
  it('--help shows the options, examples, JSON events and exit codes', async () => {
    const { error, text } = await parse(['connect', '--help']);
    expect(error).toMatchObject({ exitCode: 0 });
    for (const s of ['--room <hub>', '--private <code>', '--create-private', '--video <source>', '--no-video', '--codec <codec>', '--record <file.webm>',
      '--say <text>', '--next-after <seconds>', '--duration <seconds>', '--max-partners <n>', '--relay-only', '--connect-timeout <seconds>', 'CHATZYO_SERVER']) {
      expect(text).toContain(s);
    }
    expect(text).toMatch(/Examples:\n {2}\$ chatzyo connect --room tamil/);
    expect(text).toMatch(/3 server unreachable \(or its TLS certificate\s+not accepted: CHZ_ERR_TLS_UNTRUSTED, with a hint\), 4 ffmpeg missing/);
  });

  it('refuses bad values with usage errors', async () => {
    expect((await parse(['connect', '--room', 'tamil', '--width', '333'])).text).toMatch(/--width must be an even number/);
    expect((await parse(['connect', '--room', 'tamil', '--codec', 'vp9'])).text).toMatch(/Allowed choices are vp8, h264/);
    const rec = await parse(['connect', '--room', 'tamil', '--record', 'out.mp4']);
    expect(rec.error).toMatchObject({ exitCode: 2 });
    expect(rec.text).toMatch(/--record writes webm/);
    const both = await parse(['connect', '--room', 'tamil', '--create-private']);
    expect(both.error).toMatchObject({ exitCode: 2 });
    expect((await parse(['connect', '--room', 'Tamil!'])).text).toMatch(/not a hub name/);
  });

  it('maps options to the peer session: sources, codec, target, private links', () => {
    const base = {
      server: 'http://localhost:8080', video: 'camera:/dev/video1', audio: false as const, codec: 'h264' as const, width: 320, height: 240, fps: 15,
      videoBitrate: 300, audioBitrate: 32, keyframeInterval: 2, json: true, connectTimeout: 3, room: 'usa', interests: ['music'],
    };
    const o = sessionOptions(base);
    expect(o).toMatchObject({
      target: { kind: 'hub', hub: 'usa', interests: ['music'] }, video: { type: 'camera', device: '/dev/video1' }, audio: null,
      encode: { codec: 'h264', width: 320, height: 240, fps: 15, bitrateKbps: 300, keyframeIntervalS: 2 }, connectTimeoutMs: 3000,
    });
    const code = 'AbCdEfGhIjKlMnOpQrStUv';
    expect(targetFor({ private: `http://localhost:8080/#/call/${code}` })).toEqual({ kind: 'private-join', code });
    expect(targetFor({ createPrivate: true })).toEqual({ kind: 'private-create' });
    expect(jsonLine('private-created', { code, expiresAt: 5 }, 'http://h:1/')).toEqual({ event: 'private-created', code, link: `http://h:1/#/call/${code}`, expiresAt: 5 });
    expect(jsonLine('chat', { matchId: 'm', text: 'hi' }, '')).toEqual({ event: 'chat', from: 'partner', text: 'hi', matchId: 'm' });
    expect(jsonLine('state', 'queued', '')).toBeNull();
  });

  it('-4 / -6 choose one IP family for the session; both at once is a usage error', async () => {
    const both = await parse(['connect', '--room', 'tamil', '-4', '-6']);
    expect(both.error).toMatchObject({ code: 'commander.conflictingOption' });
    expect(both.text).toMatch(/option '-4, --ipv4' cannot be used with option '-6, --ipv6'/);
    const base = { server: 'http://[2001:db8::1]:8080', room: 'global', video: false as const, audio: false as const, codec: 'vp8' as const, width: 320, height: 240, fps: 15, videoBitrate: 300, audioBitrate: 32, keyframeInterval: 1, json: true };
    expect(sessionOptions({ ...base, ipFamily: 6 }).ipFamily).toBe(6);
    expect(sessionOptions(base).ipFamily).toBeUndefined();
    expect((await parse(['connect', '--help'])).text).toMatch(/-6, --ipv6 +use IPv6 only/);
  });

  it('the real binary prints connect --help and exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'connect', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await withTimeout(new Promise<number | null>((r) => child.once('exit', r)), 15_000, 'chatzyo connect --help');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/Usage: chatzyo connect \[options\]/);
  });
});
