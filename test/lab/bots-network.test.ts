/**
 * `chatzyo bots --network PROFILE` for real: media bots behind the lab's relay (the server and
 * coturn on the clean side), per-bot viewer quality in the summary, quality thresholds, and the
 * JUnit file, parsed: one testcase per threshold and per phase, a threshold that did not hold
 * as <failure> with the measured value and the limit, the summary as properties.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BotsSummary } from '../../src/bots/index.js';
import { runBots, type BotsCliOptions } from '../../src/cli/bots.js';
import { ChatzyoError } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { findAll, parseXml } from '../helpers/xml.js';

let turn: Coturn;
let server: SignalServer;
let dir: string;

beforeAll(async () => {
  turn = await startCoturn();
  server = await startServer({ turnUrls: [turn.url], turnSecret: turn.secret, maxConnectionsPerAddress: 100 });
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-junit-'));
}, 30_000);

afterAll(async () => {
  await server?.close();
  await turn?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `bots` to the end; a run whose thresholds failed still gives its summary (printed with --json). */
async function bots(o: Partial<BotsCliOptions>): Promise<{ summary: BotsSummary; error: ChatzyoError | null }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += String(d); });
  // A long connect timeout: on a loaded 2-core machine a werift call through TURN and the relay can take a while.
  const opts: BotsCliOptions = { servers: [server.url], count: 2, mode: 'media', holdS: 5, connectTimeoutS: 45, json: true, ...o };
  let error: ChatzyoError | null = null;
  await withTimeout(runBots(opts, { out, err: new PassThrough(), tty: false }, { signals: false }).catch((e: unknown) => { error = e as ChatzyoError; }), 90_000, `bots --network ${o.network}`);
  return { summary: JSON.parse(text) as BotsSummary, error };
}

describe('bots --network', () => {
  let good: BotsSummary;

  it('good: every bot renders video; fps, freeze ratio, latency and MOS are in the summary', async () => {
    const { summary, error } = await bots({ network: 'good', thresholds: { minMos: 3.5, maxFreezeRatio: 0.5 } });
    good = summary;
    expect(error, error?.message).toBeNull();
    const q = summary.quality!;
    expect(q).toMatchObject({ bots: 2, network: 'good' });
    expect(q.fps.p50).toBeGreaterThan(5);
    expect(q.latencyMs!.p50).toBeGreaterThan(0);
    expect(q.mos!.p50).toBeGreaterThan(4);
    expect(q.rttMs!.p50).toBeGreaterThan(0);
    expect(summary.thresholds.map((t) => [t.name, t.passed])).toEqual(expect.arrayContaining([['min-mos', true], ['max-freeze-ratio', true]]));
  }, 120_000);

  // Both bots of a pair sit behind the profile, so the path between them has twice its RTT: a
  // 3g-like link with 150 ms each side, 300 ms between the bots, keeps the run short (calls
  // across 500 ms and more are test/lab/long-rtt-dtls.test.ts's).
  const SLOW = 'custom:rtt=150ms,jitter=10ms,loss=0.5%,up=750kbit,down=1500kbit';

  it('a 3g-like link: latency rises, a latency threshold fails, and the JUnit file says so with the values', async () => {
    const junit = path.join(dir, 'slow.xml');
    const { summary, error } = await bots({ network: SLOW, junitFile: junit, thresholds: { maxP95LatencyMs: 60, minMos: 1 } });
    expect(error?.code).toBe('CHZ_ERR_BOTS_THRESHOLD');
    expect(error?.exitCode).toBe(1);
    expect(summary.quality, `no bot measured: ${JSON.stringify({ attempts: summary.attempts, failed: summary.failed, failureCodes: summary.failureCodes })}`).toBeTruthy();
    const q = summary.quality!;
    expect(q.network).toBe(SLOW);
    // The link adds 100 ms each way to the sender's side and to the receiver's.
    expect(q.latencyMs!.p50).toBeGreaterThan(good.quality!.latencyMs!.p50 + 100);
    // The calls' ICE round trip: 150 ms on each bot's side of the relay.
    expect(q.rttMs!.p50).toBeGreaterThan(good.quality!.rttMs!.p50 + 250);
    expect(q.mos!.p50).toBeLessThan(good.quality!.mos!.p50);

    const root = parseXml(readFileSync(junit, 'utf8'));
    expect(root.name).toBe('testsuites');
    const [suite] = findAll(root, 'testsuite');
    const cases = findAll(suite!, 'testcase');
    expect(Number(suite!.attrs.tests)).toBe(cases.length);
    const thresholds = cases.filter((c) => c.attrs.classname === 'chatzyo.bots.thresholds').map((c) => c.attrs.name);
    expect(thresholds).toEqual(summary.thresholds.map((t) => t.name));
    expect(thresholds).toEqual(expect.arrayContaining(['max-fail-rate', 'max-p95-latency-ms', 'min-mos']));
    expect(cases.filter((c) => c.attrs.classname === 'chatzyo.bots.phases').map((c) => c.attrs.name)).toEqual(['signal', 'match', 'ice', 'dtls', 'media']);
    const latency = cases.find((c) => c.attrs.name === 'max-p95-latency-ms')!;
    const [failure] = findAll(latency, 'failure');
    expect(failure, 'the failed latency threshold is a <failure>').toBeDefined();
    expect(failure!.text).toContain(`measured: ${q.latencyMs!.p95}`);
    expect(failure!.text).toContain('limit: 60');
    expect(failure!.attrs.message).toContain(`limit 60`);
    expect(findAll(cases.find((c) => c.attrs.name === 'min-mos')!, 'failure')).toEqual([]);
    expect(Number(suite!.attrs.failures)).toBe(cases.filter((c) => findAll(c, 'failure').length > 0).length);
    const props = Object.fromEntries(findAll(suite!, 'property').map((p) => [p.attrs.name, p.attrs.value]));
    expect(props).toMatchObject({ network: SLOW, mode: 'media', bots: '2', passed: 'false', 'latencyMs.p95': String(q.latencyMs!.p95) });
  }, 120_000);

  it('a bad profile is a usage error naming the part', async () => {
    const err = await runBots({ servers: [server.url], count: 2, mode: 'media', json: true, network: 'custom:rtt=fast' }, { out: new PassThrough(), err: new PassThrough(), tty: false }, { signals: false }).then(() => null, (e: unknown) => e as ChatzyoError);
    expect(err?.code).toBe('CHZ_ERR_LAB_PROFILE');
    expect(err?.message).toContain('rtt=fast');
    expect(err?.exitCode).toBe(2);
  });
});
