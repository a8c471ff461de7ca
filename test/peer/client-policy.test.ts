// The client core's server-error policy as the headless peer lives it, against the real server:
// an error that no retry can fix ends the session with that code, and a Next that crossed the
// partner's (CHZ_ERR_NOT_MATCHED for our `next`, with the server holding us in no queue) turns
// into a plain join, so the peer is found by the next stranger instead of waiting forever.
import { describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/ws-client.js';
import { withTimeout } from '../helpers/deadline.js';
import { usePeerRig } from './helpers.js';

const rig = usePeerRig();

describe('server-error policy of the headless peer', () => {
  it('a fatal server error (an unknown hub) ends the session with that code', async () => {
    const server = await rig.start();
    const [a, ra] = rig.sessions.create({ server: server.url, target: { kind: 'hub', hub: 'no-such-hub' }, video: null, audio: null }, 'A');
    await withTimeout(a.start(), 10_000, 'A starts');
    const ended = await ra.next('ended', 10_000);
    expect(ended.reason).toBe('error');
    expect(ended.error?.code).toBe('CHZ_ERR_UNKNOWN_HUB');
    expect(a.state).toBe('ended');
  });

  it('our Next answered with CHZ_ERR_NOT_MATCHED (it crossed the partner\'s) makes the peer join again', async () => {
    const server = await rig.start({ rematchCooldownMs: 0 });
    const [a, ra] = rig.sessions.create({ server: server.url, video: null, audio: null }, 'A');
    await withTimeout(a.start(), 10_000, 'A starts');
    await ra.next('queued', 5000);
    // What the server sees when the partner's Next arrived first: it ended the match and left
    // A ready, in no queue, while A still waits as queued; then A's own Next reaches it.
    a.signal!.send({ type: 'leave' });
    a.signal!.send({ type: 'next' });
    await ra.next('queued', 5000); // the join the rule sent was answered
    expect(ra.all('server-error')).toEqual([]); // handled by the policy, not reported
    const b = await TestClient.connect(server.wsUrl);
    try {
      b.send({ type: 'join', hub: 'tamil' });
      const m = await b.next('matched', 5000);
      expect((await ra.next('matched', 5000)).matchId).toBe(m.matchId);
    } finally {
      await b.close();
    }
  });
});
