/**
 * bench:signal — N clients (default 10,000) connect to `chatzyo serve` (in other processes),
 * join hubs, get matched and exchange an offer, an answer and four candidates each. Prints pairs
 * per second, time-to-match percentiles (in the burst, and one pair at a time on an idle server),
 * relayed messages per second, server memory per idle client, and a bare `ws` echo server's
 * round-trip rate measured in the same run as the baseline.
 *
 *   npm run bench:signal -- [--clients 10000] [--seconds 5] [--concurrency 200]
 *   npm run bench:signal -- --nodes 2 --redis     # also run N nodes sharing one redis-server
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { quantile, spawnJson, stop, stopChildrenOnStop, table, tracked } from './lib.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('clients', 10_000);
const SECONDS = opt('seconds', 5);
const CONCURRENCY = opt('concurrency', 200);
const NODES = opt('nodes', 2);
const WITH_REDIS = args.includes('--redis');
const HUBS = ['global', 'tamil', 'usa', 'uk', 'hindi'];
/** Kept out of the burst, for the one-pair-at-a-time latency phase. */
const IDLE_HUB = 'malayalam';
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

interface Client { ws: WebSocket; onMessage: (m: any) => void }

function open(url: string, onMessage: (m: any) => void = () => {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const c: Client = { ws, onMessage };
    ws.on('message', (d) => c.onMessage(JSON.parse(d.toString())));
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
}

async function hello(url: string): Promise<Client> {
  let welcomed!: () => void;
  const p = new Promise<void>((r) => (welcomed = r));
  const c = await open(url, (m) => { if (m.type === 'welcome') welcomed(); });
  c.ws.send(JSON.stringify({ type: 'hello', version: 1 }));
  await p;
  return c;
}

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => make(i + k)))));
  return out;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** redis-server's working directories, removed when it stops or the bench is stopped. */
const redisDirs: string[] = [];

async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-bench-redis-'));
  // Pub/sub carries every cross-node signal: a subscriber that falls behind in a burst must not
  // be cut off by the default 32 MB output-buffer limit (see README, scaling out).
  redisDirs.push(dir);
  const proc = tracked(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--client-output-buffer-limit', 'pubsub 256mb 64mb 60'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; if (out.includes('Ready to accept')) resolve(); });
    proc.once('exit', (c) => reject(new Error(`redis-server exited ${c}`)));
  });
  return { url: `redis://127.0.0.1:${port}/0`, stop: async () => { await stop(proc); rmSync(dir, { recursive: true, force: true }); } };
}

async function startNodes(count: number, redisUrl?: string) {
  const nodes = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await spawnJson(process.execPath, [
      path.join(root, 'bin/chatzyo.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--no-stun', '--json', '--log-level', 'warn',
      '--max-connections-per-address', String(N + 1000), '--max-messages-per-second', '100000',
      ...(redisUrl ? ['--redis', redisUrl] : []),
    ]));
  }
  return nodes.map((n) => ({ proc: n.proc, url: n.first.url as string, wsUrl: (n.first.url as string).replace('http', 'ws') + '/ws' }));
}

interface Result {
  label: string;
  nodes: number;
  pairsPerSecond: number;
  burstP50: number; burstP95: number; burstP99: number;
  idleP50: number; idleP99: number;
  relayedPerSecond: number;
  rssPerClientKb: number;
  exchanged: number;
}

