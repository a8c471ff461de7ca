import { describe, expect, it } from 'vitest';
import { withTimeout } from '../helpers/deadline.js';
import { usePeerRig } from './helpers.js';

const rig = usePeerRig();
const sessions = rig.sessions;

describe('calls that end before they connect', () => {
  it('Next pressed mid-negotiation drops that call cleanly and both find each other again', async () => {
    const server = await rig.start({ rematchCooldownMs: 0 });
    const [a, ra] = sessions.create({ server: server.url, audio: null }, 'A');
    const [b, rb] = sessions.create({ server: server.url, audio: null }, 'B');
    // A presses Next the moment it is matched, while the offer is still on its way.
    a.once('matched', () => a.next());
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    const first = await ra.next('matched', 10_000);
    expect(a.partners).toBeGreaterThanOrEqual(1);
    expect((await rb.next('partner-left', 10_000)).matchId).toBe(first.matchId);
    const second = await ra.next('matched', 10_000);
    expect(second.matchId).not.toBe(first.matchId);
    const [ca] = await Promise.all([ra.next('connected', 20_000), rb.next('connected', 20_000)]);
    expect(ca.matchId).toBe(second.matchId);
    expect(ra.all('connected').map((c) => c.matchId)).toEqual([second.matchId]);
    await rb.next('stats', 15_000, (s) => s.matchId === second.matchId && s.framesReceived >= 5);
  });

  it('a partner who leaves mid-offer: the one left behind re-queues and connects to the next stranger', async () => {
    const server = await rig.start({ rematchCooldownMs: 0 });
    const [a, ra] = sessions.create({ server: server.url, audio: null }, 'A');
    const [b, rb] = sessions.create({ server: server.url, audio: null, video: null }, 'B');
    b.once('matched', () => void b.close());
    await withTimeout(a.start(), 15_000, 'A start');
    await ra.next('queued', 5000);
    await withTimeout(b.start(), 15_000, 'B start');
    const m = await ra.next('matched', 10_000);
    expect(m.role).toBe('offerer');
    expect((await ra.next('partner-left', 10_000)).reason).toMatch(/leave|disconnect/);
    await rb.next('ended', 5000);
    expect(a.call).toBeNull();
    await ra.next('queued', 10_000);
    const [c, rc] = sessions.create({ server: server.url, audio: null }, 'C');
    await withTimeout(c.start(), 15_000, 'C start');
    const [ca] = await Promise.all([ra.next('connected', 20_000), rc.next('connected', 20_000)]);
    expect(ca.matchId).not.toBe(m.matchId);
  });
});
