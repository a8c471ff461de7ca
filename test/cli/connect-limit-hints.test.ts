// Issue 19, item 4: when a server's default limit is the likely cause of a failure, the real
// `chatzyo` binary says which limit and the `chatzyo serve` option that raises it, the way
// `chatzyo bots` names --max-connections-per-address; and `chatzyo serve --help` shows every limit
// with its default.
import { afterEach, describe, expect, it } from 'vitest';
import { reduce, initialModel } from '../../src/cli/connect-model.js';
import { DEFAULT_LIMITS, ERROR_CODE_LIST, limitHint } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { Sessions } from '../peer/helpers.js';
import { CliProcess } from './cli-process.js';

const servers: SignalServer[] = [];
const clients: TestClient[] = [];
const clis: CliProcess[] = [];
const sessions = new Sessions();

afterEach(async () => {
  await Promise.all(clis.splice(0).map((c) => c.kill()));
  await sessions.closeAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: Parameters<typeof startServer>[0]): Promise<SignalServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

function cli(name: string, args: string[]): CliProcess {
  const c = new CliProcess(name, args, { CHATZYO_JSON: '' });
  clis.push(c);
  return c;
}

describe('limit hints through the real binary', () => {
  it('serve --help lists every per-client limit under its own heading with its default', async () => {
    const help = cli('serve --help', ['serve', '--help']);
    expect(await help.exitCode(15_000)).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    const section = text.slice(text.indexOf('Limits per client'));
    expect(section.length).toBeLessThan(text.length);
    const limits: [string, number][] = [
      ['--max-connections-per-address', DEFAULT_LIMITS.maxConnectionsPerAddress],
      ['--max-nexts-per-minute', DEFAULT_LIMITS.nextsPerMinute],
      ['--max-messages-per-second', DEFAULT_LIMITS.messagesPerSecond],
      ['--max-bytes-per-second', DEFAULT_LIMITS.bytesPerSecond],
      ['--max-buffered-bytes', DEFAULT_LIMITS.maxBufferedBytes],
      ['--turn-mints-per-minute', 60],
    ];
    for (const [opt, value] of limits) {
      expect(section, opt).toMatch(new RegExp(`${opt} <n> [^$]*?\\(default: ${value},`));
    }
  });

  it('connect refused by the connection cap (close 4003) exits 3 and names --max-connections-per-address', async () => {
    const s = await server({ maxConnectionsPerAddress: 1 });
    clients.push(await TestClient.connect(s.wsUrl));
    const c = cli('connect', ['connect', '--json', '--server', s.url, '--room', 'global', '--no-video', '--no-audio']);
    expect(await c.exitCode(20_000)).toBe(3);
    expect(c.stderr).toMatch(/4003 CHZ_ERR_TOO_MANY_CONNECTIONS/);
    expect(c.stderr).toMatch(/hint: the server limits connections from one address \(chatzyo serve --max-connections-per-address, default 20\)/);
    const error = c.lines.find((l) => l.event === 'error');
    expect(error).toMatchObject({ code: 'CHZ_ERR_SERVER_REJECTED', hint: expect.stringMatching(/--max-connections-per-address/) });
  });

  it("the probe's signaling check refused by the connection cap names --max-connections-per-address", async () => {
    const s = await server({ maxConnectionsPerAddress: 1 });
    clients.push(await TestClient.connect(s.wsUrl));
    const p = cli('probe', ['probe', '--server', s.url, '--no-ice', '--json']);
    expect(await p.exitCode(60_000)).toBe(0);
    const report = JSON.parse(p.stdout) as { signal: { ok: boolean; error: { code: string; message: string } } };
    expect(report.signal.ok).toBe(false);
    expect(report.signal.error.code).toBe('CHZ_ERR_SERVER_REJECTED');
    expect(report.signal.error.message).toMatch(/4003 CHZ_ERR_TOO_MANY_CONNECTIONS\): the server limits connections from one address \(chatzyo serve --max-connections-per-address, default 20\)/);
  });

  it('a Next refused by the skip limit (CHZ_ERR_NEXT_RATE_LIMITED) names --max-nexts-per-minute', async () => {
    const s = await server({ nextsPerMinute: 1, rematchCooldownMs: 0 });
    const c = cli('connect', ['connect', '--json', '--server', s.url, '--room', 'usa', '--no-video', '--no-audio', '--next-after', '0.3']);
    await c.next('queued', 20_000);
    const [partner] = sessions.create({ server: s.url, video: null, audio: null, target: { kind: 'hub', hub: 'usa' } }, 'partner');
    await withTimeout(partner.start(), 15_000, 'partner start');
    // First Next: within the limit. The two meet again (no cooldown), and the second Next is refused.
    const refused = await c.next('server-error', 40_000, (l) => l.code === 'CHZ_ERR_NEXT_RATE_LIMITED');
    expect(refused.hint).toMatch(/skip a minute \(chatzyo serve --max-nexts-per-minute, default 30\): wait a little/);
  });
});

describe('limitHint', () => {
  it('names the serve option and its default for each limit code, and nothing for other codes', () => {
    expect(limitHint('CHZ_ERR_TOO_MANY_CONNECTIONS')).toContain(`--max-connections-per-address, default ${DEFAULT_LIMITS.maxConnectionsPerAddress}`);
    expect(limitHint('CHZ_ERR_NEXT_RATE_LIMITED')).toContain(`--max-nexts-per-minute, default ${DEFAULT_LIMITS.nextsPerMinute}`);
    expect(limitHint('CHZ_ERR_RATE_LIMITED')).toContain(`--max-messages-per-second, default ${DEFAULT_LIMITS.messagesPerSecond}; --max-bytes-per-second, default ${DEFAULT_LIMITS.bytesPerSecond}`);
    expect(limitHint('CHZ_ERR_SLOW_CONSUMER')).toContain(`--max-buffered-bytes, default ${DEFAULT_LIMITS.maxBufferedBytes}`);
    const limited = new Set(['CHZ_ERR_TOO_MANY_CONNECTIONS', 'CHZ_ERR_NEXT_RATE_LIMITED', 'CHZ_ERR_RATE_LIMITED', 'CHZ_ERR_SLOW_CONSUMER']);
    for (const code of ERROR_CODE_LIST) if (!limited.has(code)) expect(limitHint(code), code).toBeNull();
    expect(limitHint(undefined)).toBeNull();
  });

  it("connect's screen shows the hint with a rate-limit refusal", () => {
    const m = reduce(initialModel('hub usa'), { type: 'server-error', data: { code: 'CHZ_ERR_RATE_LIMITED', message: 'Too many messages; slow down.' } }, 'http://localhost:8080');
    expect(m.notice).toMatch(/^Too many messages; slow down\. \[CHZ_ERR_RATE_LIMITED\] Hint: .*--max-messages-per-second/);
  });
});
