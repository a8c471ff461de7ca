// Every shell example in the README runs (issue 20): each ```sh / ```bash block is split into
// commands (continuation lines joined, comments dropped) and run in order, in a bash, with
// `chatzyo` and `npx chatzyo` running this tree's bin/chatzyo.js (npm test builds dist/ first).
//
// How a command is checked, by what it is:
// - a server (`chatzyo serve`, `npm start`, `redis-server`, `turnserver`), with or without `&`:
//   started in the background and kept until its block ends; chatzyo must print its URL and
//   answer /healthz with 200, redis and coturn must say they listen; then each is stopped
//   (SIGTERM) and a chatzyo node must exit 0;
// - `chatzyo connect`: it must reach the server's queue (a `queued`, `matched` or
//   `private-created` line), then it is stopped with SIGTERM and must exit 0;
// - anything else must exit 0 (`cmd || [ $? -eq 3 ]` is the example's own way to allow 3).
//
// What is substituted, so the examples run on one machine with loopback only: ports (8080,
// 8081, 8082, 6379, 3478) by free ones; example hosts by local servers (chat.example.com, a
// and b.example.com, turn.chatzyo.example, 2001:db8::1, PUBLIC_IP); /etc/ and /opt/chatzyo by
// temporary folders (docs/deploy copied there with the same ports); `npm install` by nothing
// (the test runs inside the installed tree); and load sizes scaled down (--count at most 4,
// --duration at most 4 s, --next-every at most 2 s: the examples' form is what is tested, load
// is the benchmarks' job). Servers started without a port get a free one through CHATZYO_PORT,
// and clients without --server go to the block's latest server (or a shared one).
//
// A command that cannot run on a test machine is listed in NOT_RUN with the reason; keep that
// list short. An example that fails, or that no rule covers, fails `npm test`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { freeUdpTcpPort, startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { scaleExampleLoad } from '../helpers/example-load.js';
import { freeTcpPort } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { ROOT } from './recipe.js';

/** Commands that cannot run on a test machine, and why. Keyed by the first word, or by the whole command. */
const NOT_RUN_FIRST_WORD: Record<string, string> = {
  'apt-get': 'installs Debian packages: npm test installs the ones the tests need (scripts/ensure-test-deps.js)',
  systemctl: 'drives system services (needs systemd as PID 1): test/deploy/nginx-two-nodes.test.ts starts the same services from the same files, and systemd-analyze verifies the unit',
  nginx: '`nginx -t` checks the system nginx configuration: test/deploy/nginx-two-nodes.test.ts runs `nginx -t` and nginx on the same site file',
};
const NOT_RUN: Record<string, string> = {
  'npm test': 'it is the suite that runs this test',
  'chatzyo probe --turn "turns:turn.example.com:443?transport=tcp" --turn-user alice --turn-pass s3cret':
    'needs a TURN server over TLS with the long-term user alice; the probe\'s TURN checks (TLS included) run against coturn in test/probe',
};

/** One command of a README block. */
interface Example {
  line: number;
  command: string;
}

/** The README's shell blocks, each as its commands. */
function readmeBlocks(text: string): { line: number; commands: Example[] }[] {
  const blocks: { line: number; commands: Example[] }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash)\s*$/.test(lines[i]!)) continue;
    const block = { line: i + 1, commands: [] as Example[] };
    let pending: Example | null = null;
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) {
      const raw = stripComment(lines[i]!);
      if (!pending && !raw.trim()) continue;
      const continued = raw.endsWith('\\');
      const text = raw.replace(/\\$/, '').trim();
      if (pending) pending.command += ` ${text}`;
      else pending = { line: i + 1, command: text };
      if (!continued) { block.commands.push(pending); pending = null; }
    }
    if (pending) block.commands.push(pending);
    blocks.push(block);
  }
  return blocks;
}

