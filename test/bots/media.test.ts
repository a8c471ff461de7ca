// Media-mode bots: real werift calls between bots through a real server, replaying the clip.
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { until } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { metrics, runBotsFor } from './helpers.js';

let servers: SignalServer[] = [];
let turn: Coturn | null = null;
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  await turn?.stop();
  turn = null;
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<SignalServer> {
  const s = await startServer({ maxConnectionsPerAddress: 1000, ...opts });
  servers.push(s);
  return s;
}

describe('media-mode bots', () => {
  it('20 bots (10 pairs) all connect through ICE and DTLS and receive video at the clip\'s bitrate without loss', async () => {
    const s = await server();
    const { summary } = await runBotsFor({ servers: [s.url], count: 20, mode: 'media', rampPerSecond: 20, holdS: 4 }, 60_000);
    expect(summary).toMatchObject({ bots: 20, matched: 20, connected: 20, matches: 10, endReason: 'settled', source: 'clip', passed: true });
    expect(summary.attempts).toEqual({ succeeded: 20, failed: 0, unfinished: 0 });
    for (const k of ['timeToMatchMs', 'timeToIceMs', 'timeToDtlsMs', 'timeToConnectMs', 'timeToFirstMediaMs'] as const) expect(summary[k]?.count, k).toBe(20);
    // ICE comes before DTLS, DTLS (connected) before the first video packet.
    expect(summary.timeToIceMs!.p50).toBeLessThanOrEqual(summary.timeToDtlsMs!.p50);
    expect(summary.timeToConnectMs!.p50).toBeLessThanOrEqual(summary.timeToFirstMediaMs!.p50);
    const clip = summary.clip!;
    expect(clip).toMatchObject({ width: 320, height: 240, fps: 15 });
    // Every bot (the 5th percentile too) receives the clip's video bitrate; RTP headers add a few percent.
    expect(summary.recvBitrateKbps!.bots).toBe(20);
    expect(summary.recvVideoKbps!.p5).toBeGreaterThan(clip.videoKbps * 0.85);
    expect(summary.recvVideoKbps!.p50).toBeLessThan(clip.videoKbps * 1.25);
    expect(summary.recvBitrateKbps!.p5).toBeGreaterThan((clip.videoKbps + clip.audioKbps) * 0.85);
    expect(summary.lossPercent!.overall).toBeLessThan(1);
    expect(summary.cpu.steadyPercentOfCore).toBeGreaterThan(0);
    const m = await metrics(s.url);
    expect(m.get('chatzyo_matches_total{kind="hub"}')).toBe(10);
    expect(m.get('chatzyo_relayed_messages_total')).toBe(summary.signals.received);
    await until(async () => (await metrics(s.url)).get('chatzyo_connected_clients') === 0, 5000, 'the server sees every bot gone');
  });

  it('churn: pairs press Next, find new partners and stream again; the players follow each new call', async () => {
    const s = await server({ rematchCooldownMs: 0 });
    const { summary } = await runBotsFor({ servers: [s.url], count: 6, mode: 'media', rampPerSecond: 30, durationS: 7, nextEveryS: 1.5 }, 40_000);
    expect(summary.endReason).toBe('duration');
    expect(summary.connected).toBe(6);
    expect(summary.matches).toBeGreaterThanOrEqual(9); // 3 pairs, at least 3 rounds
    expect(summary.attempts.failed).toBe(0);
    expect(summary.timeToFirstMediaMs!.count).toBeGreaterThanOrEqual(18);
    const serverMatches = (await metrics(s.url)).get('chatzyo_matches_total{kind="hub"}')!;
    expect(serverMatches - summary.matches).toBeGreaterThanOrEqual(0);
    expect(serverMatches - summary.matches).toBeLessThanOrEqual(summary.attempts.unfinished);
  });

  it('--relay-only: 4 bots connect through coturn', async () => {
    turn = await startCoturn();
    const s = await server({ turnUrls: [turn.url], turnSecret: turn.secret });
    const { summary } = await runBotsFor({ servers: [s.url], count: 4, mode: 'media', relayOnly: true, rampPerSecond: 20, holdS: 2 }, 60_000);
    expect(summary).toMatchObject({ connected: 4, passed: true });
    expect(summary.lossPercent!.overall).toBeLessThan(1);
  });
});
