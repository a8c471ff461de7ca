/** Starts a real signaling server on loopback, port 0, with quiet logs. */
import { SignalServer, type SignalServerDeps } from '../../src/signal/server.js';
import type { SignalServerOptions } from '../../src/signal/options.js';
import { startCoturn, type Coturn } from './coturn.js';
import { TestClient } from './ws-client.js';

export async function startServer(opts: Partial<SignalServerOptions> = {}, deps: SignalServerDeps = {}): Promise<SignalServer> {
  return SignalServer.start({ host: '127.0.0.1', port: 0, stunPort: 0, logLevel: 'silent', ...opts }, deps);
}

/** A coturn and a signaling server that hands out its TURN: the lab's calls go through them. */
export interface ServerWithTurn { turn: Coturn; server: SignalServer; stop(): Promise<void> }

/** Starts coturn, then a server ({@link startServer}) with its TURN URL and secret; `stop` ends both. */
export async function startServerWithTurn(opts: Partial<SignalServerOptions> = {}): Promise<ServerWithTurn> {
  const turn = await startCoturn();
  try {
    const server = await startServer({ turnUrls: [turn.url], turnSecret: turn.secret, ...opts });
    return { turn, server, stop: async () => { await server.close(); await turn.stop(); } };
  } catch (err) {
    await turn.stop();
    throw err;
  }
}

/** Tracks clients so a test can close them all. */
export class Clients {
  readonly all: TestClient[] = [];
  constructor(private readonly server: SignalServer) {}
  async connect(hello: Record<string, unknown> = {}): Promise<TestClient> {
    const c = await TestClient.connect(this.server.wsUrl, {}, hello);
    this.all.push(c);
    return c;
  }
  async closeAll(): Promise<void> {
    await Promise.all(this.all.map((c) => c.close()));
  }
}

/** Two clients join `hub` and are matched; returns [offerer, answerer]. */
export async function pair(clients: Clients, hub = 'tamil'): Promise<[TestClient, TestClient]> {
  const a = await clients.connect();
  const b = await clients.connect();
  a.send({ type: 'join', hub });
  await a.next('queued');
  b.send({ type: 'join', hub });
  const ma = await a.next('matched');
  const mb = await b.next('matched');
  if (ma.matchId !== mb.matchId) throw new Error('match ids differ');
  return ma.role === 'offerer' ? [a, b] : [b, a];
}