/** The line without a trailing `# comment` (a # outside quotes, at the start or after a space). */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) { if (c === quote) quote = null; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

let tmp: string;
let bin: string;
let work: string;
let coturn: Coturn;
let shared: SignalServer;
let shared6: SignalServer;
const ports: Record<string, number> = {};

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'chatzyo-readme-'));
  bin = path.join(tmp, 'bin');
  work = path.join(tmp, 'clone');
  mkdirSync(bin);
  mkdirSync(work);
  // `chatzyo` and `npx chatzyo` run this tree's CLI, as an installed `chatzyo` would.
  writeFileSync(path.join(bin, 'chatzyo'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin/chatzyo.js')}" "$@"\n`);
  writeFileSync(path.join(bin, 'npx'), '#!/bin/sh\nif [ "$1" = chatzyo ]; then shift; exec chatzyo "$@"; fi\necho "the README test runs npx only as npx chatzyo" >&2; exit 127\n');
  for (const f of ['chatzyo', 'npx']) chmodSync(path.join(bin, f), 0o755);
  for (const p of ['8080', '8081', '8082', '6379']) ports[p] = await freeTcpPort();
  ports['3478'] = await freeUdpTcpPort();
  // /etc and a clone's docs/deploy, with the recipe files' ports substituted as in the commands.
  for (const d of ['etc/chatzyo', 'etc/redis', 'etc/systemd/system', 'etc/nginx/sites-available', 'etc/nginx/sites-enabled']) mkdirSync(path.join(tmp, d), { recursive: true });
  writeFileSync(path.join(tmp, 'etc/redis/redis.conf'), '# Debian\'s redis.conf stands here\n');
  cpSync(path.join(ROOT, 'docs/deploy'), path.join(work, 'docs/deploy'), { recursive: true });
  for (const file of walk(path.join(work, 'docs/deploy'))) writeFileSync(file, substitutePorts(readFileSync(file, 'utf8')));
  // ./clip.mp4 of the examples: two seconds of test pattern and tone.
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', path.join(work, 'clip.mp4')], { stdio: 'ignore' });
  coturn = await startCoturn();
  shared = await startServer({ turnUrls: [coturn.url], turnSecret: coturn.secret, maxConnectionsPerAddress: 1000, rematchCooldownMs: 0 });
  shared6 = await startServer({ host: '::1' });
}, 120_000);

