/**
 * The headless peer's side of nearby pairing: it times the landmarks `welcome` lists (real
 * STUN Binding requests to the server's built-in responder and to a second one) and sends the
 * rounded round trips with `join`, so the server counts an estimate for the match; with
 * `nearby: false` (`connect --no-nearby`) it sends none. measureLandmarks leaves out a
 * landmark that does not answer, within its budget.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { measureLandmarks, parseLandmarkUrl } from '../../src/peer/landmarks.js';
import type { SignalServer } from '../../src/signal/server.js';
import { StunServer } from '../../src/signal/stun-server.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from './helpers.js';

const sessions = new Sessions();
let server: SignalServer | null = null;
let extra: StunServer | null = null;
afterEach(async () => {
  await sessions.closeAll();
  await server?.close();
  await extra?.close();
  server = null;
  extra = null;
});

async function estimateCount(): Promise<number> {
  const text = await (await fetch(`${server!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('chatzyo_match_rtt_estimate_ms_count '));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('landmarks from the headless peer', () => {
  it('times each landmark that answers, within the budget, and leaves out one that does not', async () => {
    extra = await StunServer.start({ address: '127.0.0.1', port: 0 });
    const started = Date.now();
    const rtts = await measureLandmarks([
      { name: 'near', url: `stun:127.0.0.1:${extra.port}` },
      { name: 'silent', url: 'stun:127.0.0.1:9' }, // the discard port: nothing answers
    ], { budgetMs: 800 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(rtts).toEqual({ near: 5 }); // loopback: under 5 ms, the smallest bucket
    expect(parseLandmarkUrl('stun:[::1]:3479')).toEqual({ host: '::1', port: 3479 });
    expect(parseLandmarkUrl('stun:stun.example.com')).toEqual({ host: 'stun.example.com', port: 3478 });
    expect(parseLandmarkUrl('turn:x:1')).toBeNull();
  });

  it('two peers send their round trips with join and the server pairs them with an estimate; --no-nearby sends none', async () => {
    extra = await StunServer.start({ address: '127.0.0.1', port: 0 });
    server = await startServer({ region: 'here', landmarks: [{ name: 'there', url: `stun:127.0.0.1:${extra.port}` }] });
    const [a, ra] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub: 'tamil' } }, 'A');
    const [b, rb] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub: 'tamil' } }, 'B');
    await Promise.all([a.start(), b.start()]);
    await Promise.all([ra.next('matched', 10_000), rb.next('matched', 10_000)]);
    expect(await estimateCount()).toBe(1);

    await sessions.closeAll();
    const [c, rc] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub: 'usa' }, nearby: false }, 'C');
    const [d, rd] = sessions.create({ server: server.url, video: null, audio: null, target: { kind: 'hub', hub: 'usa' } }, 'D');
    await Promise.all([c.start(), d.start()]);
    await Promise.all([rc.next('matched', 10_000), rd.next('matched', 10_000)]);
    expect(await estimateCount()).toBe(1); // C sent no round trips: no estimate for this match
  });
});
