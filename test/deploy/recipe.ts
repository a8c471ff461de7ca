/**
 * Runs the deployment recipes of docs/deploy/ as they are written: reads each file, substitutes
 * the few values a test machine must change (ports, paths, host names, addresses, the secret)
 * and fails when a value it substitutes is no longer in the file, so the recipe and its test
 * cannot drift apart. Also a small supervisor for the services it starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../helpers/deadline.js';

/** The repository root. */
export const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
/** docs/deploy/. */
export const DEPLOY = path.join(ROOT, 'docs/deploy');

/**
 * `text` with each key of `table` replaced by its value (every occurrence). A key that does not
 * occur is an error naming the file: the recipe changed and the test must follow.
 */
export function substitute(text: string, table: [from: string, to: string][], file: string): string {
  let out = text;
  for (const [from, to] of table) {
    if (!out.includes(from)) throw new Error(`${file} no longer contains "${from}", which the deployment test substitutes: update the test with the recipe`);
    out = out.replaceAll(from, to);
  }
  return out;
}

/** Reads a recipe file (path relative to docs/deploy/). */
export function recipe(rel: string): string {
  return readFileSync(path.join(DEPLOY, rel), 'utf8');
}

/** A systemd unit, parsed as far as the test runs it: `[Service]` keys in order, repeated keys kept. */
export interface Unit {
  service: [key: string, value: string][];
  /** Every key of every section, for checks. */
  all: [section: string, key: string, value: string][];
}

/** Parses a systemd unit file (comments, sections, key=value; no line continuations in ours). */
export function parseUnit(text: string): Unit {
  const all: Unit['all'] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = s[1]!; continue; }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`unit line without "=": ${line}`);
    all.push([section, line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return { all, service: all.filter(([s]) => s === 'Service').map(([, k, v]) => [k, v]) };
}

/** Parses an EnvironmentFile (KEY=VALUE lines, # comments; values unquoted as ours are). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`environment file line without "=": ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** A service process the test started, with its output kept for assertions and failure messages. */
export class Service {
  readonly proc: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.proc = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.exited = new Promise((resolve) => {
      this.proc.once('error', (e) => { this.out += `\n(spawn failed: ${e.message})`; resolve(-1); });
      this.proc.once('exit', (code) => resolve(code));
    });
  }

  /** Waits until the output matches `re`; fails at once if the process exits first. */
  async ready(re: RegExp, ms: number): Promise<string> {
    return withTimeout(new Promise<string>((resolve, reject) => {
      const look = () => {
        const m = re.exec(this.out);
        if (m) { cleanup(); resolve(m[0]); }
      };
      const cleanup = () => { this.proc.stdout!.off('data', look); this.proc.stderr!.off('data', look); };
      this.proc.stdout!.on('data', look);
      this.proc.stderr!.on('data', look);
      void this.exited.then((code) => { cleanup(); reject(new Error(`${this.name} exited (${code}) before ${re}:\n${this.out.slice(-3000)}`)); });
      look();
    }), ms, `${this.name} shows ${re} (output: ${this.out.slice(-2000)})`);
  }

  /** SIGTERM, then SIGKILL after 10 s. Idempotent. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined) return;
    this.proc.kill('SIGTERM');
    await withTimeout(this.exited, 10_000, `${this.name} stops on SIGTERM`).catch(async () => {
      this.proc.kill('SIGKILL');
      await withTimeout(this.exited, 5000, `${this.name} stops on SIGKILL`);
    });
  }
}
