/**
 * Protocol-client steps of the safety tests (test/signal/safety.test.ts and
 * safety-store.test.ts): servers that trust one proxy (so a client's X-Forwarded-For is its
 * address), clients at chosen addresses, meeting, reporting and asking to join. Each file calls
 * {@link useSafetyClients} once; what a test opened is closed after it.
 */
import { afterEach } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import type { SignalServerOptions } from '../../src/signal/options.js';
import { startServer } from './server.js';
import { TestClient } from './ws-client.js';

/** The --admin-token of the servers {@link useSafetyClients} starts. */
export const SAFETY_ADMIN = 'test-admin-token-0123456789';

/** The token of the client's welcome (TestClient consumed the welcome: read it from the raw frames). */
export function tokenOf(c: TestClient): string {
  const w = c.raw.map((t) => JSON.parse(t) as { type: string; token?: string }).find((m) => m.type === 'welcome');
  if (!w?.token) throw new Error('welcome carried no token');
  return w.token;
}

/** `target` waits in `hub`, `reporter` joins and they are matched; returns the reporter's match id. */
export async function meet(target: TestClient, reporter: TestClient, hub = 'tamil'): Promise<string> {
  target.send({ type: 'join', hub });
  await target.next('queued');
  reporter.send({ type: 'join', hub });
  const m = await reporter.next('matched');
  await target.next('matched');
  return m.matchId;
}

/** `reporter` meets `target` and reports it; the target is told its partner left, the reporter re-queued, then leaves. */
export async function report(target: TestClient, reporter: TestClient, reason = 'harassment'): Promise<void> {
  const matchId = await meet(target, reporter);
  reporter.send({ type: 'report', matchId, reason });
  await target.next('partner-left');
  await reporter.next('queued');
  reporter.send({ type: 'leave' });
  await reporter.sync();
}

/** Asks `target` to join: resolves with the ban's retryAfterMs, or null when it was queued (it then leaves). */
export async function joinOutcome(target: TestClient, hub = 'tamil'): Promise<number | null> {
  target.send({ type: 'join', hub });
  await target.sync();
  const e = target.pending('error').find((x) => x.code === 'CHZ_ERR_BANNED');
  if (e) { target.received.splice(target.received.indexOf(e), 1); return e.retryAfterMs ?? -1; }
  await target.next('queued', 1000);
  target.send({ type: 'leave' });
  await target.sync();
  return null;
}

/** Registers the after-each close of what `serve` and `from` open, and returns them. */
export function useSafetyClients(): {
  serve(opts?: Partial<SignalServerOptions>, deps?: Parameters<typeof startServer>[1]): Promise<SignalServer>;
  from(server: SignalServer, ip: string, hello?: Record<string, unknown>): Promise<TestClient>;
  /** Closes `c` (a client the test connected itself) with the others. */
  keep(c: TestClient): TestClient;
} {
  let servers: SignalServer[] = [];
  let clients: TestClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.close()));
    clients = [];
    servers = [];
  });
  return {
    async serve(opts = {}, deps = {}) {
      const s = await startServer({ trustProxy: 1, reportMinCallMs: 0, rematchCooldownMs: 0, pairing: 'random', adminToken: SAFETY_ADMIN, ...opts }, deps);
      servers.push(s);
      return s;
    },
    async from(server, ip, hello = {}) {
      const c = await TestClient.connect(server.wsUrl, { headers: { 'x-forwarded-for': ip } }, hello);
      clients.push(c);
      return c;
    },
    keep(c) {
      clients.push(c);
      return c;
    },
  };
}
