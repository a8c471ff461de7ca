/**
 * `npm run soak [-- --duration 600 --bots 300 --burst 10000 --media-pairs 2]`: three `chatzyo
 * serve` nodes and one redis-server on loopback, signal bots with continuous churn (Next, leave,
 * rejoin, reconnect, private calls) and media bot pairs, while a fault schedule runs: a node's
 * stream reader killed (and `CLIENT KILL TYPE pubsub`), a node SIGKILLed and restarted with the
 * same --node-id, Redis restarted, Redis paused (SIGSTOP) past the node TTL, a join burst.
 * At the end it prints the figures and checks: every signal sent to a partner who stayed was
 * delivered exactly once and in order (each bot numbers what it sends), nobody matched twice at
 * once, no ghost in a queue after its node died, the media calls connected, memory back within
 * 10% after the burst, the cluster invariant checker held throughout. Exit code 1 on a failed
 * check. Every loop is bounded in count and time; every process is stopped, also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../src/protocol/index.js';
import { CHECK } from '../src/signal/redis-scripts.js';
import { freeTcpPort, startRedis, type RedisServer } from '../test/helpers/redis.js';

const BIN = path.resolve(fileURLToPath(import.meta.url), '../../bin/chatzyo.js');
const GC_PRELOAD = path.resolve(fileURLToPath(import.meta.url), '../soak-gc.cjs');
/** Hubs of the signal bots; the burst joins hindi, the media bots malayalam (so they pair among themselves). */
const HUBS = ['tamil', 'usa', 'uk'];
const ALL_HUBS = ['global', 'tamil', 'usa', 'uk', 'hindi', 'malayalam'];
const P = '{chz}:';

/** Settings of a soak run. */
export interface SoakOptions {
  durationS: number;
  bots: number;
  burst: number;
  mediaPairs: number;
  nodeTtlMs: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Called with each redis-server process started (the CLI kills it on Ctrl-C). */
  onRedis?: (p: ChildProcess) => void;
}

/** What a run measured and which checks failed. */
export interface SoakReport {
  figures: Record<string, number | string>;
  failures: string[];
}

/** Every process this run started, for Ctrl-C (the run's own cleanup is in runSoak's finally). */
const started = new Set<ChildProcess>();

interface NodeProc { id: string; port: number; url: string; proc: ChildProcess | null; restarts: number }

/** One signal bot's record of a match. */
interface MatchView { bot: number; mid: string; sent: number[]; got: number[]; end: 'open' | 'self' | 'partner'; session: string; node: string; at: number }

// ------------------------------------------------------------------ processes

/** Called when a node's log says it declared another node dead (its heartbeat lapsed). */
type OnDeclaredDead = (node: string, at: number) => void;

async function startNode(n: NodeProc, redisUrl: string, ttl: number, onDeclaredDead: OnDeclaredDead): Promise<void> {
  const proc = spawn(process.execPath, ['--expose-gc', '--require', GC_PRELOAD, BIN, 'serve', '--host', '127.0.0.1', '--port', String(n.port), '--no-stun', '--json', '--log-level', 'warn',
    '--redis', redisUrl, '--node-id', n.id, '--node-ttl', String(ttl), '--max-messages-per-second', '1000',
    '--max-connections-per-address', '100000', '--max-nexts-per-minute', '100000', '--rematch-cooldown', '0', '--interest-wait', '500'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  n.proc = proc;
  started.add(proc);
  let err = '';
  proc.stderr!.on('data', (d) => { err = (err + d).slice(-2000); });
  if (process.env.SOAK_LOG_DIR) proc.stderr!.pipe(createWriteStream(path.join(process.env.SOAK_LOG_DIR, `${n.id}.log`), { flags: 'a' }));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`node ${n.id} did not start in 60 s`)), 60_000);
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; if (out.includes('\n')) { clearTimeout(t); resolve(); } });
    proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`node ${n.id} exited with ${c}: ${err}`)); });
  });
  // The cluster declares a node dead when its heartbeat lapses (on a starved 2-core box a live
  // node can be late too); its calls end by design, both sides told partner-left. Logs go to stderr.
  let lines = '';
  proc.stderr!.on('data', (d) => {
    lines += d;
    let i: number;
    while ((i = lines.indexOf('\n')) >= 0) {
      const line = lines.slice(0, i);
      lines = lines.slice(i + 1);
      if (!line.includes('node is gone')) continue;
      try { const j = JSON.parse(line) as { node?: string }; if (j.node) onDeclaredDead(j.node, Date.now()); } catch { /* not a log line */ }
    }
  });
}

