/**
 * Simulated networks for the probe tests: network namespaces joined by veth pairs, with
 * iptables NAT in "router" namespaces, created and torn down by the test itself. Only
 * 203.0.113.0/24 and 198.51.100.0/24 (documentation "internet") and 198.18.0.0/15 (LANs) are
 * used, and for IPv6 only the documentation prefix 2001:db8::/32. Every namespace name carries
 * a per-run prefix, and every namespace this run made is deleted by `destroy()` (and, as a
 * last resort, when the process exits), with its /etc/netns/NAME files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../helpers/deadline.js';

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
/** Runs the CLI from source, as test/cli does. */
const CLI_RUNNER = path.join(ROOT, 'test/cli/run-cli.ts');

const ALLOWED = [/^203\.0\.113\.\d+(\/\d+)?$/, /^198\.51\.100\.\d+(\/\d+)?$/, /^198\.(18|19)\.\d+\.\d+(\/\d+)?$/];

function checkAddress(a: string): string {
  const [ip = '', len] = a.split('/');
  if (isIPv6(ip)) {
    // 2001:db8::/32 only (RFC 3849): the first two groups, written out, are 2001:0db8.
    if (!/^2001:0?db8:/i.test(ip) || (len !== undefined && !/^\d+$/.test(len))) throw new Error(`test networks may only use 2001:db8::/32 for IPv6, not ${a}`);
    return a;
  }
  if (!ALLOWED.some((re) => re.test(a))) throw new Error(`test networks may only use 203.0.113.0/24, 198.51.100.0/24 and 198.18.0.0/15, not ${a}`);
  return a;
}

/** `ip addr add` arguments; IPv6 addresses skip duplicate address detection, so they are usable at once. */
function addrArgs(addr: string, dev: string): string[] {
  return ['ip', 'addr', 'add', checkAddress(addr), 'dev', dev, ...(isIPv6(addr.split('/')[0]!) ? ['nodad'] : [])];
}

