/**
 * bench:signal — N clients (default 10,000) connect to a `chatzyo serve` in another process,
 * join hubs, get matched and exchange an offer, an answer and four candidates each. Prints
 * pairs per second, time-to-match percentiles, relayed messages per second, server memory per
 * idle client, and the same machine's raw `ws` echo round-trip rate measured in this run.
 *
 *   npm run bench:signal -- [--clients 10000] [--seconds 5] [--concurrency 200]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { quantile, spawnJson, stop, table } from './lib.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('clients', 10_000);
const SECONDS = opt('seconds', 5);
const CONCURRENCY = opt('concurrency', 200);
const HUBS = ['global', 'tamil', 'usa', 'uk', 'hindi', 'malayalam'];

interface Client { ws: WebSocket; onMessage: (m: any) => void }

function open(url: string, onMessage: (m: any) => void): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const c: Client = { ws, onMessage };
    ws.on('message', (d) => c.onMessage(JSON.parse(d.toString())));
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
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

async function main() {
  const { proc: server, first } = await spawnJson(process.execPath, [
    path.join(root, 'bin/chatzyo.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--no-stun', '--json', '--log-level', 'warn',
    '--max-connections-per-address', String(N + 1000), '--max-messages-per-second', '100000',
  ]);
  const { proc: echo, first: echoFirst } = await spawnJson(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'bench/echo-server.ts')]);
  const url = first.url as string;
  const wsUrl = url.replace('http', 'ws') + '/ws';
  try {
    const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
    log(`server ${url}, echo :${echoFirst.port}`);
    // ---- memory per idle client
    const rssBefore = await metric(url, 'chatzyo_process_resident_memory_bytes');
    const welcomed: Promise<void>[] = [];
    const clients = await inBatches(N, 500, async () => {
      let resolveWelcome!: () => void;
      welcomed.push(new Promise((r) => (resolveWelcome = r)));
      const c = await open(wsUrl, (m) => { if (m.type === 'welcome') resolveWelcome(); });
      c.ws.send(JSON.stringify({ type: 'hello', version: 1 }));
      return c;
    });
    log(`${N} connections open`);
    await Promise.all(welcomed);
    log('all welcomed');
    await new Promise((r) => setTimeout(r, 1500)); // let the server settle before reading RSS
    const rssAfter = await metric(url, 'chatzyo_process_resident_memory_bytes');
    const perClientKb = (rssAfter - rssBefore) / N / 1024;

    // ---- matching + one offer, one answer, four candidates each
    const timeToMatch: number[] = [];
    let matchedPairs = 0;
    let exchanged = 0;
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
            if (got === 5) { exchanged++; if (exchanged === N) resolve(); }
          }
        };
        (c as any).join = () => { joinedAt = performance.now(); c.ws.send(JSON.stringify({ type: 'join', hub: HUBS[Math.floor(i / 2) % HUBS.length] })); };
      });
    });
    const t0 = performance.now();
    for (const c of clients) (c as any).join();
    await allDone;
    const matchPhaseS = (performance.now() - t0) / 1000;
    log(`matched and exchanged in ${matchPhaseS.toFixed(2)} s`);

    // ---- steady relay throughput: CONCURRENCY pairs ping-pong signals for SECONDS
    const pairs: [Client, Client][] = [];
    const byMatch = new Map<string, Client[]>();
    // Reuse the matched clients: every offerer/answerer pair, identified by matchId.
    await Promise.all(clients.slice(0, CONCURRENCY * 2).map(() => Promise.resolve()));
    const relay = await (async () => {
      const rel = await inBatches(CONCURRENCY * 2, 200, async () => {
        let matched!: (id: string) => void;
        const p = new Promise<string>((r) => (matched = r));
        const c = await open(wsUrl, (m) => { if (m.type === 'matched') matched(m.matchId); });
        c.ws.send(JSON.stringify({ type: 'hello', version: 1 }));
        c.ws.send(JSON.stringify({ type: 'join', hub: 'global' }));
        return { c, id: await Promise.race([p, new Promise<string>((r) => setTimeout(() => r(''), 10_000))]) };
      });
      for (const { c, id } of rel) { const l = byMatch.get(id) ?? []; l.push(c); byMatch.set(id, l); }
      for (const l of byMatch.values()) if (l.length === 2) pairs.push([l[0]!, l[1]!]);
      let count = 0;
      let running = true;
      for (const [a, b] of pairs) {
        for (const [me, other] of [[a, b], [b, a]] as const) {
          void other;
          let id = '';
          for (const [mid, l] of byMatch) if (l.includes(me)) id = mid;
          const msg = JSON.stringify({ type: 'signal', matchId: id, data: { kind: 'end-of-candidates' } });
          me.onMessage = (m) => { if (m.type === 'signal') { count++; if (running) me.ws.send(msg); } };
          if (me === a) me.ws.send(msg);
        }
      }
      const start = performance.now();
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      running = false;
      const perSecond = count / ((performance.now() - start) / 1000);
      for (const { c } of rel) c.ws.terminate();
      return { perSecond, pairs: pairs.length };
    })();

    // ---- baseline: the same number of connections doing echo round trips on a bare ws server
    const echoUrl = `ws://127.0.0.1:${echoFirst.port}`;
    const echoClients = await inBatches(CONCURRENCY * 2, 200, () => open(echoUrl, () => {}));
    let echoCount = 0;
    let echoRunning = true;
    // Half the connections keep one message in flight each, as the relay pairs do.
    for (const c of echoClients.slice(0, relay.pairs)) {
      c.onMessage = () => { echoCount++; if (echoRunning) c.ws.send('{"type":"ping","id":1}'); };
      c.ws.send('{"type":"ping","id":1}');
    }
    const es = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    echoRunning = false;
    const echoPerSecond = echoCount / ((performance.now() - es) / 1000);
    for (const c of echoClients) c.ws.terminate();
    for (const c of clients) c.ws.terminate();

    const ratio = relay.perSecond / echoPerSecond;
    console.log(`\nbench:signal  clients=${N}  relay pairs=${relay.pairs}  window=${SECONDS}s  node ${process.version}\n`);
    console.log(table([
      ['measure', 'value', 'target'],
      ['pairs matched per second (connect-to-exchange phase)', matchedPairs / matchPhaseS, ''],
      ['time to match p50 (ms)', quantile(timeToMatch, 0.5), ''],
      ['time to match p95 (ms)', quantile(timeToMatch, 0.95), ''],
      ['time to match p99 (ms)', quantile(timeToMatch, 0.99), ''],
      ['offer/answer/candidate exchange complete (clients)', exchanged, String(N)],
      ['relayed messages per second (ours)', relay.perSecond, ''],
      ['raw ws echo round trips per second (baseline)', echoPerSecond, ''],
      ['ratio ours / raw echo', ratio, '>= 0.5'],
      ['server RSS per idle connected client (KB)', perClientKb, '< 20'],
    ]));
    console.log(`\nresult: relay ratio ${ratio >= 0.5 ? 'meets' : 'MISSES'} the 0.5 target; memory ${perClientKb < 20 ? 'meets' : 'MISSES'} the 20 KB target`);
  } finally {
    await stop(server);
    await stop(echo);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
