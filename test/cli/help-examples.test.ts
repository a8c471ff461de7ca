// Issue 19, item 5: every command's --help ends with two or three real examples, and this test
// runs each of them through the real binary against a local server (port 0), the way README
// examples are run. An example that cannot run here is listed in NOT_RUN with the reason; an
// example in no list fails the test, so a new example must say how it is checked.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { scaleExampleLoad } from '../helpers/example-load.js';
import { startServer } from '../helpers/server.js';
import { certDir, type CertDir } from '../helpers/tls-certs.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../../bin/chatzyo.js');
const README = path.resolve(fileURLToPath(import.meta.url), '../../../README.md');

/**
 * How an example is checked: it ends by itself with `exit`, or it runs until `until` shows on its
 * output, then stops cleanly on SIGTERM. `answers`: a server; its /healthz must answer first (it
 * prints its URL a moment before it handles SIGTERM, and the answer shows its event loop turned).
 */
type Expect = { exit: number; ms: number } | { until: RegExp; ms: number; answers?: true };

const SERVING = /chatzyo is serving on http:\/\/127\.0\.0\.1:\d+/;
const QUEUED = /"event":"queued"/;
/** Keyed by the example's command line, comment removed. */
const EXPECT: Record<string, Expect> = {
  'chatzyo serve --demo-bots 2': { until: /2 demo bots wait in global, tamil/, ms: 60_000, answers: true },
  'chatzyo connect --room global': { until: QUEUED, ms: 20_000 },
  'chatzyo probe --server http://localhost:8080': { exit: 0, ms: 90_000 },
  'chatzyo serve --port 8080 --hubs global,tamil,usa': { until: SERVING, ms: 20_000, answers: true },
  'chatzyo serve --turn turn:turn.example.com:3478 --turn-secret-file turn-secret.txt --max-connections-per-address 100': { until: SERVING, ms: 20_000, answers: true },
  'chatzyo connect --room tamil': { until: QUEUED, ms: 20_000 },
  // With --ca, https://chat.example.com is a local TLS server with a self-signed certificate, and ./chat-ca.pem that certificate.
  'chatzyo connect --server https://chat.example.com --ca ./chat-ca.pem --create-private --record partner.webm': { until: /"event":"private-created","code":"[^"]+","link":"https:\/\/127\.0\.0\.1:\d+\/#\/call\//, ms: 20_000 },
  'chatzyo connect --room usa --json --say "hi from a bot" --next-after 20 --max-partners 5': { until: QUEUED, ms: 20_000 },
  'chatzyo probe --server https://chat.example.com': { exit: 0, ms: 90_000 },
  'chatzyo probe --stun stun:stun.example.com:3478 --stun stun:stun2.example.com:3478 --json': { exit: 0, ms: 60_000 },
  'chatzyo bots --server http://localhost:8080 --count 200 --ramp 100': { exit: 0, ms: 60_000 },
  'chatzyo bots --mode media --count 4 --rooms tamil,usa --duration 8 --next-every 5': { exit: 0, ms: 120_000 },
  'chatzyo bots --server https://chat.example.com --ca ./chat-ca.pem --count 200 --json --max-p95-match-ms 2000': { exit: 0, ms: 60_000 },
};

/** Examples that cannot run against a local server, and why. */
const NOT_RUN: Record<string, string> = {
  'chatzyo probe --turn turns:turn.example.com:443?transport=tcp --turn-user alice --turn-pass s3cret':
    'needs a real TURN server reachable over TLS at turn.example.com with those credentials; the TURN checks are covered against coturn in test/probe',
};

let server: SignalServer;
/** The same server over TLS, with a self-signed certificate: the `--ca ./chat-ca.pem` examples' server. */
let tlsServer: SignalServer;
let certs: CertDir;
let dir: string;