async function stopProc(p: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

async function scrape(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  } catch { /* the node is down: nothing this time */ }
  return out;
}

// ------------------------------------------------------------------ signal bots

/** A small protocol client that numbers everything it sends its partner. */
class SoakBot {
  ws: WebSocket | null = null;
  session = '';
  node = '';
  mid: string | null = null;
  view: MatchView | null = null;
  state: 'down' | 'ready' | 'waiting' | 'matched' = 'down';
  privateCode: string | null = null;
  /** A 'matched' before the server answered this ping came before our leave: the leave ended it. */
  #leavePing: number | null = null;
  #n = 0;
  /** The last events this bot saw (time since start, what), for the details of a failed check. */
  readonly trace: [number, string][] = [];
  constructor(readonly index: number, readonly soak: Soak) {}

  #note(what: string): void {
    if (this.trace.length >= 2000) this.trace.shift();
    this.trace.push([Date.now(), what]);
  }

  connect(node: NodeProc): void {
    this.node = node.id;
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}/ws`);
    this.ws = ws;
    ws.on('error', () => { /* seen as close */ });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION })));
    ws.on('message', (d) => this.#on(JSON.parse(d.toString())));
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#end('self');
      this.state = 'down';
    });
  }

  send(msg: { type: string; [k: string]: unknown }): void {
    this.#note(`> ${msg.type}${msg.matchId ? ` ${String(msg.matchId)}` : ''}`);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  #end(how: 'self' | 'partner'): void {
    if (this.view && this.view.end === 'open') this.view.end = how;
    this.view = null;
    this.mid = null;
  }

  #on(m: { type: string; [k: string]: unknown }): void {
    const s = this.soak;
    if (m.type !== 'pong') this.#note(`< ${m.type}${m.matchId ? ` ${String(m.matchId)}` : ''}${m.code ? ` ${String(m.code)}` : ''}${m.reason ? ` ${String(m.reason)}` : ''}`);
    switch (m.type) {
      case 'welcome':
        this.session = m.sessionId as string;
        s.sessionNode.set(this.session, this.node);
        this.state = 'ready';
        return;
      case 'queued': this.state = 'waiting'; return;
      case 'private-created': this.privateCode = m.code as string; this.state = 'waiting'; s.codes.push(m.code as string); return;
      case 'matched': {
        if (this.view && this.view.end === 'open') {
          s.doubleMatches++;
          // With what the bot saw before (ms before this match): how the first match was left open.
          const now = Date.now();
          const before = this.trace.slice(-12).map(([t, w]) => `-${now - t}ms ${w}`).join(' | ');
          if (s.doubleDetails.length < 5) s.doubleDetails.push(`bot ${this.index} on ${this.node}: matched ${String(m.matchId)} while in ${this.view.mid} since ${now - this.view.at} ms (${before})`);
        }
        this.mid = m.matchId as string;
        this.state = 'matched';
        this.privateCode = null;
        this.view = { bot: this.index, mid: this.mid, sent: [], got: [], end: 'open', session: this.session, node: this.node, at: Date.now() };
        s.views.push(this.view);
        if (this.#leavePing !== null) { this.#end('self'); this.state = 'ready'; return; }
        if (m.role === 'offerer') this.signal('offer');
        return;
      }
      case 'pong':
        if (m.id === this.#leavePing) this.#leavePing = null;
        return;
      case 'signal': {
        const data = m.data as { kind: string; sdp?: string; candidate?: { candidate: string } };
        const text = data.sdp ?? data.candidate?.candidate ?? '';
        const [, k, at] = text.split(' ');
        if (this.view && m.matchId === this.view.mid) {
          this.view.got.push(Number(k));
          if (Number(at) > 1e12) s.lags.push(Date.now() - Number(at));
          if (data.kind === 'offer') this.signal('answer');
        } else s.strays++;
        return;
      }
      case 'partner-left':
        if (m.matchId === this.mid) { this.#end('partner'); this.state = 'ready'; }
        return;
      case 'error':
        s.errors.set(m.code as string, (s.errors.get(m.code as string) ?? 0) + 1);
        if (m.code === 'CHZ_ERR_PRIVATE_NOT_FOUND' || m.code === 'CHZ_ERR_PRIVATE_FULL' || m.code === 'CHZ_ERR_UNAVAILABLE') this.state = 'ready';
        return;
      default:
    }
  }

  /** Sends the next numbered signal (offer, answer or a candidate), with the time it left. */
  signal(kind: 'offer' | 'answer' | 'candidate'): void {
    if (!this.view || !this.mid) return;
    const k = ++this.#n;
    const text = `soak ${k} ${Date.now()}`;
    this.view.sent.push(k);
    this.send({ type: 'signal', matchId: this.mid, data: kind === 'candidate' ? { kind, candidate: { candidate: text } } : { kind, sdp: text } });
  }

  /** Leaves; a match that reaches us before the server has handled the leave is over too. */
  leave(): void {
    this.#end('self');
    this.send({ type: 'leave' });
    this.#leavePing = ++this.soak.pings;
    this.send({ type: 'ping', id: this.#leavePing });
    this.state = 'ready';
  }

  /** One random step of churn. */
  step(r: number): void {
    const s = this.soak;
    if (this.state === 'down') { if (!this.ws) this.connect(s.pickNode()); return; }
    if (this.state === 'ready') {
      if (r < 0.1 && s.codes.length) this.send({ type: 'private-join', code: s.codes.shift() });
      else if (r < 0.15) this.send({ type: 'private-create' });
      else this.send({ type: 'join', hub: HUBS[this.index % HUBS.length] });
      this.state = 'waiting';
      return;
    }
    if (this.state !== 'matched') {
      if (r < 0.02) this.leave();
      return;
    }
    if (r < 0.6) { this.signal('candidate'); this.signal('candidate'); return; }
    if (r < 0.8) { this.#end('self'); this.send({ type: 'next' }); this.state = 'waiting'; return; }
    if (r < 0.9) { this.leave(); return; }
    if (r < 0.95) { this.#end('self'); this.ws?.close(); return; }
    this.signal('candidate');
  }
}

class Soak {
  readonly views: MatchView[] = [];
  readonly sessionNode = new Map<string, string>();
  readonly codes: string[] = [];
  readonly lags: number[] = [];
  readonly errors = new Map<string, number>();
  doubleMatches = 0;
  readonly doubleDetails: string[] = [];
  pings = 0;
  strays = 0;
  nodes: NodeProc[] = [];
  /** Times each node was down (killed to restarted). */
  readonly down = new Map<string, [number, number][]>();
  pickNode(): NodeProc {
    const up = this.nodes.filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);
    return up[Math.floor(Math.random() * up.length)] ?? this.nodes[0]!;
  }
  /** Times a node was declared dead by another (its heartbeat lapsed). */
  readonly declaredDead: { node: string; at: number }[] = [];
  readonly startedAt = Date.now();
  nodeDiedDuring(node: string, from: number, to: number): boolean {
    return (this.down.get(node) ?? []).some(([a, b]) => a <= to && b >= from)
      || this.declaredDead.some((d) => d.node === node && d.at >= from && d.at <= to);
  }
}

// ------------------------------------------------------------------ the run

/** Runs the soak; resolves with its figures and failed checks (it throws only when it cannot run). */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => undefined);
  const failures: string[] = [];
  const soak = new Soak();
  let redis: RedisServer | null = null;
  let admin: Redis | null = null;
  let media: ChildProcess | null = null;
  const bots: SoakBot[] = [];
  const burstSockets: WebSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  const metricsTotals = new Map<string, Map<string, number>>();
  const lastScrape = new Map<string, Map<string, number>>();
  let invariantChecks = 0;
  const invariantProblems: string[] = [];
  const faults: string[] = [];
  let churning = false;
  try {
    redis = await startRedis({ persistent: true });
    o.onRedis?.(redis.proc);
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => 200 });
    admin.on('error', () => { /* Redis is restarted and paused on purpose */ });
    await admin.connect();
    admin.defineCommand('czCheck', { numberOfKeys: 0, lua: CHECK });
    const declared: OnDeclaredDead = (node, at) => {
      soak.declaredDead.push({ node, at });
      log(`t+${((at - soak.startedAt) / 1000).toFixed(1)}s a node declared ${node} dead (its heartbeat lapsed)`);
    };
    for (const id of ['n1', 'n2', 'n3']) soak.nodes.push({ id, port: await freeTcpPort(), url: '', proc: null, restarts: 0 });
    for (const n of soak.nodes) { n.url = `http://127.0.0.1:${n.port}`; await startNode(n, redis.url, o.nodeTtlMs, declared); }
    log(`redis on ${redis.port}; nodes on ${soak.nodes.map((n) => n.port).join(', ')}`);

    // Metrics are scraped as the run goes: a node that restarts starts its counters over.
    const scrapeAll = async () => {
      for (const n of soak.nodes) {
        const now = await scrape(n.url);
        if (!now.size) continue;
        const prev = lastScrape.get(n.id);
        const tot = metricsTotals.get(n.id) ?? new Map<string, number>();
        for (const [k, v] of now) {
          const p = prev?.get(k) ?? 0;
          tot.set(k, (tot.get(k) ?? 0) + (v >= p ? v - p : v));
        }
        metricsTotals.set(n.id, tot);
        lastScrape.set(n.id, now);
      }
    };
    timers.push(setInterval(() => void scrapeAll(), 2000));
    const checkInvariants = async () => {
      try {
        const problem = await (admin as unknown as { czCheck(p: string, h: string): Promise<string> }).czCheck(P, JSON.stringify(ALL_HUBS));
        invariantChecks++;
        if (problem && invariantProblems.length < 10) invariantProblems.push(problem);
      } catch { /* Redis down or paused: checked again next time */ }
    };
    timers.push(setInterval(() => void checkInvariants(), 500));

    if (o.mediaPairs > 0) {
      // Media pairs on the two nodes that are never killed: their calls must all connect.
      media = spawn(process.execPath, [BIN, 'bots', '--mode', 'media', '--count', String(o.mediaPairs * 2), '--server', `${soak.nodes[0]!.url},${soak.nodes[1]!.url}`,
        '--duration', String(Math.max(20, o.durationS - 5)), '--next-every', '8', '--rooms', 'malayalam', '--json', '--match-timeout', '60', '--connect-timeout', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    }
    if (media) started.add(media);
    let mediaOut = '';
    media?.stdout!.on('data', (d) => { mediaOut += d; });
    let mediaErr = '';
    media?.stderr!.on('data', (d) => { mediaErr = (mediaErr + d).slice(-4000); });
    const mediaExit = media ? new Promise<number | null>((r) => media!.once('exit', (c) => r(c))) : Promise.resolve(0);

    for (let i = 0; i < o.bots; i++) { const b = new SoakBot(i, soak); bots.push(b); b.connect(soak.nodes[i % 3]!); }
    churning = true;
    const churn = async () => {
      while (churning) {
        for (const b of bots) if (Math.random() < 0.15) b.step(Math.random());
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const churnDone = churn();

    const t0 = Date.now();
    const D = o.durationS * 1000;
    const at = (f: number) => new Promise<void>((r) => { const t = setTimeout(r, Math.max(0, t0 + f * D - Date.now())); timers.push(t); });
    const ttl = o.nodeTtlMs;
    const cycles = Math.max(1, Math.floor(o.durationS / 150));
    let burstFigures: Record<string, number> = {};
    for (let c = 0; c < cycles; c++) {
      const base = c / cycles;
      const span = 1 / cycles;
      await at(base + span * 0.08);
      log(`cycle ${c + 1}/${cycles}`);
      const pubsub = await admin.client('KILL', 'TYPE', 'pubsub').catch(() => 0);
      const list = (await admin.client('LIST')) as string;
      const reader = list.split('\n').find((l) => l.includes(' name=chatzyo:reader:n1 '));
      if (reader) await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(reader)![1]!);
      faults.push(`${s(t0)} CLIENT KILL TYPE pubsub (${pubsub} killed: none subscribes now) and n1's stream reader`);

      await at(base + span * 0.18);
      const victim = soak.nodes[2]!;
      const onVictim = new Set(bots.filter((b) => b.node === victim.id && b.session).map((b) => b.session));
      const killedAt = Date.now();
      await stopProc(victim.proc, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 1000));
      await startNode(victim, redis.url, ttl, declared);
      victim.restarts++;
      soak.down.set(victim.id, [...(soak.down.get(victim.id) ?? []), [killedAt, Date.now()]]);
      faults.push(`${s(t0)} SIGKILL n3 (${onVictim.size} bots on it), restarted as n3 after ${Date.now() - killedAt} ms`);
      // No ghost: within two node TTLs none of its former clients is in a queue or a match.
      const ghostDeadline = Date.now() + 2 * ttl + 2000;
      let ghosts = -1;
      while (Date.now() < ghostDeadline) {
        try {
          const queued = (await Promise.all(HUBS.map((h) => admin!.lrange(`${P}q:${h}`, 0, -1)))).flat();
          ghosts = queued.filter((id) => onVictim.has(id)).length;
          if (ghosts === 0) break;
        } catch { /* retried */ }
        await new Promise((r) => setTimeout(r, 200));
      }
      if (ghosts !== 0) failures.push(`${ghosts} clients of the killed node still queued ${2 * ttl + 2000} ms after it died`);

      await at(base + span * 0.32);
      await redis.stop('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      await redis.restart();
      o.onRedis?.(redis.proc);
      faults.push(`${s(t0)} Redis restarted (SIGTERM; its append-only file brings its data back)`);

      await at(base + span * 0.46);
      redis.proc.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, ttl + 1000));
      redis.proc.kill('SIGCONT');
      faults.push(`${s(t0)} Redis paused (SIGSTOP) for ${ttl + 1000} ms (node TTL ${ttl} ms)`);

      if (c === 0 && o.burst > 0) {
        await at(base + span * 0.6);
        burstFigures = await joinBurst(o.burst, soak, burstSockets, log);
        faults.push(`${s(t0)} join burst of ${o.burst} clients (${burstFigures.burstConnected} connected, ${burstFigures.burstAnswered} queued or matched)`);
      }
      log(faults.slice(-5).join('\n'));
    }
    await at(1);
    churning = false;
    await churnDone;
    // Let what is in flight land: every bot round-trips a ping through its node.
    await Promise.race([Promise.all(bots.map((b) => b.ws && b.ws.readyState === WebSocket.OPEN ? new Promise<void>((r) => { b.ws!.once('pong', () => r()); b.ws!.ping(); }) : Promise.resolve())),
      new Promise((r) => setTimeout(r, 10_000))]);
    // Then until every match still open on both sides has everything its partner sent (bounded).
    const owed = () => {
      const open = new Map<string, MatchView[]>();
      for (const v of soak.views) if (v.end !== 'self') open.set(v.mid, [...(open.get(v.mid) ?? []), v]);
      let n = 0;
      for (const vs of open.values()) if (vs.length === 2) n += Math.max(0, vs[0]!.sent.length - vs[1]!.got.length) + Math.max(0, vs[1]!.sent.length - vs[0]!.got.length);
      return n;
    };
    for (const end = Date.now() + 15_000; owed() > 0 && Date.now() < end;) await new Promise((r) => setTimeout(r, 200));
    await scrapeAll();
    await checkInvariants();
    const mediaCode = await Promise.race([mediaExit, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);

    // ---------------------------------------------------------------- checks
    const lostDetails: string[] = [];
    let sent = 0; let delivered = 0; let dup = 0; let reordered = 0; let lost = 0; let lostExcused = 0; let lostClusterEnded = 0;
    const clusterEndedDetails: string[] = [];
    const byMid = new Map<string, MatchView[]>();
    for (const v of soak.views) byMid.set(v.mid, [...(byMid.get(v.mid) ?? []), v]);
    let threeWay = 0;
    for (const [, vs] of byMid) {
      if (vs.length > 2) { threeWay++; continue; }
      if (vs.length < 2) { for (const v of vs) sent += v.sent.length; continue; }
      for (const [a, b] of [[vs[0]!, vs[1]!], [vs[1]!, vs[0]!]] as const) {
        sent += a.sent.length;
        delivered += b.got.length;
        const seen = new Set<number>();
        let last = -1;
        for (const k of b.got) {
          if (seen.has(k)) dup++;
          else if (k < last) reordered++;
          seen.add(k);
          last = Math.max(last, k);
        }
        const missing = a.sent.filter((k) => !seen.has(k)).length;
        // B owes A's every signal unless B ended the match first, or a node of theirs died.
        const excused = b.end === 'self' || soak.nodeDiedDuring(a.node, a.at, Date.now()) || soak.nodeDiedDuring(b.node, b.at, Date.now());
        const detail = () => `match ${a.mid}: bot ${a.bot} (${a.node}, ended ${a.end}) -> bot ${b.bot} (${b.node}, ended ${b.end}), `
          + `missing ${a.sent.filter((k) => !seen.has(k)).join(',')} of ${a.sent.join(',')}, got ${b.got.join(',')}, matched t+${((a.at - t0) / 1000).toFixed(1)}s`
          + `\n  bot ${a.bot} saw: ${around(bots[a.bot]!, a.at, t0)}\n  bot ${b.bot} saw: ${around(bots[b.bot]!, a.at, t0)}`;
        if (excused) lostExcused += missing;
        else if (missing && a.end === 'partner' && b.end === 'partner') {
          // Neither side left: the cluster ended the match and told both (no one waits forever),
          // but a partner who stayed up lost the signal all the same.
          lostClusterEnded += missing;
          if (clusterEndedDetails.length < 5) clusterEndedDetails.push(detail());
        } else if (missing) {
          lost += missing;
          if (lostDetails.length < 5) lostDetails.push(detail());
        }
      }
    }
    const sum = (name: string) => [...metricsTotals.values()].reduce((acc, m) => acc + [...m].filter(([k]) => k === name || k.startsWith(name + '{')).reduce((x, [, v]) => x + v, 0), 0);
    const drops = ['client-gone', 'match-ended', 'stale', 'duplicate', 'gap', 'expired', 'overflow', 'malformed', 'handler']
      .map((r) => `${r}=${sum(`chatzyo_cross_node_dropped_total{reason="${r}"}`)}`).join(' ');
    const lags = soak.lags.filter(Number.isFinite).sort((x, y) => x - y);
    const pct = (q: number) => lags.length ? lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]! : NaN;
    const mediaSummary = parseMedia(mediaOut);
    if (mediaSummary.failed || mediaCode !== 0) log(`media bots: ${mediaErr.slice(-1500)}\n${mediaOut.slice(0, 3000)}`);
    const figures: Record<string, number | string> = {
      durationS: o.durationS, signalBots: o.bots, mediaBots: o.mediaPairs * 2,
      matchesSeen: byMid.size, signalsSent: sent, signalsDelivered: delivered, duplicates: dup, reordered, lost, lostInMatchesTheClusterEnded: lostClusterEnded, notOwed: lostExcused,
      doubleMatches: soak.doubleMatches, threeWayMatches: threeWay,
      crossNodeSent: sum('chatzyo_cross_node_sent_total'), crossNodeDelivered: sum('chatzyo_cross_node_delivered_total'),
      crossNodeReplayed: sum('chatzyo_cross_node_replayed_total'), crossNodeDropped: drops,
      nodeMatches: sum('chatzyo_matches_total'),
      lagP50Ms: pct(0.5), lagP99Ms: pct(0.99), lagMaxMs: lags.at(-1) ?? NaN,
      nodesDeclaredDead: soak.declaredDead.length,
      invariantChecks, mediaExit: String(mediaCode), mediaAttempts: mediaSummary.attempts, mediaFailed: mediaSummary.failed, mediaConnected: mediaSummary.connected,
      errors: [...soak.errors].map(([k, v]) => `${k}=${v}`).join(' ') || 'none',
      ...burstFigures,
    };
    if (dup) failures.push(`${dup} signals delivered twice`);
    if (reordered) failures.push(`${reordered} signals out of order`);
    if (lost) failures.push(`${lost} signals to a partner who stayed were never delivered: ${lostDetails.join('; ')}`);
    if (lostClusterEnded) {
      failures.push(`${lostClusterEnded} signals lost in matches the cluster ended (both sides told partner-left, neither left): ${clusterEndedDetails.join('; ')}`);
    }
    if (soak.doubleMatches) failures.push(`${soak.doubleMatches} times a bot was matched while still in a match: ${soak.doubleDetails.join('; ')}`);
    if (threeWay) failures.push(`${threeWay} matches reached more than two bots`);
    if (invariantProblems.length) failures.push(`cluster invariant broken: ${invariantProblems.join('; ')}`);
    if (invariantChecks < 5) failures.push(`the invariant checker ran only ${invariantChecks} times`);
    if (o.mediaPairs > 0 && (mediaCode !== 0 || mediaSummary.failed > 0)) failures.push(`media bots: exit ${mediaCode}, ${mediaSummary.failed} of ${mediaSummary.attempts} calls failed`);
    if (burstFigures.burstHeapRatio !== undefined && burstFigures.burstHeapRatio > 1.1) failures.push(`heap after the burst is ${burstFigures.burstHeapRatio.toFixed(2)}x the level before (limit 1.10)`);
    figures.faults = faults.length;
    log(faults.join('\n'));
    return { figures, failures };
  } finally {
    churning = false;
    for (const t of timers) { clearInterval(t); clearTimeout(t); }
    for (const b of bots) b.ws?.terminate();
    for (const w of burstSockets) w.terminate();
    try { redis?.proc.kill('SIGCONT'); } catch { /* gone */ }
    await stopProc(media, 'SIGTERM');
    await Promise.all(soak.nodes.map((n) => stopProc(n.proc)));
    admin?.disconnect();
    await redis?.stop().catch(() => redis?.proc.kill('SIGKILL'));
  }
}

