/**
 * Media bots adapt to the network: each call picks a rung of the clip ladder from a bandwidth
 * estimate of the partner's feedback. Behind the lab's `low-upload` profile (a 300 kbit/s uplink,
 * less than the top rung's ~390 kbit/s with audio and overhead) the bots end on a lower rung
 * than on `good`; with --no-adapt they do not adapt at all.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLIP, type BotsSummary } from '../../src/bots/index.js';
import { runBots, type BotsCliOptions } from '../../src/cli/bots.js';
import type { ChatzyoError } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';

let turn: Coturn;
let server: SignalServer;

beforeAll(async () => {
  turn = await startCoturn();
  server = await startServer({ turnUrls: [turn.url], turnSecret: turn.secret, maxConnectionsPerAddress: 100 });
}, 30_000);

afterAll(async () => {
  await server?.close();
  await turn?.stop();
});

/** Runs one pair of media bots behind `network` to the end and returns the JSON summary. */
async function bots(o: Partial<BotsCliOptions>): Promise<BotsSummary> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += String(d); });
  // Hold 8 s: the estimate needs a few seconds of feedback to find the link, and a switch waits
  // for the target rung's next keyframe (every 2 s). A long connect timeout for a loaded machine.
  const opts: BotsCliOptions = { servers: [server.url], count: 2, mode: 'media', holdS: 8, connectTimeoutS: 45, json: true, thresholds: { maxFailRate: 1 }, ...o };
  let error: ChatzyoError | null = null;
  await withTimeout(runBots(opts, { out, err: new PassThrough(), tty: false }, { signals: false }).catch((e: unknown) => { error = e as ChatzyoError; }), 90_000, `bots --network ${o.network}`);
  expect(error, (error as ChatzyoError | null)?.message).toBeNull();
  return JSON.parse(text) as BotsSummary;
}

/** The rungs the bots ended on, one entry per bot. */
function endedOn(s: BotsSummary): number[] {
  const a = s.quality?.adaptation;
  expect(a, 'the summary says which rung the bots ended on').toBeTruthy();
  return Object.entries(a!.endedOnRung).flatMap(([rung, n]) => Array<number>(n).fill(Number(rung)));
}

/** The mean rung the bots' video was sent on, weighted by seconds, and the top rung's share of those seconds. */
function timeOnRungs(s: BotsSummary): { meanRung: number; topShare: number } {
  const secs = Object.entries(s.quality!.adaptation!.rungSeconds).map(([rung, t]) => ({ rung: Number(rung), t }));
  const total = secs.reduce((n, x) => n + x.t, 0);
  expect(total, 'the summary says how long the bots sent each rung').toBeGreaterThan(0);
  return { meanRung: secs.reduce((n, x) => n + x.rung * x.t, 0) / total, topShare: (secs.find((x) => x.rung === 0)?.t ?? 0) / total };
}

describe('bots adapt to the network', () => {
  let good: number[];
  let goodTime: { meanRung: number; topShare: number };

  it('good: the bots stay on (or near) the top rung, the clip they always sent', async () => {
    const s = await bots({ network: 'good' });
    expect(s.connected).toBe(2);
    good = endedOn(s);
    expect(good).toHaveLength(2);
    goodTime = timeOnRungs(s);
    expect(goodTime.topShare, JSON.stringify(s.quality!.adaptation)).toBeGreaterThan(0.5);
    expect(s.quality!.adaptation!.estimateKbpsP50).toBeGreaterThan(0);
  }, 120_000);

  it('low-upload (300 kbit/s up): the bots step down to a rung the link carries, below good\'s, and probe the rung above with padding', async () => {
    // 20 s: a bot's first padding probe comes once the backlog of its start has drained and the
    // path was calm for a while, 9-16 s into the call in the traces.
    const s = await bots({ network: 'low-upload', holdS: 20 });
    expect(s.connected).toBe(2);
    const low = endedOn(s);
    const said = JSON.stringify(s.quality!.adaptation);
    expect(low, said).toHaveLength(2);
    // The top rung needs more than the uplink: the bots leave it within the first seconds and
    // send below it for most of the call. (Judged by time, not by the rung each bot's last call
    // ended on: a probe of the rung above may be on at the very end, and a bot whose call broke
    // off and was matched again ends a few seconds into a new call, still on the top rung.)
    const time = timeOnRungs(s);
    expect(time.topShare, said).toBeLessThan(0.35);
    expect(time.meanRung, said).toBeGreaterThanOrEqual(0.8);
    expect(time.meanRung, said).toBeGreaterThan(goodTime.meanRung);
    expect(s.quality!.adaptation!.switches, said).toBeGreaterThanOrEqual(2);
    // The bots probe by padding (padding-only packets), not by sending the rung above.
    expect(s.quality!.adaptation!.paddingBytes, said).toBeGreaterThan(0);
  }, 120_000);

  it('--no-adapt: every call replays the top rung; the summary has no adaptation', async () => {
    const s = await bots({ network: 'low-upload', clip: { ...DEFAULT_CLIP, adapt: false } });
    expect(s.connected).toBe(2);
    expect(s.quality!.adaptation).toBeNull();
    // What reached the partners is the top rung's rate (minus what the link dropped), not a lower rung's.
    expect(s.recvVideoKbps!.p50).toBeGreaterThan(150);
  }, 120_000);
});
