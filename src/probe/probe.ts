/**
 * `chatzyo probe`: runs the network checks, each with its own deadline, as much in parallel
 * as their dependencies allow (the signaling check first when there is a server, since its
 * welcome names the STUN and TURN servers and carries the TURN credentials), and reports
 * progress on a typed observer so a view can fill in as checks finish.
 */
import type { IceServer } from '../protocol/index.js';
import { TypedEmitter } from '../protocol/client/index.js';
import { ProbeUsageError, deadline, toCheckError } from './errors.js';
import { IceWorker } from './ice-check.js';
import { parseStunUri, parseTurnUri, urlsOf, type TurnTransport, type TurnUri } from './ice-url.js';
import { checkInterfaces } from './interfaces-check.js';
import { checkIpFamilies } from './ip-family-check.js';
import { checkNat } from './nat-check.js';
import type { IceResult, InterfacesResult, IpResult, NatResult, ProbeReport, SignalResult, StunResult, TurnResult, UplinkResult } from './report.js';
import { checkSignal } from './signal-check.js';
import { ms } from './stats.js';
import { checkStun } from './stun-check.js';
import { checkTurn, notTested, type TurnCredentials } from './turn-check.js';
import { decideVerdict } from './verdict.js';
import { burstAdvice, stunBurst, type StunBurstResult } from './stun-burst.js';
import { closeQuietly, openUdp, sourceAddressFor } from './udp.js';
import { UplinkWorker, uplinkNotMeasured } from './upload-ramp.js';

/** The checks, in the order a person reads them. */
export const CHECK_NAMES = ['signal', 'interfaces', 'ip', 'stun', 'nat', 'turn', 'ice', 'uplink'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];
/** Where a check is. */
export type CheckState = 'pending' | 'running' | 'done' | 'skipped';

/** Deadlines of the checks, in ms. */
export interface ProbeTimeouts {
  /** WebSocket connect + welcome. */
  signal: number;
  /** Each ping. */
  ping: number;
  /** Each STUN Binding transaction. */
  stun: number;
  /** Waiting for replies a NAT may filter (default: from the STUN RTT). */
  behaviour?: number;
  /** Each TURN transaction (and the TCP/TLS connect). */
  turn: number;
  /** One end-to-end call. */
  ice: number;
}

/** Defaults: a dead server costs at most a few seconds per check. */
const DEFAULT_TIMEOUTS: ProbeTimeouts = { signal: 4000, ping: 1000, stun: 1500, turn: 3000, ice: 10_000 };

/** What to probe. */
export interface ProbeOptions {
  /** chatzyo server (http(s)://, ws(s)://): its welcome supplies STUN/TURN servers and credentials. */
  server?: string;
  /** Extra STUN URLs. */
  stun?: string[];
  /** Extra TURN URLs, used with turnUser/turnPass. */
  turn?: string[];
  turnUser?: string;
  turnPass?: string;
  /** Measure the NAT mapping lifetime up to this many seconds. */
  lifetimeMaxS?: number;
  /** Run the end-to-end calls (default true; false also skips the uplink test). */
  ice?: boolean;
  /**
   * The uplink test (src/probe/upload-ramp.ts): a relayed call through the first TURN server
   * whose UDP allocation worked, ramping its rate, after every other check (default true).
   */
  uplink?: boolean;
  /** Binding requests per STUN server (default 5). */
  stunSamples?: number;
  /**
   * The call-quality STUN burst (src/probe/stun-burst.ts) against the first STUN server that
   * answered: default on when no TURN server is tested (the TURN checks measure the relay path).
   */
  stunBurst?: boolean;
  /** Pings over the signaling connection (default 10). */
  signalPings?: number;
  /** Round trips through each TURN relay (default 3). */
  relayPings?: number;
  timeouts?: Partial<ProbeTimeouts>;
  /** Extra CA certificates for wss:// and turns: (private CAs, tests). */
  ca?: string | Buffer | (string | Buffer)[];
}

/** A snapshot of a running probe. */
export interface ProbeProgress {
  checks: Record<CheckName, CheckState>;
  signal: SignalResult | null;
  interfaces: InterfacesResult | null;
  /** IPv4 and IPv6 reachability. */
  ip: IpResult | null;
  stun: StunResult[];
  nat: NatResult | null;
  turn: TurnResult[];
  ice: IceResult[];
  /** The uplink test (null until it finished or was skipped). */
  uplink: UplinkResult | null;
}

/** Events of a {@link Probe}. */
export type ProbeEvents = {
  /** A check started or finished; the snapshot has every result so far. */
  progress: [ProbeProgress];
  done: [ProbeReport];
};