/** A bot's events from 3 s before `at` to 10 s after, for a failed check's details. */
function around(bot: SoakBot, at: number, t0: number): string {
  return bot.trace.filter(([t]) => t >= at - 3000 && t <= at + 10_000).map(([t, w]) => `${((t - t0) / 1000).toFixed(2)} ${w}`).join(' | ');
}

function s(t0: number): string { return `t+${((Date.now() - t0) / 1000).toFixed(0)}s`; }

/** The media bots' summary (`chatzyo bots --json` prints one JSON document at the end). */
function parseMedia(out: string): { attempts: number; failed: number; connected: number } {
  try {
    const start = out.lastIndexOf('\n{\n');
    const j = JSON.parse(out.slice(start >= 0 ? start + 1 : out.indexOf('{'))) as { connected: number; attempts: { succeeded: number; failed: number; unfinished: number } };
    return { attempts: j.attempts.succeeded + j.attempts.failed, failed: j.attempts.failed, connected: j.connected };
  } catch {
    return { attempts: NaN, failed: NaN, connected: NaN };
  }
}

/** Heap in use per node after a full collection (see soak-gc.cjs; the lowest of a few samples). */
async function heaps(soak: Soak): Promise<number> {
  let total = 0;
  for (const n of soak.nodes) {
    n.proc?.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 500));
    let min = Infinity;
    for (let i = 0; i < 5; i++) {
      const m = await scrape(n.url);
      const v = m.get('chatzyo_nodejs_heap_size_used_bytes');
      if (v !== undefined) min = Math.min(min, v);
      await new Promise((r) => setTimeout(r, 400));
    }
    total += Number.isFinite(min) ? min : 0;
  }
  return total;
}

