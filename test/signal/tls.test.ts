import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { TestClient } from '../helpers/ws-client.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let dir: string;
let server: SignalServer;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  server = await startServer({ tlsCert: path.join(dir, 'cert.pem'), tlsKey: path.join(dir, 'key.pem') });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('--tls-cert/--tls-key serve HTTPS and WSS on one port', async () => {
  expect(server.url).toMatch(/^https:\/\//);
  const body = await withTimeout(new Promise<string>((resolve, reject) => {
    https.get(`${server.url}/healthz`, { rejectUnauthorized: false }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  }), 5000, 'https healthz');
  expect(JSON.parse(body).status).toBe('ok');
  const c = new TestClient(server.wsUrl, { rejectUnauthorized: false });
  expect(server.wsUrl).toMatch(/^wss:\/\//);
  await withTimeout(new Promise((r) => c.ws.once('open', r)), 5000, 'wss open');
  c.send({ type: 'hello', version: PROTOCOL_VERSION });
  expect((await c.next('welcome')).sessionId).toBeTruthy();
  await c.close();
});