beforeAll(async () => {
  server = await startServer({ maxConnectionsPerAddress: 1000, rematchCooldownMs: 0 });
  certs = certDir('chatzyo-help-certs-');
  const own = certs.make('chat-ca', '127.0.0.1', ['IP:127.0.0.1']);
  tlsServer = await startServer({ maxConnectionsPerAddress: 1000, rematchCooldownMs: 0, tlsCert: own.cert, tlsKey: own.key });
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-help-examples-'));
  copyFileSync(own.cert, path.join(dir, 'chat-ca.pem'));
  // `chatzyo` on PATH is this tree's bin/chatzyo.js (npm test builds dist/ first): about 20
  // commands start here, and each took half a second more from source under tsx.
  writeFileSync(path.join(dir, 'chatzyo'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(path.join(dir, 'chatzyo'), 0o755);
  writeFileSync(path.join(dir, 'turn-secret.txt'), 'an-example-secret\n');
});
afterAll(async () => {
  await server?.close();
  await tlsServer?.close();
  certs?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `chatzyo ARGS` and returns its output (help goes to stdout, exit 0). */
async function help(args: string): Promise<string> {
  // Each help text is read once for the file: a CLI process takes about a second to start.
  let text = helpTexts.get(args);
  if (!text) {
    text = sh(`chatzyo ${args}`, { exit: 0, ms: 15_000 }).then((r) => r.out);
    helpTexts.set(args, text);
  }
  return text;
}
const helpTexts = new Map<string, Promise<string>>();

/** The commands of the "Examples:" block at the end of a help text. */
function examples(text: string): string[] {
  const at = text.lastIndexOf('\nExamples:\n');
  expect(at, 'the help has an "Examples:" block').toBeGreaterThan(0);
  const lines = text.slice(at + '\nExamples:\n'.length).trimEnd().split('\n');
  for (const l of lines) expect(l, 'every line after "Examples:" is an example: the block ends the help').toMatch(/^ {2}\$ chatzyo /);
  return lines.map((l) => l.replace(/^ {2}\$ /, '').replace(/\s+#.*$/, '').trim());
}

/** The example with the example hosts and fixed ports replaced by the local server, its load scaled down as the README's are. */
function local(cmd: string): string {
  const stun = `stun:127.0.0.1:${server.stunPort}`;
  const c = cmd
    .replaceAll('https://chat.example.com', cmd.includes('--ca ') ? tlsServer.url : server.url)
    .replaceAll('http://localhost:8080', server.url)
    .replace(/stun:stun2?\.example\.com:3478/g, stun)
    .replace('--port 8080', '--port 0');
  return scaleExampleLoad(c);
}

/** Runs one shell command line in `dir` with `chatzyo` on PATH, checked as `e` says. */
async function sh(cmd: string, e: Expect): Promise<{ out: string; code: number | null }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dir}:${process.env.PATH}`,
    // Examples without --server/--port use the defaults: point those at the local server and at free ports.
    CHATZYO_SERVER: server.url,
    CHATZYO_HOST: '127.0.0.1',
    CHATZYO_PORT: '0',
    CHATZYO_STUN_PORT: '0',
  };
  delete env.CHATZYO_JSON;
  // A session of its own: `connect` raises its session and puts it back as it exits, which the
  // SIGKILL below (a command that did not stop) would skip in the test runner's session.
  const child = spawn('bash', ['-c', `exec ${cmd}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    if ('exit' in e) {
      const code = await withTimeout(exited, e.ms, `"${cmd}" ends (output: ${out.slice(-1500)})`);
      expect(code, `"${cmd}" exit code (output: ${out.slice(-1500)})`).toBe(e.exit);
      return { out, code };
    }
    await withTimeout(new Promise<void>((resolve, reject) => {
      const look = () => { if (e.until.test(out)) resolve(); };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      void exited.then((code) => reject(new Error(`"${cmd}" exited (${code}) before showing ${e.until}: ${out.slice(-1500)}`)));
      look();
    }), e.ms, `"${cmd}" shows ${e.until} (output: ${out.slice(-1500)})`);
    if (e.answers) {
      const url = SERVING.exec(out)![0].replace('chatzyo is serving on ', '');
      const res = await withTimeout(fetch(`${url}/healthz`), 10_000, `${url}/healthz answers`);
      expect(res.status, `${url}/healthz`).toBe(200);
    }
    child.kill('SIGTERM');
    const code = await withTimeout(exited, 15_000, `"${cmd}" stops on SIGTERM (output: ${out.slice(-1500)})`);
    expect(code, `"${cmd}" stops cleanly on SIGTERM (output: ${out.slice(-1500)})`).toBe(0);
    return { out, code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function runAll(cmds: string[]): Promise<void> {
  for (const cmd of cmds) {
    if (NOT_RUN[cmd]) continue;
    const e = EXPECT[cmd];
    expect(e, `help example "${cmd}" has an entry in EXPECT (how it is checked) or NOT_RUN (why it cannot run here)`).toBeDefined();
    await sh(local(cmd), e!);
  }
}

describe('chatzyo --help', () => {
  it('lists every command on one line and the two README commands, and ends with examples that run', { timeout: 240_000 }, async () => {
    const text = await help('--help');
    for (const name of ['serve', 'connect', 'probe', 'bots']) {
      const line = text.split('\n').findIndex((l) => l.startsWith(`  ${name} [options]`));
      expect(line, `${name} is listed`).toBeGreaterThan(0);
      expect(text.split('\n')[line + 1], `${name}'s summary fits on one line`).toMatch(/^ {2}\S/);
    }
    // The README's first block is the one a new user copies: the help shows the same two commands.
    const readme = readFileSync(README, 'utf8');
    const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!.trim().split('\n').map((l) => l.replace(/\s+#.*$/, '').trim());
    expect(block).toEqual(['npm install && npm start', 'npm test']);
    for (const c of block) expect(text).toContain(`  $ ${c} `);
    const cmds = examples(text);
    expect(cmds.length).toBeGreaterThanOrEqual(2);
    expect(cmds.length).toBeLessThanOrEqual(3);
    await runAll(cmds);
  });
});

describe.each(['serve', 'connect', 'probe', 'bots'])('chatzyo %s --help', (command) => {
  it('ends with two or three examples, and each runs against a local server (or is listed as one that cannot)', { timeout: 300_000 }, async () => {
    const cmds = examples(await help(`${command} --help`));
    expect(cmds.length).toBeGreaterThanOrEqual(2);
    expect(cmds.length).toBeLessThanOrEqual(3);
    for (const c of cmds) expect(c.startsWith(`chatzyo ${command} `), c).toBe(true);
    await runAll(cmds);
  });
});

describe('the example lists', () => {
  it('name only examples that the help texts show', async () => {
    const shown = new Set<string>();
    for (const args of ['--help', 'serve --help', 'connect --help', 'probe --help', 'bots --help']) for (const c of examples(await help(args))) shown.add(c);
    for (const c of [...Object.keys(EXPECT), ...Object.keys(NOT_RUN)]) expect(shown.has(c), `"${c}" is still in a help text`).toBe(true);
  });
});
