// Issue 20, item 2: under --tls-cert with a certificate Node does not trust for the URL the demo
// bots used (self-signed, or naming another host), the bot never connected and nothing said so.
// Now the bots trust exactly their server's certificate, and a bot that cannot connect is an
// error in the log and a "degraded" /healthz.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { runServe, stopServe } from '../../src/cli/serve.js';
import { pinnedTls } from '../../src/bots/connection.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { TestClient } from '../helpers/ws-client.js';

let dir: string;
let server: SignalServer | null = null;
let client: TestClient | null = null;

function capture() {
  let text = '';
  return { stream: new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } }), get text() { return text; } };
}

async function healthz(s: SignalServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await withTimeout(fetch(`http://127.0.0.1:${s.metricsPort}/healthz`), 5000, '/healthz');
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-demo-tls-'));
  // Self-signed, and for a name that is not the listen address: both used to strand the bots.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=chat.example.test',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
});
afterEach(async () => {
  await client?.close();
  client = null;
  if (server) await withTimeout(stopServe(server), 15_000, 'stop the demo bots and the server');
  server = null;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('serve --demo-bots under TLS', () => {
  it('with a self-signed certificate for another name, the bot connects and a client pressing Start in its hub meets it', async () => {
    const out = capture();
    const err = capture();
    server = await withTimeout(runServe({
      host: '127.0.0.1', port: 0, stunPort: 0, metricsPort: 0, logLevel: 'silent', hubs: ['global', 'tamil'], demoBots: 1,
      tlsCert: path.join(dir, 'cert.pem'), tlsKey: path.join(dir, 'key.pem'),
    }, {}, out.stream, err.stream), 60_000, 'serve with TLS and a demo bot');
    expect(err.text).toBe('');
    expect(out.text).toMatch(/1 demo bot waits in global/);
    expect((await healthz(server)).body).toMatchObject({ status: 'ok', demoBots: { wanted: 1, connected: 1, failing: 0, degraded: false } });

    // A person (here a raw protocol client that trusts this certificate) presses Start in global.
    const wss = `wss://127.0.0.1:${server.port}/ws`;
    client = await withTimeout(TestClient.connect(wss, pinnedTls(readFileSync(path.join(dir, 'cert.pem'), 'utf8'))), 5000, 'client over WSS');
    client.send({ type: 'join', hub: 'global' });
    const matched = await client.next('matched', 15_000);
    expect(matched.matchId).toBeTruthy();
  }, 90_000);

  it('a bot that cannot connect is logged as an error and makes /healthz say degraded (still 200)', async () => {
    const out = capture();
    const err = capture();
    const log = capture();
    // Every connection refused (close 4003): the bot's open fails, as an untrusted certificate used to make it.
    server = await withTimeout(runServe({
      host: '127.0.0.1', port: 0, stunPort: 0, metricsPort: 0, hubs: ['global'], demoBots: 1, maxConnectionsPerAddress: 0,
    }, { logger: pino({ level: 'info' }, log.stream) }, out.stream, err.stream), 60_000, 'serve with a demo bot that is refused');
    expect(out.text).not.toMatch(/demo bot waits/);
    expect(err.text).toMatch(/chatzyo: error: 1 of 1 demo bots could not connect to http:\/\/127\.0\.0\.1:\d+ \(a demo bot could not connect: .*CHZ_ERR_BOT_REJECTED/);
    const errors = log.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 50 && l.msg.includes('demo bot could not connect'));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    await until(async () => ((await healthz(server!)).body.demoBots as { failing: number } | undefined)?.failing === 1, 10_000, '/healthz counts the failing bot');
    const h = await healthz(server);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ status: 'degraded', demoBots: { wanted: 1, connected: 0, failing: 1, degraded: true } });
    expect((h.body.demoBots as { lastError: string }).lastError).toMatch(/CHZ_ERR_BOT_REJECTED/);
  }, 90_000);
});