async function scenario(label: string, nodeCount: number, redisUrl?: string): Promise<Result> {
  const nodes = await startNodes(nodeCount, redisUrl);
  log(`${label}: ${nodes.length} node(s) up`);
  try {
    // ---- memory per idle client (first node)
    const rssBefore = await metric(nodes[0]!.url, 'chatzyo_process_resident_memory_bytes');
    const clients = await inBatches(N, 500, (i) => hello(nodes[i % nodes.length]!.wsUrl));
    await new Promise((r) => setTimeout(r, 1500)); // let the server settle before reading RSS
    const rssAfter = await metric(nodes[0]!.url, 'chatzyo_process_resident_memory_bytes');
    const rssPerClientKb = (rssAfter - rssBefore) / Math.ceil(N / nodes.length) / 1024;
    log(`${label}: ${N} clients welcomed`);

    // ---- burst: everyone joins at once; match + offer/answer/4 candidates each
    const timeToMatch: number[] = [];
    let matchedPairs = 0;
    let exchanged = 0;
    const joins: (() => void)[] = [];
    const allDone = new Promise<void>((resolve) => {
      clients.forEach((c, i) => {
        let joinedAt = 0;
        let matchId = '';
        let got = 0;
        const sendCandidates = () => {
          for (let k = 0; k < 4; k++) c.ws.send(JSON.stringify({ type: 'signal', matchId, data: { kind: 'candidate', candidate: { candidate: `candidate:${k} 1 udp 2122260223 127.0.0.1 ${5000 + k} typ host`, sdpMid: '0', sdpMLineIndex: 0 } } }));
        };
        c.onMessage = (m) => {
          if (m.type === 'matched') {
            timeToMatch.push(performance.now() - joinedAt);
            matchId = m.matchId;
            if (m.role === 'offerer') {
              matchedPairs++;
              c.ws.send(JSON.stringify({ type: 'signal', matchId, data: { kind: 'offer', sdp: 'v=0\r\n'.repeat(200) } }));
              sendCandidates();
            }
          } else if (m.type === 'signal') {
            got++;
            if (m.data.kind === 'offer') {
              c.ws.send(JSON.stringify({ type: 'signal', matchId, data: { kind: 'answer', sdp: 'v=0\r\n'.repeat(200) } }));
              sendCandidates();
            }
            if (got === 5 && ++exchanged === N) resolve();
          }
        };
        // Clients 2k and 2k+1 share a hub, so every hub gets an even number.
        joins.push(() => { joinedAt = performance.now(); c.ws.send(JSON.stringify({ type: 'join', hub: HUBS[Math.floor(i / 2) % HUBS.length] })); });
      });
    });
    const t0 = performance.now();
    for (const j of joins) j();
    await Promise.race([allDone, new Promise((r) => setTimeout(r, 120_000))]);
    const burstS = (performance.now() - t0) / 1000;
    log(`${label}: burst done in ${burstS.toFixed(2)} s (${exchanged}/${N} exchanged)`);
    for (const c of clients) c.ws.terminate();

    // ---- idle latency: one pair at a time (fresh clients: the rematch cooldown is per session),
    // measured from the second joiner's join to its matched
    const idle: number[] = [];
    for (let k = 0; k < 200; k++) {
      const a = await hello(nodes[0]!.wsUrl);
      const b = await hello(nodes[nodes.length - 1]!.wsUrl);
      const queued = new Promise<void>((r) => (a.onMessage = (m) => { if (m.type === 'queued') r(); }));
      a.ws.send(JSON.stringify({ type: 'join', hub: IDLE_HUB }));
      await queued;
      const matched = new Promise<void>((r) => (b.onMessage = (m) => { if (m.type === 'matched') r(); }));
      const s = performance.now();
      b.ws.send(JSON.stringify({ type: 'join', hub: IDLE_HUB }));
      await matched;
      idle.push(performance.now() - s);
      const left = new Promise<void>((r) => (a.onMessage = (m) => { if (m.type === 'partner-left') r(); }));
      b.ws.send(JSON.stringify({ type: 'leave' }));
      await left;
      a.ws.terminate();
      b.ws.terminate();
    }

    // ---- steady relay throughput: CONCURRENCY pairs ping-pong signals for SECONDS
    const rel = await inBatches(CONCURRENCY * 2, 200, async (i) => {
      let matched!: (id: string) => void;
      const p = new Promise<string>((r) => (matched = r));
      const c = await hello(nodes[i % nodes.length]!.wsUrl);
      c.onMessage = (m) => { if (m.type === 'matched') matched(m.matchId); };
      c.ws.send(JSON.stringify({ type: 'join', hub: 'global' }));
      return { c, id: await Promise.race([p, new Promise<string>((r) => setTimeout(() => r(''), 10_000))]) };
    });
    const byMatch = new Map<string, Client[]>();
    for (const { c, id } of rel) { const l = byMatch.get(id) ?? []; l.push(c); byMatch.set(id, l); }
    let count = 0;
    let running = true;
    for (const [id, l] of byMatch) {
      if (l.length !== 2) continue;
      const msg = JSON.stringify({ type: 'signal', matchId: id, data: { kind: 'end-of-candidates' } });
      for (const me of l) me.onMessage = (m) => { if (m.type === 'signal') { count++; if (running) me.ws.send(msg); } };
      l[0]!.ws.send(msg);
    }
    const start = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    running = false;
    const relayedPerSecond = count / ((performance.now() - start) / 1000);
    for (const { c } of rel) c.ws.terminate();
    return {
      label, nodes: nodeCount, pairsPerSecond: matchedPairs / burstS, exchanged,
      burstP50: quantile(timeToMatch, 0.5), burstP95: quantile(timeToMatch, 0.95), burstP99: quantile(timeToMatch, 0.99),
      idleP50: quantile(idle, 0.5), idleP99: quantile(idle, 0.99), relayedPerSecond, rssPerClientKb,
    };
  } finally {
    for (const n of nodes) await stop(n.proc);
  }
}

