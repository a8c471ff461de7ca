// werift's router hands an RTCP PLI to whatever it knows under the packet's *sender* SSRC before
// it looks at the media SSRC. A partner that sends video too (werift, browsers) uses that
// stream's SSRC as its RTCP sender SSRC, so its PLI landed on our receiver of that stream and
// our encoder never heard it: keyframe requests between two headless peers did nothing.
import { describe, expect, it } from 'vitest';
import { until, withTimeout } from '../helpers/deadline.js';
import { usePeerRig } from './helpers.js';

const rig = usePeerRig();
const sessions = rig.sessions;

describe('a PLI from a partner that sends video too', () => {
  it('reaches our sender: counted in stats, and the partner is asked by its media SSRC', async () => {
    const server = await rig.start({ rematchCooldownMs: 0 });
    const [a, ra] = sessions.create({ server: server.url }, 'A');
    const [b, rb] = sessions.create({ server: server.url }, 'B');
    await withTimeout(a.start(), 15_000, 'A starts');
    await ra.next('queued', 5000);
    await withTimeout(b.start(), 15_000, 'B starts');
    await Promise.all([ra.next('connected', 15_000), rb.next('connected', 15_000)]);
    await Promise.all([ra.next('stats', 15_000, (s) => s.framesReceived >= 10), rb.next('stats', 15_000, (s) => s.framesReceived >= 10)]);
    const before = (await b.call!.stats()).pliReceived;
    expect(a.call!.requestKeyframe()).toBe(true);
    await until(async () => (await b.call!.stats()).pliReceived > before, 5000, 'B hears the PLI A sent');
    const after = await a.call!.stats();
    expect(after.pliSent).toBeGreaterThanOrEqual(1);
    expect(await rb.next('stats', 5000, (s) => s.pliReceived > before)).toMatchObject({ matchId: a.call!.matchId });
  });
});
