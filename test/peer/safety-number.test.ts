/**
 * The safety number between two headless peers when the signaling server is a man in the
 * middle that terminates DTLS on both legs (test/helpers/mitm.ts), and with a partner that
 * never takes part in the exchange. The honest case is in peer-session.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sdpFingerprints } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { withTimeout } from '../helpers/deadline.js';
import { MitmServer, type MitmSafety } from '../helpers/mitm.js';
import { startServer } from '../helpers/server.js';
import { Sessions, type Recorder } from './helpers.js';

let server: SignalServer | undefined;
let mitm: MitmServer | undefined;
const sessions = new Sessions();

afterEach(async () => {
  await sessions.closeAll();
  await mitm?.close();
  await server?.close();
  mitm = undefined;
  server = undefined;
});

/** Two peers matched through a middleman playing `mode`; resolves once both calls are connected. */
async function throughMitm(mode: MitmSafety, extra: { safetyTimeoutMs?: number } = {}): Promise<[Recorder, Recorder, MitmServer]> {
  server = await startServer({ rematchCooldownMs: 0 });
  mitm = await MitmServer.start(server, mode);
  const [a, ra] = sessions.create({ server: mitm.url, video: null, audio: null, ...extra }, 'A');
  const [b, rb] = sessions.create({ server: mitm.url, video: null, audio: null, ...extra }, 'B');
  await withTimeout(a.start(), 15_000, 'A start');
  await ra.next('queued', 5000);
  await withTimeout(b.start(), 15_000, 'B start');
  await Promise.all([ra.next('connected', 15_000), rb.next('connected', 15_000)]);
  return [ra, rb, mitm];
}

describe('safety number through a man in the middle (headless peers)', () => {
  it('one that runs its own exchange on each leg: both peers verify a number, and the two numbers differ', async () => {
    const [ra, rb, m] = await throughMitm('own');
    const [na, nb] = await Promise.all([ra.next('safety', 10_000), rb.next('safety', 10_000)]);
    expect(na.matchId).toBe(nb.matchId);
    // It really is in the middle: each peer's partner certificate is the middleman's, not the other peer's.
    const [legA, legB] = m.pair(na.matchId)!;
    const [ownA, ownB] = await Promise.all([withTimeout(legA.safety, 5000, 'leg A outcome'), withTimeout(legB.safety, 5000, 'leg B outcome')]);
    expect(new Set([ownA, ownB])).toEqual(new Set([{ state: 'verified', number: na.safetyNumber }, { state: 'verified', number: nb.safetyNumber }]));
    expect(na.safetyNumber).not.toBe(nb.safetyNumber);
    const certs = (r: Recorder) => ({ local: sdpFingerprints(r.session.call!.pc.localDescription!.sdp), remote: sdpFingerprints(r.session.call!.pc.remoteDescription!.sdp) });
    const [ca, cb] = [certs(ra), certs(rb)];
    expect(ca.remote).not.toEqual(cb.local);
    expect(cb.remote).not.toEqual(ca.local);
  });

  it('one that relays the exchange between its legs: both peers report the check failed, and no number', async () => {
    const [ra, rb] = await throughMitm('relay');
    const [pa, pb] = await Promise.all([ra.next('safety-problem', 10_000), rb.next('safety-problem', 10_000)]);
    expect([pa.state, pb.state]).toEqual(['failed', 'failed']);
    expect(pa.reason).toMatch(/does not match its commitment/);
    expect([...ra.all('safety'), ...rb.all('safety')]).toEqual([]);
  });

  it('a partner that never opens the safety channel: the number is unavailable, the call goes on', async () => {
    const [ra, rb] = await throughMitm('silent', { safetyTimeoutMs: 1500 });
    const [pa, pb] = await Promise.all([ra.next('safety-problem', 10_000), rb.next('safety-problem', 10_000)]);
    expect([pa.state, pb.state]).toEqual(['unavailable', 'unavailable']);
    expect(ra.session.state).toBe('connected');
    expect(rb.session.state).toBe('connected');
    expect([...ra.all('safety'), ...rb.all('safety')]).toEqual([]);
  });
});