/** `count` clients connect, join and then leave, spread over the nodes; bounded in time. */
async function joinBurst(count: number, soak: Soak, sockets: WebSocket[], log: (l: string) => void): Promise<Record<string, number>> {
  const before = await heaps(soak);
  let connected = 0; let answered = 0;
  const t0 = Date.now();
  const deadline = t0 + 60_000;
  for (let i = 0; i < count && Date.now() < deadline; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, k) => {
      const n = soak.nodes[(i + k) % 3]!;
      const ws = new WebSocket(`ws://127.0.0.1:${n.port}/ws`);
      sockets.push(ws);
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20_000);
        ws.on('error', () => { clearTimeout(t); resolve(); });
        ws.on('close', () => { clearTimeout(t); resolve(); });
        ws.on('open', () => { connected++; ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION })); ws.send(JSON.stringify({ type: 'join', hub: 'hindi' })); });
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as { type: string };
          if (m.type === 'queued' || m.type === 'matched') { answered++; clearTimeout(t); resolve(); }
        });
      });
    });
    await Promise.all(batch);
  }
  const took = Date.now() - t0;
  for (const w of sockets.splice(0)) w.close();
  // Memory is compared once the cluster has had time to clean up and collect: up to a minute.
  await new Promise((r) => setTimeout(r, 10_000));
  let after = await heaps(soak);
  for (const end = Date.now() + 50_000; after > before * 1.1 && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 3000));
    after = await heaps(soak);
  }
  log(`burst: ${connected}/${count} connected, ${answered} answered in ${took} ms; heap ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB`);
  return { burstConnected: connected, burstAnswered: answered, burstMs: took, burstHeapBeforeMiB: +(before / 2 ** 20).toFixed(1), burstHeapAfterMiB: +(after / 2 ** 20).toFixed(1), burstHeapRatio: +(after / before).toFixed(3) };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const options: SoakOptions = {
    durationS: arg('duration', 600), bots: arg('bots', 300), burst: arg('burst', 10_000), mediaPairs: arg('media-pairs', 2), nodeTtlMs: arg('node-ttl', 3000),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of started) p.kill('SIGKILL');
      process.exit(130);
    });
  }
  runSoak({ ...options, onRedis: (p) => started.add(p) }).then((r) => {
    const w = Math.max(...Object.keys(r.figures).map((k) => k.length));
    for (const [k, v] of Object.entries(r.figures)) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
    process.stdout.write(r.failures.length ? `FAILED:\n- ${r.failures.join('\n- ')}\n` : 'PASSED: every check held\n');
    process.exitCode = r.failures.length ? 1 : 0;
  }, (err: unknown) => {
    process.stderr.write(`soak could not run: ${(err as Error).stack}\n`);
    process.exitCode = 2;
  });
}