/** Fails with a clear message when the tests cannot build networks. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the simulated-network tests need root (network namespaces, veth, iptables); CI runs them as root');
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables'], ['turnserver', 'coturn'], ['turnutils_natdiscovery', 'coturn']] as const) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
    if (r.status !== 0) throw new Error(`${cmd} is missing: install the ${pkg} package`);
  }
}

/** A process running inside a namespace, with its output kept. */
export class NsProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(readonly name: string, ns: string, argv: string[]) {
    // A session of its own: `connect` raises its session's autogroup (src/peer/thread-priority.ts)
    // and puts it back as it exits, which a SIGKILL after a slow close (kill, below) skips; in the
    // test runner's session that left the runner raised for the rest of the run.
    this.proc = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, detached: true });
    this.proc.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString(); this.#wake(); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => { this.#wake(); resolve(code); }));
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Waits until stdout matches `re`. */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    return withTimeout(new Promise((resolve, reject) => {
      const look = () => {
        const m = this.stdout.match(re);
        if (m) { resolve(m); return; }
        if (this.proc.exitCode !== null) { reject(new Error(`${this.name} exited (${this.proc.exitCode}) before printing ${re}; stderr: ${this.stderr.slice(-1500)}`)); return; }
        this.#waiters.push(look);
      };
      look();
    }), ms, `${this.name}: output ${re} (stdout: ${this.stdout.slice(-500)}; stderr: ${this.stderr.slice(-500)})`);
  }

  /** Waits for the exit code. */
  exitCode(ms: number): Promise<number | null> {
    return withTimeout(this.exited, ms, `${this.name} exit (stdout: ${this.stdout.slice(-800)}; stderr: ${this.stderr.slice(-800)})`);
  }

  /** SIGTERM, then SIGKILL after 3 s. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    await withTimeout(this.exited, 3000, `${this.name} exit after SIGTERM`).catch(async () => {
      this.proc.kill('SIGKILL');
      await this.exited;
    });
  }
}

/** One run's namespaces. */
export class TestNetwork {
  /** Unique per run, so concurrent runs and leftovers never collide. */
  readonly prefix = `chz${process.pid}x${randomBytes(2).toString('hex')}`;
  readonly #namespaces: string[] = [];
  readonly #procs: NsProcess[] = [];
  readonly #etcDirs: string[] = [];
  /** This run created /etc/netns (and removes it again once empty). */
  #madeEtcNetns = false;
  readonly #onExit = () => {
    for (const ns of this.#namespaces) spawnSync('ip', ['netns', 'del', ns]);
    for (const dir of this.#etcDirs) rmSync(dir, { recursive: true, force: true });
  };

  constructor() {
    process.once('exit', this.#onExit);
  }

  /** The full name of namespace `short`. */
  ns(short: string): string {
    return `${this.prefix}-${short}`;
  }

  /** Runs a command (no shell) and throws with its stderr when it fails. */
  sh(argv: string[]): string {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  /** `ip netns exec NS argv...` */
  exec(short: string, argv: string[]): string {
    return this.sh(['ip', 'netns', 'exec', this.ns(short), ...argv]);
  }

  /**
   * A namespace with loopback up. `forward`: a router (IPv4 and IPv6 forwarding on).
   * `noIpv4`: not even 127.0.0.1 on loopback, for an IPv6-only host.
   */
  addNamespace(short: string, opts: { forward?: boolean; noIpv4?: boolean } = {}): void {
    const name = this.ns(short);
    this.sh(['ip', 'netns', 'add', name]);
    this.#namespaces.push(name);
    this.exec(short, ['ip', 'link', 'set', 'lo', 'up']);
    if (opts.forward) {
      this.exec(short, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      this.exec(short, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    }
    if (opts.noIpv4) this.exec(short, ['ip', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
  }

  /**
   * The namespace's /etc/hosts (`ip netns exec` mounts /etc/netns/NAME/hosts over it), so a
   * test can give a server a name with an A and an AAAA record. `destroy()` removes it.
   */
  hosts(short: string, lines: [string, string][]): void {
    const dir = `/etc/netns/${this.ns(short)}`;
    if (!existsSync('/etc/netns')) this.#madeEtcNetns = true;
    mkdirSync(dir, { recursive: true });
    this.#etcDirs.push(dir);
    writeFileSync(`${dir}/hosts`, lines.map(([ip, name]) => `${checkAddress(ip)} ${name}\n`).join(''));
  }

  /**
   * A veth pair between two namespaces, created directly inside them (so the names only
   * need to be unique per namespace). Names must not start with "veth": werift skips such
   * interfaces when it gathers host candidates.
   */
  link(a: { ns: string; dev: string; addr: string | string[] }, b: { ns: string; dev: string; addr: string | string[] }): void {
    this.sh(['ip', 'link', 'add', a.dev, 'netns', this.ns(a.ns), 'type', 'veth', 'peer', 'name', b.dev, 'netns', this.ns(b.ns)]);
    for (const end of [a, b]) {
      for (const addr of [end.addr].flat()) this.exec(end.ns, addrArgs(addr, end.dev));
      this.exec(end.ns, ['ip', 'link', 'set', end.dev, 'up']);
    }
  }

  /** An extra address on a namespace's loopback (the server addresses on the "internet"). */
  addAddress(short: string, addr: string, dev = 'lo'): void {
    this.exec(short, addrArgs(addr, dev));
  }

  /** The default route of a namespace (IPv4 or IPv6, by the gateway's family). */
  defaultRoute(short: string, via: string): void {
    this.exec(short, ['ip', ...(isIPv6(via) ? ['-6'] : []), 'route', 'add', 'default', 'via', checkAddress(via)]);
  }

  /** Starts a process inside a namespace; `destroy()` stops it. */
  start(name: string, short: string, argv: string[]): NsProcess {
    const p = new NsProcess(name, this.ns(short), argv);
    this.#procs.push(p);
    return p;
  }

  /** Starts the chatzyo CLI (from source, under tsx) inside a namespace. */
  cli(name: string, short: string, args: string[]): NsProcess {
    return this.start(name, short, [process.execPath, '--import', 'tsx', CLI_RUNNER, ...args]);
  }

  /**
   * Stops every process and deletes every namespace of this run, whatever failed before.
   * Processes started some other way inside our namespaces (coturn) are killed by pid first,
   * since deleting a namespace's name does not stop what runs in it. Idempotent.
   */
  async destroy(): Promise<void> {
    await Promise.all(this.#procs.splice(0).map((p) => p.kill().catch(() => {})));
    const failures: string[] = [];
    for (const ns of this.#namespaces.splice(0)) {
      killInside(ns);
      const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      if (r.status !== 0) failures.push(`${ns}: ${r.stderr}`);
    }
    for (const dir of this.#etcDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    if (this.#madeEtcNetns) {
      try { rmdirSync('/etc/netns'); } catch { /* another run's files are in it */ }
    }
    process.off('exit', this.#onExit);
    if (failures.length) throw new Error(`could not delete namespaces: ${failures.join('; ')}`);
  }

  /**
   * Deletes namespaces left by an earlier run of these tests whose process is gone (killed
   * before its afterAll ran). Only names of our own form `chz<pid>x<hex>-...` are touched.
   */
  static reapStale(): string[] {
    const reaped: string[] = [];
    const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const ns of (r.stdout ?? '').split('\n').map((l) => l.split(' ')[0]!).filter(Boolean)) {
      const m = /^chz(\d+)x[0-9a-f]{4}-/.exec(ns);
      if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      killInside(ns);
      if (spawnSync('ip', ['netns', 'del', ns]).status === 0) reaped.push(ns);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    return reaped;
  }

  /** Namespaces of this run that still exist (for the cleanup assertion). */
  leftovers(): string[] {
    return this.sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${this.prefix}-`));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills, by pid, every process running inside namespace `ns` (only our own namespaces get here). */
function killInside(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const pid of (r.stdout ?? '').split('\n').map(Number).filter((n) => n > 0)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}