async function echoBaseline(): Promise<number> {
  const { proc, first } = await spawnJson(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'bench/echo-server.ts')]);
  try {
    const url = `ws://127.0.0.1:${first.port}`;
    const conns = await inBatches(CONCURRENCY * 2, 200, () => open(url));
    let count = 0;
    let running = true;
    // One message in flight per pair of connections, as in the relay measurement.
    for (const c of conns.slice(0, CONCURRENCY)) {
      c.onMessage = () => { count++; if (running) c.ws.send('{"type":"signal","matchId":"x","data":{"kind":"end-of-candidates"}}'); };
      c.ws.send('{"type":"signal","matchId":"x","data":{"kind":"end-of-candidates"}}');
    }
    const s = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    running = false;
    const perSecond = count / ((performance.now() - s) / 1000);
    for (const c of conns) c.ws.terminate();
    return perSecond;
  } finally {
    await stop(proc);
  }
}

async function main() {
  // Keep the process alive while awaiting socket events, so a lost message shows as a hang, not a silent exit.
  const keepAlive = setInterval(() => {}, 1 << 30);
  // Stopped mid-run: no node, echo server or redis-server left behind, nor redis-server's directory.
  stopChildrenOnStop(() => { for (const d of redisDirs) rmSync(d, { recursive: true, force: true }); });
  const echo = await echoBaseline();
  log(`echo baseline ${Math.round(echo)} round trips/s`);
  const results: Result[] = [await scenario('1 node, in-memory', 1)];
  if (WITH_REDIS) {
    const redis = await startRedis();
    try {
      results.push(await scenario(`${NODES} nodes, Redis`, NODES, redis.url));
    } finally {
      await redis.stop();
    }
  }
  console.log(`\nbench:signal  clients=${N}  relay pairs=${CONCURRENCY}  window=${SECONDS}s  node ${process.version}\n`);
  const rows: (string | number)[][] = [['measure', ...results.map((r) => r.label), 'target']];
  const add = (name: string, f: (r: Result) => number, target = '') => rows.push([name, ...results.map(f), target]);
  add('pairs matched per second (burst, incl. exchange)', (r) => r.pairsPerSecond);
  add('pairs matched per second per node', (r) => r.pairsPerSecond / r.nodes);
  add('clients that completed offer/answer/4 candidates', (r) => r.exchanged, String(N));
  add('time to match p50, burst (ms)', (r) => r.burstP50);
  add('time to match p95, burst (ms)', (r) => r.burstP95);
  add('time to match p99, burst (ms)', (r) => r.burstP99);
  add('time to match p50, idle (ms)', (r) => r.idleP50);
  add('time to match p99, idle (ms)', (r) => r.idleP99);
  add('relayed messages per second', (r) => r.relayedPerSecond);
  add('raw ws echo round trips per second (baseline)', () => echo);
  add('ratio relayed / raw echo', (r) => r.relayedPerSecond / echo, '>= 0.5');
  add('server RSS per idle connected client (KB)', (r) => r.rssPerClientKb, '< 20');
  console.log(table(rows));
  if (results.length > 1) {
    const [mem, red] = results as [Result, Result];
    console.log(`\nredis/memory pairing rate: ${(red.pairsPerSecond / mem.pairsPerSecond).toFixed(2)} (target >= 0.5); ` +
      `idle p99 added by Redis: ${(red.idleP99 - mem.idleP99).toFixed(2)} ms (target < 10)`);
  }
  clearInterval(keepAlive);
}

main().catch((err) => { console.error(err); process.exit(1); });
