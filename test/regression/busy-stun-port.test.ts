// Issue 20, item 1: the README's scale-out example (two nodes on one host) died with
// "bind EADDRINUSE 0.0.0.0:3478", and so did a node beside coturn. Now a default STUN port
// yields (to coturn's STUN with --turn, to the STUN server holding it otherwise), and a port the
// operator chose that is busy is CHZ_ERR_PORT_IN_USE naming the port and the fixes.
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SignalServer, stunUrlsFromTurn } from '../../src/signal/server.js';
import { PortInUseError } from '../../src/signal/errors.js';
import { stunBinding } from '../../src/stun/client.js';
import { CliProcess } from '../cli/cli-process.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { freeTcpPort, startRedis, type RedisServer } from '../helpers/redis.js';
import { withTimeout } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

let procs: CliProcess[] = [];
let redis: RedisServer | null = null;
let coturn: Coturn | null = null;
let servers: SignalServer[] = [];
let held: (dgram.Socket | net.Server)[] = [];
let clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(procs.map((p) => p.kill()));
  await Promise.all(servers.map((s) => s.close()));
  for (const h of held) h.close();
  await redis?.stop();
  await coturn?.stop();
  procs = []; servers = []; held = []; clients = []; redis = null; coturn = null;
});

async function holdUdp(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '0.0.0.0', () => r()));
  held.push(s);
  return s.address().port;
}

/** The STUN URLs a client is told in welcome. */
async function welcomedStun(wsUrl: string): Promise<string[]> {
  const c = await withTimeout(TestClient.connect(wsUrl), 5000, `welcome from ${wsUrl}`);
  clients.push(c);
  const welcome = JSON.parse(c.raw[0]!) as { type: string; iceServers: { urls: string | string[] }[] };
  expect(welcome.type).toBe('welcome');
  return welcome.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls])).filter((u) => u.startsWith('stun:'));
}

/** A STUN Binding request to `url` is answered. */
async function answers(url: string): Promise<void> {
  const m = /^stun:([^:]+):(\d+)$/.exec(url);
  if (!m) throw new Error(`not a stun:host:port URL: ${url}`);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    await stunBinding(sock, m[1] === 'localhost' ? '127.0.0.1' : m[1]!, Number(m[2]), { timeoutMs: 2000 });
  } finally {
    sock.close();
  }
}

describe('busy ports', () => {
  it('the README scale-out example: both nodes start on one host, and both announce a STUN server that answers', async () => {
    const block = /### Scaling out[^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'the README has a scale-out shell block').toBeTruthy();
    redis = await startRedis();
    const httpPorts = [await freeTcpPort(), await freeTcpPort()];
    const nodes = block!.split('\n').filter((l) => l.startsWith('chatzyo serve'));
    expect(nodes).toHaveLength(2);
    for (const [i, line] of nodes.entries()) {
      const args = line.replace(/&\s*$/, '').trim().split(/\s+/).slice(1)
        .map((a) => a.replace(/^808[12]$/, String(httpPorts[i])).replace('redis://127.0.0.1:6379/0', redis!.url));
      expect(args).toContain('--redis');
      const p = new CliProcess(`node ${i}`, [...args, '--host', '127.0.0.1', '--json', '--log-level', 'warn']);
      procs.push(p);
      // One after the other, as the shell starts them: the second finds 3478 held.
      const listening = await p.next('listening', 20_000);
      expect(listening.url).toBe(`http://127.0.0.1:${httpPorts[i]}`);
    }
    const second = procs[1]!.lines.find((l) => l.event === 'listening')!;
    // The first node (or whatever STUN server held 3478 before it) answers on 3478 for both.
    expect(second).toMatchObject({ stunPort: null, sharedStunPort: 3478 });
    expect(second.stunNote).toMatch(/3478 is held by another STUN server/);
    for (const port of httpPorts) {
      const stun = await welcomedStun(`ws://127.0.0.1:${port}/ws`);
      expect(stun).toEqual(['stun:127.0.0.1:3478']);
      await withTimeout(answers(stun[0]!), 5000, `STUN at ${stun[0]} for the node on ${port}`);
    }
  }, 60_000);

  it('beside coturn, --turn without --stun-port: no built-in responder, and clients are told coturn\'s STUN, which answers', async () => {
    coturn = await startCoturn();
    const server = await SignalServer.start({ host: '127.0.0.1', port: 0, logLevel: 'silent', turnUrls: [coturn.url, `turn:127.0.0.1:${coturn.port}?transport=tcp`], turnSecret: coturn.secret });
    servers.push(server);
    expect(server.stunPort).toBeNull();
    expect(server.stunUrls).toEqual([`stun:127.0.0.1:${coturn.port}`]);
    expect(server.stunNote).toMatch(/TURN server's STUN/);
    const stun = await welcomedStun(server.wsUrl);
    expect(stun).toEqual([`stun:127.0.0.1:${coturn.port}`]);
    await withTimeout(answers(stun[0]!), 5000, 'coturn answers STUN');
  }, 30_000);

  it('the STUN announced for --turn: one stun: URL per host and port of the turn: URLs (default 3478), none for turns:', () => {
    expect(stunUrlsFromTurn([
      'turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp', 'turn:[2001:db8::1]:3479',
      'turn:relay.example.com', 'turns:turn.example.com:5349?transport=tcp', 'turn:bad host',
    ])).toEqual(['stun:turn.example.com:3478', 'stun:[2001:db8::1]:3479', 'stun:relay.example.com:3478']);
  });

  it('an explicit --stun-port that is busy stops serve with CHZ_ERR_PORT_IN_USE naming the port and the fixes', async () => {
    const port = await holdUdp();
    const p = new CliProcess('serve', ['serve', '--host', '127.0.0.1', '--port', '0', '--stun-port', String(port), '--log-level', 'warn']);
    procs.push(p);
    expect(await p.exitCode(20_000)).toBe(1);
    expect(p.stderr).toContain(`chatzyo: UDP port ${port} of the built-in STUN responder is in use`);
    expect(p.stderr).toMatch(/another chatzyo node or by coturn/);
    for (const fix of ['--stun-port N', '--no-stun', `--stun stun:HOST:${port}`]) expect(p.stderr).toContain(fix);
    expect(p.stderr).toContain('[CHZ_ERR_PORT_IN_USE]');
    expect(p.stderr).not.toMatch(/EADDRINUSE/);

    const err = await SignalServer.start({ host: '127.0.0.1', port: 0, stunPort: port, logLevel: 'silent' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect(err).toMatchObject({ code: 'CHZ_ERR_PORT_IN_USE', role: 'stun', port });
  }, 30_000);

  it('a busy HTTP port is CHZ_ERR_PORT_IN_USE naming the port and --port', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    held.push(s);
    const port = (s.address() as net.AddressInfo).port;
    const err = await SignalServer.start({ host: '127.0.0.1', port, stunPort: 0, logLevel: 'silent' }).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'CHZ_ERR_PORT_IN_USE', role: 'http', port });
    expect((err as Error).message).toMatch(new RegExp(`TCP port ${port} .*--port N`));
  }, 30_000);
});
