/**
 * bench:stalled — the attack of issue 10 item 4: in each of P pairs, one client stops reading its
 * socket while its partner relays 45 offers per second of 47 KiB (under the message-rate limit).
 * Runs the same attack for S seconds against three `chatzyo serve` processes started in this run:
 * the baseline with no queue cap and no byte budget (the behaviour before the fix), the cap alone, and the
 * defaults. Prints the server's resident memory growth, whether the stalled readers were dropped,
 * and the ratio of growth.
 *
 *   npm run bench:stalled -- [--pairs 2] [--seconds 15]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { spawnJson, stop, table } from './lib.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const PAIRS = opt('pairs', 2);
const SECONDS = opt('seconds', 15);
const RATE = 45;
const SDP = 'v=0\r\n' + 'a=x:'.padEnd(47 * 1024, 'y');
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function masked(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

/** A client that says hello, joins, and then never reads its socket again. */
function stalledReader(port: number, hub: string): Promise<{ socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
    });
    s.on('error', () => {});
    s.once('data', () => {
      s.write(masked(JSON.stringify({ type: 'hello', version: 2 })));
      s.write(masked(JSON.stringify({ type: 'join', hub })));
      // Give the join a moment to land, then stop reading for good.
      setTimeout(() => { s.pause(); resolve({ socket: s }); }, 200);
    });
    setTimeout(() => reject(new Error('stalled reader did not upgrade')), 5000);
  });
}

function sender(port: number, hub: string): Promise<{ ws: WebSocket; matchId: () => string | null; closedWith: () => number | null; partnerLeft: () => boolean }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    let matchId: string | null = null;
    let closedWith: number | null = null;
    let partnerLeft = false;
    ws.on('error', () => {});
    ws.on('close', (code) => { closedWith = code; });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', version: 2 })));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', hub }));
      if (m.type === 'matched') { matchId = m.matchId; resolve({ ws, matchId: () => matchId, closedWith: () => closedWith, partnerLeft: () => partnerLeft }); }
      if (m.type === 'partner-left') { matchId = null; partnerLeft = true; }
    });
    setTimeout(() => reject(new Error('sender was not matched')), 5000);
  });
}

async function attack(label: string, extra: string[]): Promise<(string | number)[]> {
  const { proc, first } = await spawnJson(process.execPath, [path.join(root, 'bin/chatzyo.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--no-stun', '--json', '--log-level', 'silent', ...extra]);
  const port = Number(new URL(String(first.url)).port);
  try {
    const before = rssMiB(proc.pid!);
    const readers = [];
    const senders = [];
    for (let i = 0; i < PAIRS; i++) {
      const hub = ['global', 'tamil', 'usa', 'uk', 'hindi'][i % 5]!;
      readers.push(await stalledReader(port, hub));
      senders.push(await sender(port, hub));
    }
    let peak = before;
    const end = Date.now() + SECONDS * 1000;
    let sent = 0;
    // Bounded: RATE offers per second per sender, for SECONDS, then stop.
    while (Date.now() < end) {
      const tick = Date.now();
      for (const s of senders) {
        const id = s.matchId();
        if (!id || s.ws.readyState !== WebSocket.OPEN) continue;
        for (let k = 0; k < RATE / 5; k++) { s.ws.send(JSON.stringify({ type: 'signal', matchId: id, data: { kind: 'offer', sdp: SDP } })); sent++; }
      }
      peak = Math.max(peak, rssMiB(proc.pid!));
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - tick))));
    }
    const after = rssMiB(proc.pid!);
    // The server dropped a stalled reader when its partner heard partner-left.
    const dropped = senders.filter((s) => s.partnerLeft()).length;
    const sendersClosed = senders.filter((s) => s.closedWith() !== null).map((s) => s.closedWith()).join(',') || '-';
    for (const r of readers) r.socket.destroy();
    for (const s of senders) s.ws.terminate();
    log(`${label}: sent ${sent} offers, RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB (peak ${peak.toFixed(0)})`);
    return [label, String(sent), before.toFixed(1), peak.toFixed(1), (peak - before).toFixed(1), `${dropped}/${PAIRS}`, sendersClosed];
  } finally {
    await stop(proc);
  }
}

const baseline = await attack('baseline: no cap, no byte budget', ['--max-buffered-bytes', String(2 ** 40), '--max-bytes-per-second', String(2 ** 40)]);
const capOnly = await attack('1 MiB queue cap, no byte budget', ['--max-bytes-per-second', String(2 ** 40)]);
const defaults = await attack('defaults (cap + 64 KiB/s budget)', []);
process.stdout.write(table([
  ['server', 'offers sent', 'RSS before MiB', 'RSS peak MiB', 'growth MiB', 'stalled readers dropped', 'sender close codes'],
  baseline, capOnly, defaults,
]) + '\n');
const growth = (row: (string | number)[]) => Math.max(0.1, Number(row[4]));
process.stdout.write(`memory growth vs baseline: cap ${(growth(capOnly) / growth(baseline)).toFixed(3)}x, defaults ${(growth(defaults) / growth(baseline)).toFixed(3)}x (${PAIRS} pairs, ${SECONDS} s, ${RATE} offers/s of 47 KiB per sender)\n`);