const EMPTY_NAT: NatResult = {
  mapping: 'unknown', filtering: 'unknown', method: 'none', confidence: 'none', server: null, mapped: null, udpBlocked: false, hairpinning: null, lifetime: null, notes: [],
};

/** A TURN server to check, with its credentials. */
interface TurnTarget { uri: TurnUri; creds: TurnCredentials; fromServer: boolean }

/** One probe run. Create, subscribe, then `run()` once. */
export class Probe extends TypedEmitter<ProbeEvents> {
  readonly options: ProbeOptions;
  readonly timeouts: ProbeTimeouts;
  #progress: ProbeProgress = {
    checks: { signal: 'pending', interfaces: 'pending', ip: 'pending', stun: 'pending', nat: 'pending', turn: 'pending', ice: 'pending', uplink: 'pending' },
    signal: null, interfaces: null, ip: null, stun: [], nat: null, turn: [], ice: [], uplink: null,
  };
  #ran = false;
  readonly #started = new Map<CheckName, number>();
  readonly #checkMs: Partial<Record<CheckName, number>> = {};

  constructor(options: ProbeOptions) {
    super();
    this.options = options;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    // Parse URLs at once so that a typo is a usage error, not a failed check.
    for (const u of options.stun ?? []) parseStunUri(u);
    for (const u of options.turn ?? []) parseTurnUri(u);
    if (!options.server && !options.stun?.length && !options.turn?.length) {
      throw new ProbeUsageError('nothing to probe: give --server URL, or --stun / --turn URLs');
    }
  }

  /** The latest snapshot. */
  get progress(): ProbeProgress { return structuredClone(this.#progress); }

  #set<K extends keyof ProbeProgress>(name: CheckName, state: CheckState, key?: K, value?: ProbeProgress[K]): void {
    if (state === 'running') this.#started.set(name, performance.now());
    if (state === 'done') this.#checkMs[name] = ms(performance.now() - (this.#started.get(name) ?? performance.now()));
    this.#progress.checks[name] = state;
    if (key) this.#progress[key] = value!;
    this.safeEmit('progress', this.progress);
  }

  /** Runs every check and resolves with the report. Never rejects for a network failure. */
  async run(): Promise<ProbeReport> {
    if (this.#ran) throw new Error('Probe.run() was already called');
    this.#ran = true;
    const o = this.options;
    const t = this.timeouts;
    const startedAt = new Date();
    const t0 = performance.now();

    this.#set('interfaces', 'done', 'interfaces', checkInterfaces());

    // The end-to-end calls run in a worker thread: start it now, so loading werift overlaps the signaling check.
    const iceWorker = o.ice === false ? null : new IceWorker();

    // 1. Signaling: the welcome says which STUN/TURN servers to use.
    let signal: SignalResult | null = null;
    let iceServersFromServer: IceServer[] = [];
    if (o.server) {
      this.#set('signal', 'running');
      const pings = o.signalPings ?? 10;
      const budget = t.signal + pings * t.ping + 1000;
      const outcome = await deadline(checkSignal(o.server, { timeoutMs: t.signal, pings, pingTimeoutMs: t.ping, ca: o.ca }), budget, 'the signaling check')
        .catch((err) => ({ welcome: null, result: { url: o.server!, ok: false, connectMs: null, welcomeMs: null, rttMs: null, turnAnnounced: null, iceServerUrls: [], error: toCheckError(err) } }));
      signal = outcome.result;
      iceServersFromServer = outcome.welcome?.iceServers ?? [];
      this.#set('signal', 'done', 'signal', signal);
    } else {
      this.#set('signal', 'skipped');
    }

    // 2. What to test: the command line plus the server's welcome.
    const stunUris = dedupe([
      ...(o.stun ?? []).map(parseStunUri),
      ...iceServersFromServer.flatMap((s) => urlsOf(s.urls)).filter((u) => /^stuns?:/i.test(u)).flatMap(tryParse(parseStunUri)),
    ], (s) => `${s.secure}|${s.host}|${s.port}`);
    const turnTargets: TurnTarget[] = [
      ...(o.turn ?? []).map((u) => ({ uri: parseTurnUri(u), creds: { username: o.turnUser, credential: o.turnPass }, fromServer: false })),
      ...iceServersFromServer.flatMap((s) => urlsOf(s.urls).filter((u) => /^turns?:/i.test(u)).flatMap(tryParse(parseTurnUri))
        .map((uri) => ({ uri, creds: { username: s.username, credential: s.credential }, fromServer: true }))),
    ];
    const iceServers: IceServer[] = [
      ...(o.stun?.length ? [{ urls: o.stun }] : []),
      ...(o.turn?.length ? [{ urls: o.turn, username: o.turnUser, credential: o.turnPass }] : []),
      ...iceServersFromServer,
    ];

    // 3. Each IP family on its own; STUN then NAT; TURN; the end-to-end calls: all at once.
    const ipFamilies = (async () => {
      this.#set('ip', 'running');
      const ip = await deadline(checkIpFamilies({ server: o.server, stunUris, signalTimeoutMs: t.signal, stunTimeoutMs: t.stun, ca: o.ca }), t.signal + t.stun + 2000, 'the IPv4/IPv6 checks')
        .catch((): IpResult | null => null);
      if (ip) this.#set('ip', 'done', 'ip', ip);
      else this.#set('ip', 'skipped');
    })();

    let quality: StunBurstResult | null = null;
    const stunAndNat = (async () => {
      if (!stunUris.length) {
        this.#set('stun', 'skipped');
        this.#set('nat', 'skipped', 'nat', { ...EMPTY_NAT, notes: ['no STUN server to test against'] });
        return;
      }
      this.#set('stun', 'running');
      const samples = o.stunSamples ?? 5;
      const stun = await Promise.all(stunUris.map((u) => deadline(checkStun(u, { samples, timeoutMs: t.stun }), samples * t.stun + 1000, `STUN ${u.url}`)
        .catch((err): StunResult => ({ url: u.url, host: u.host, port: u.port, address: null, reachable: false, rttMs: null, mapped: null, local: null, otherAddress: null, rfc5780: false, error: toCheckError(err) }))));
      this.#set('stun', 'done', 'stun', stun);
      this.#set('nat', 'running');
      const natBudget = 4 * t.stun + 3 * (t.behaviour ?? 2000) + (o.lifetimeMaxS ?? 0) * 1000 + 2000;
      const nat = await deadline(checkNat(stun, { timeoutMs: t.stun, behaviourTimeoutMs: t.behaviour, lifetimeMaxS: o.lifetimeMaxS }), natBudget, 'the NAT tests')
        .catch((err): NatResult => ({ ...EMPTY_NAT, notes: [toCheckError(err).message] }));
      this.#set('nat', 'done', 'nat', nat);
      const target = stun.find((s) => s.reachable && s.address);
      if (target && (o.stunBurst ?? !turnTargets.length)) {
        // After the NAT tests, so the two do not share the path's queue.
        quality = await deadline(burstTo(target.address!, target.port), 10_000, 'the STUN burst').catch(() => null);
      }
    })();

    const turn = (async () => {
      if (!turnTargets.length) { this.#set('turn', 'skipped'); return; }
      this.#set('turn', 'running');
      const results = await Promise.all(turnJobs(turnTargets).map((job) => job.run
        ? deadline(checkTurn(job.target.uri, job.transport, job.target.creds, { timeoutMs: t.turn, relayPings: o.relayPings ?? 3, ca: o.ca }), 4 * t.turn + 2000, `TURN ${job.target.uri.url}`)
          .catch((err): TurnResult => ({ ...notTested(job.target.uri, job.transport, ''), status: 'unreachable', note: undefined, error: toCheckError(err) }))
        : Promise.resolve(notTested(job.target.uri, job.transport, job.note))));
      this.#set('turn', 'done', 'turn', results);
    })();

    const ice = (async () => {
      const policies: ('all' | 'relay')[] = turnTargets.length ? ['all', 'relay'] : ['all'];
      if (!iceWorker || (!o.server && !iceServers.length) || (signal && !signal.ok)) {
        void iceWorker?.terminate();
        this.#set('ice', 'skipped');
        return;
      }
      this.#set('ice', 'running');
      const results = await deadline(iceWorker.run(policies.map((policy) => ({ policy, iceServers, timeoutMs: t.ice }))), t.ice + 5000, 'the test calls')
        .catch((err): IceResult[] => policies.map((policy) => ({ policy, connected: false, ms: null, localCandidateType: null, remoteCandidateType: null, gathered: {}, error: toCheckError(err) })));
      this.#set('ice', 'done', 'ice', results);
    })();

    // The uplink test loads werift in its own worker meanwhile, when it may run.
    const uplinkWorker = o.ice === false || o.uplink === false || !turnTargets.some((x) => x.uri.transports.includes('udp')) ? null : new UplinkWorker();
    try {
      await Promise.all([ipFamilies, stunAndNat, turn, ice]);
      // 4. The uplink test, last: it fills the path's queue, which would skew every other measurement.
      await this.#uplink(uplinkWorker, turnTargets);
    } finally {
      await Promise.all([iceWorker?.terminate(), uplinkWorker?.terminate()]);
    }
    const p = this.#progress;
    const nat = p.nat ?? EMPTY_NAT;
    const { verdict, advice } = decideVerdict({
      server: o.server ?? null, stun: p.stun, nat, turn: p.turn, signal: p.signal, ice: p.ice, ip: p.ip,
      turnCredentialsFromServer: turnTargets.some((x) => x.fromServer),
      uplink: p.uplink,
    });
    const qualityLine = quality ? burstAdvice(quality) : null;
    if (qualityLine) advice.push(qualityLine);
    const report: ProbeReport = {
      version: 1,
      startedAt: startedAt.toISOString(),
      durationMs: ms(performance.now() - t0),
      checkMs: { ...this.#checkMs },
      server: o.server ?? null,
      interfaces: p.interfaces,
      ip: p.ip,
      stun: p.stun,
      nat,
      turn: p.turn,
      signal: p.signal,
      ice: p.ice,
      quality,
      uplink: p.uplink,
      verdict,
      advice,
    };
    this.safeEmit('done', report);
    return report;
  }

  /**
   * Runs the uplink test through the first TURN server whose UDP allocation worked, or records
   * why it did not run (the verdict then says the upload is unknown).
   */
  async #uplink(worker: UplinkWorker | null, targets: TurnTarget[]): Promise<void> {
    const o = this.options;
    const skip = (note: string) => this.#set('uplink', 'skipped', 'uplink', uplinkNotMeasured(note));
    if (o.ice === false) return skip('the test calls were skipped (--no-ice)');
    if (o.uplink === false) return skip('--no-uplink was given');
    if (!targets.length) return skip('it needs a TURN server, and none is configured');
    const ok = this.#progress.turn.find((t) => t.status === 'ok' && t.transport === 'udp');
    const target = ok && targets.find((x) => x.uri.host === ok.host && x.uri.port === ok.port && x.uri.transports.includes('udp'));
    if (!targets.some((x) => x.uri.transports.includes('udp'))) return skip('it needs a TURN server over UDP, and only TCP or TLS ones are configured');
    if (!worker || !ok || !target) return skip('no TURN allocation over UDP worked');
    const relayCall = this.#progress.ice.find((i) => i.policy === 'relay');
    if (relayCall && !relayCall.connected) return skip('the relay-only test call did not connect');
    const host = target.uri.host.includes(':') ? `[${target.uri.host}]` : target.uri.host;
    const url = `turn:${host}:${target.uri.port}?transport=udp`;
    this.#set('uplink', 'running');
    const connectTimeoutMs = this.timeouts.ice;
    const result = await worker.run({ iceServers: [{ urls: url, username: target.creds.username, credential: target.creds.credential }], server: url, connectTimeoutMs });
    this.#set('uplink', 'done', 'uplink', result);
  }
}

/** A STUN burst from a fresh socket on the interface that routes to `address`. */
async function burstTo(address: string, port: number): Promise<StunBurstResult> {
  const sock = await openUdp(await sourceAddressFor(address, port));
  try {
    return await stunBurst(sock, address, port);
  } finally {
    closeQuietly(sock);
  }
}

function dedupe<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = key(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function tryParse<T>(parse: (u: string) => T): (u: string) => T[] {
  return (u) => {
    try { return [parse(u)]; } catch { return []; }
  };
}

type TurnJob = { target: TurnTarget; transport: TurnTransport; run: true } | { target: TurnTarget; transport: TurnTransport; run: false; note: string };

/**
 * One job per (host, port, transport) a URL asks for; then, per host, a `not-tested` row for
 * each transport no URL offered, so the report says plainly what was not tried.
 */
function turnJobs(targets: TurnTarget[]): TurnJob[] {
  const jobs: TurnJob[] = [];
  const seen = new Set<string>();
  for (const target of targets) {
    for (const transport of target.uri.transports) {
      const key = `${target.uri.host}|${target.uri.port}|${transport}`;
      if (seen.has(key)) continue;
      seen.add(key);
      jobs.push({ target, transport, run: true });
    }
  }
  const hosts = new Map<string, TurnTarget>();
  for (const t of targets) if (!hosts.has(t.uri.host)) hosts.set(t.uri.host, t);
  for (const [host, target] of hosts) {
    const offered = new Set(jobs.filter((j) => j.target.uri.host === host).map((j) => j.transport));
    for (const transport of ['udp', 'tcp', 'tls'] as const) {
      if (offered.has(transport)) continue;
      const note = transport === 'tls'
        ? `no turns: URL for ${host} is configured, so TURN over TLS was not tried`
        : `no turn: URL for ${host} offers ${transport.toUpperCase()} (add ?transport=${transport} to test it)`;
      jobs.push({ target: { ...target, uri: { ...target.uri, url: '(not configured)' } }, transport, run: false, note });
    }
  }
  return jobs;
}