afterAll(async () => {
  await shared?.close();
  await shared6?.close();
  await coturn?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function substitutePorts(text: string): string {
  return text.replace(/\b(8080|8081|8082|6379|3478)\b/g, (p) => String(ports[p]));
}

/** The command as it runs here (see the header); `server` is the block's latest chatzyo server. */
function local(command: string, server: string): string {
  let c = command.replace(/^npm install && /, '').replace(/^npm install$/, 'true');
  c = c
    .replaceAll('http://localhost:8080', server)
    .replaceAll('https://chat.example.com', shared.url)
    .replaceAll('http://[2001:db8::1]:8080', shared6.url)
    .replaceAll('stun:a.example.com', `stun:127.0.0.1:${shared.stunPort}`)
    .replaceAll('stun:b.example.com', `stun:127.0.0.1:${coturn.port}`)
    .replaceAll('turn.chatzyo.example', '127.0.0.1')
    .replaceAll('PUBLIC_IP', '127.0.0.1')
    .replaceAll('/opt/chatzyo', work)
    .replace(/(^|[\s'"=>])\/etc\//g, `$1${tmp}/etc/`);
  c = scaleExampleLoad(substitutePorts(c), 4);
  if (/(^|[\s'"=>])\/etc\b/.test(c)) throw new Error(`"${command}" would still touch /etc after substitution: ${c}`);
  return c;
}

/** A command started in bash, in its own process group (so a stop reaches what it started). */
class Run {
  readonly proc: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;
  constructor(readonly command: string, cwd: string, env: NodeJS.ProcessEnv) {
    this.proc = spawn('bash', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : null))));
  }
  async shows(re: RegExp, ms: number): Promise<RegExpExecArray> {
    return withTimeout(new Promise<RegExpExecArray>((resolve, reject) => {
      const look = () => { const m = re.exec(this.out); if (m) resolve(m); };
      this.proc.stdout!.on('data', look);
      this.proc.stderr!.on('data', look);
      void this.exited.then((code) => reject(new Error(`"${this.command}" exited (${code}) before showing ${re}:\n${this.out.slice(-2000)}`)));
      look();
    }), ms, `"${this.command}" shows ${re} (output: ${this.out.slice(-1500)})`);
  }
  /** SIGTERM to the group; its exit code (SIGKILL after 15 s, then a failure). */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    try { process.kill(-this.proc.pid!, 'SIGTERM'); } catch { /* gone */ }
    return withTimeout(this.exited, 15_000, `"${this.command}" stops on SIGTERM (output: ${this.out.slice(-1500)})`).catch((err: unknown) => {
      try { process.kill(-this.proc.pid!, 'SIGKILL'); } catch { /* gone */ }
      throw err;
    });
  }
}

const SERVE = /(^|\s)(chatzyo serve|npm start)\b/;

/** Runs one README block; returns what ran, for the report. */
async function runBlock(commands: Example[]): Promise<string[]> {
  const servers: Run[] = [];
  const ran: string[] = [];
  let cwd = work;
  let server = shared.url;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, CHATZYO_HOST: '127.0.0.1', CHATZYO_SERVER: server };
    delete e.CHATZYO_JSON;
    delete e.CHATZYO_PORT;
    return { ...e, ...extra };
  };
  let failure: unknown = null;
  try {
    for (const { line, command } of commands) {
      const first = command.split(/\s+/)[0]!;
      if (NOT_RUN[command] || NOT_RUN_FIRST_WORD[first]) { ran.push(`README:${line} not run: ${command}`); continue; }
      let c = local(command, server).replace(/\s*&$/, '');
      const where = `README.md line ${line}: ${command}`;
      const cd = /^cd (\S+)$/.exec(c);
      if (cd) { cwd = path.resolve(cwd, cd[1]!); continue; }
      if (SERVE.test(c)) {
        const run = new Run(c, /^npm /.test(c) ? ROOT : cwd, env(/--port /.test(c) ? {} : { CHATZYO_PORT: String(await freeTcpPort()) }));
        servers.push(run);
        const m = await run.shows(/chatzyo is serving on (\S+)|"event":"listening","url":"([^"]+)"/, 90_000).catch((e: Error) => { throw new Error(`${where}\n${e.message}`); });
        const url = (m[1] ?? m[2])!;
        const res = await withTimeout(fetch(`${url}/healthz`), 10_000, `${where}: ${url}/healthz`);
        expect(res.status, `${where}: ${url}/healthz`).toBe(200);
        server = url;
        ran.push(`README:${line} serving ${url}: ${c}`);
      } else if (/^redis-server\b/.test(c) || /^turnserver\b/.test(c)) {
        const run = new Run(c, cwd, env());
        servers.push(run);
        await run.shows(/^redis/.test(c) ? /Ready to accept connections/ : /Total (General|UDP) servers|UDP listener opened/i, 20_000)
          .catch((e: Error) => { throw new Error(`${where}\n${e.message}`); });
        ran.push(`README:${line} listening: ${c}`);
      } else if (/(^|\s)chatzyo connect\b/.test(c)) {
        const run = new Run(c, cwd, env());
        try {
          await run.shows(/"event":"(queued|matched|private-created)"/, 60_000).catch((e: Error) => { throw new Error(`${where}\n${e.message}`); });
          expect(await run.stop(), `${where}: exit code after SIGTERM (output: ${run.out.slice(-1500)})`).toBe(0);
        } finally { await run.stop().catch(() => {}); }
        ran.push(`README:${line} queued: ${c}`);
      } else {
        const run = new Run(c, cwd, env());
        try {
          const code = await withTimeout(run.exited, 180_000, `${where}: ends (output: ${run.out.slice(-1500)})`);
          expect(code, `${where}: exit code (output: ${run.out.slice(-2000)})`).toBe(0);
        } finally { await run.stop().catch(() => {}); }
        ran.push(`README:${line} exit 0: ${c}`);
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    const errors: string[] = failure ? [(failure as Error).message] : [];
    for (const s of servers.reverse()) {
      const code = await s.stop().catch((e: Error) => { errors.push(e.message); return -1; });
      // A chatzyo node ends cleanly on SIGTERM; so must npm start, which runs one.
      // (npm itself, signalled with its child, exits 128 + 15.)
      const clean = /^npm start$/.test(s.command) ? [0, 143] : [0];
      if (SERVE.test(s.command) && !clean.includes(code ?? -1)) errors.push(`"${s.command}" exited ${code} on SIGTERM, not 0 (output: ${s.out.slice(-1500)})`);
    }
    if (errors.length) throw new Error(errors.join('\n'));
  }
  return ran;
}

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BLOCKS = readmeBlocks(README);

describe('README shell examples', () => {
  it('finds the blocks, and every exception still names an example', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(10);
    const all = BLOCKS.flatMap((b) => b.commands.map((c) => c.command));
    for (const c of Object.keys(NOT_RUN)) expect(all, `NOT_RUN names "${c}", which is no longer in the README`).toContain(c);
    for (const w of Object.keys(NOT_RUN_FIRST_WORD)) expect(all.some((c) => c.startsWith(`${w} `)), `NOT_RUN_FIRST_WORD names ${w}`).toBe(true);
  });

  it.each(BLOCKS.map((b) => [`line ${b.line}: ${b.commands.map((c) => c.command.split(/\s+/).slice(0, 3).join(' ')).join('; ')}`, b] as const))(
    'the block at %s runs', async (_name, block) => {
      const ran = await runBlock(block.commands);
      expect(ran.length).toBe(block.commands.filter((c) => !/^cd /.test(c.command)).length);
    }, 600_000);
});
