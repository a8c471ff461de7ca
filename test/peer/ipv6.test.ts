// A call over IPv6 only, on loopback: a real server listening on ::1 (its STUN responder too),
// two werift peers with ipFamily 6 (`connect -6`). werift leaves loopback out of its host
// candidates, so the test adds ::1 as a host address and keeps only ::1 pairs: the call can
// then connect over [::1] or not at all. The selected candidate pair is read from each peer's
// own getStats().
import { describe, expect, it } from 'vitest';
import { familyOf, iceServersForFamily, ipFamilyConfig, type PeerSession } from '../../src/peer/index.js';
import { withTimeout } from '../helpers/deadline.js';
import { usePeerRig } from './helpers.js';

const rig = usePeerRig();
const sessions = rig.sessions;

/** Pins a werift peer to [::1]: the only host address it adds, the only pairs it checks. */
const ON_LOOPBACK_V6 = {
  iceAdditionalHostAddresses: ['::1'],
  iceFilterCandidatePair: (pair: { localCandidate: { host: string }; remoteCandidate: { host: string } }) =>
    pair.localCandidate.host === '::1' && pair.remoteCandidate.host === '::1',
};

/** The selected pair's two candidates, from the peer connection's own stats. */
async function selectedPair(s: PeerSession): Promise<{ local: Record<string, unknown>; remote: Record<string, unknown> }> {
  const report = await withTimeout(s.call!.pc.getStats(), 5000, 'getStats');
  const all = [...report.values()] as unknown as Record<string, unknown>[];
  const byId = new Map(all.map((x) => [x.id as string, x]));
  const transport = all.find((x) => x.type === 'transport' && typeof x.selectedCandidatePairId === 'string');
  const pair = transport ? byId.get(transport.selectedCandidatePairId as string) : all.find((x) => x.type === 'candidate-pair' && x.nominated);
  expect(pair, 'a selected candidate pair').toBeDefined();
  return { local: byId.get(pair!.localCandidateId as string)!, remote: byId.get(pair!.remoteCandidateId as string)! };
}

describe('IPv6 only, on ::1', () => {
  it('two -6 peers connect through a server on [::1]; the selected pair is IPv6 on both sides and media flows', async () => {
    const server = await rig.start({ host: '::1' });
    expect(server.url).toBe(`http://[::1]:${server.port}`);
    const opts = { server: server.url, ipFamily: 6 as const, audio: null, peerConfig: ON_LOOPBACK_V6 };
    const [a, ra] = sessions.create(opts, 'A');
    const [b, rb] = sessions.create(opts, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    // The welcome names the built-in STUN responder as the client reached the server.
    expect(a.signal!.welcome!.iceServers).toEqual([{ urls: [`stun:[::1]:${server.stunPort}`] }]);
    await Promise.all([ra.next('matched', 5000), rb.next('matched', 5000)]);
    const [ca, cb] = await Promise.all([ra.next('connected', 15_000), rb.next('connected', 15_000)]);
    expect(ca).toMatchObject({ ipFamily: 6, candidateType: 'host', localCandidateType: 'host' });
    expect(cb).toMatchObject({ ipFamily: 6, candidateType: 'host', localCandidateType: 'host' });
    for (const s of [a, b]) {
      const { local, remote } = await selectedPair(s);
      expect(local.address).toBe('::1');
      expect(remote.address).toBe('::1');
      // No IPv4 candidate was gathered or offered: -6 gathers IPv6 only.
      const sdp = s.call!.pc.localDescription!.sdp;
      const candidates = sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
      expect(candidates.length).toBeGreaterThan(0);
      for (const c of candidates) expect(c.split(' ')[4], c).toContain(':');
    }
    const sa = await ra.next('stats', 15_000, (s) => s.framesReceived >= 15);
    expect(sa.ipFamily).toBe(6);
    await rb.next('stats', 15_000, (s) => s.framesReceived >= 15);
  });

  it('-4 keeps a call off IPv6: the same peers with ipFamily 4 offer no IPv6 candidate', async () => {
    const server = await rig.start({ host: '127.0.0.1' });
    const opts = { server: server.url, ipFamily: 4 as const, video: null, audio: null };
    const [a, ra] = sessions.create(opts, 'A');
    const [b, rb] = sessions.create(opts, 'B');
    await withTimeout(Promise.all([a.start(), b.start()]), 15_000, 'start');
    const [ca, cb] = await Promise.all([ra.next('connected', 15_000), rb.next('connected', 15_000)]);
    expect(ca.ipFamily).toBe(4);
    expect(cb.ipFamily).toBe(4);
    for (const s of [a, b]) {
      const candidates = s.call!.pc.localDescription!.sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
      for (const c of candidates) expect(c.split(' ')[4], c).not.toContain(':');
    }
  });
});

describe('one IP family: the pieces', () => {
  it('tells the family of an address literal (IPv4-mapped as IPv4, zones and brackets ignored) and not of a name', () => {
    expect(['203.0.113.1', '::ffff:203.0.113.1', '2001:db8::1', '[2001:db8::1]', 'fe80::1%eth0', 'chat.example.com'].map(familyOf)).toEqual([4, 4, 6, 6, 6, null]);
  });

  it('leaves out ICE server URLs that name a literal of the other family, keeps names, drops emptied servers', () => {
    const servers = [
      { urls: ['stun:203.0.113.1:3478', 'stun:[2001:db8::1]:3478', 'stun:stun.example.com'] },
      { urls: 'turn:203.0.113.3:3478?transport=udp', username: 'u', credential: 'c' },
      { urls: ['turns:[2001:db8::3]:5349?transport=tcp'], username: 'u', credential: 'c' },
    ];
    expect(iceServersForFamily(servers, 6)).toEqual([
      { urls: ['stun:[2001:db8::1]:3478', 'stun:stun.example.com'] },
      { urls: ['turns:[2001:db8::3]:5349?transport=tcp'], username: 'u', credential: 'c' },
    ]);
    expect(iceServersForFamily(servers, 4)).toEqual([
      { urls: ['stun:203.0.113.1:3478', 'stun:stun.example.com'] },
      { urls: ['turn:203.0.113.3:3478?transport=udp'], username: 'u', credential: 'c' },
    ]);
    expect(iceServersForFamily(servers, undefined)).toEqual(servers);
  });

  it('maps a family to werift\'s gathering switches', () => {
    expect(ipFamilyConfig(6)).toEqual({ iceUseIpv4: false, iceUseIpv6: true });
    expect(ipFamilyConfig(4)).toEqual({ iceUseIpv4: true, iceUseIpv6: false });
    expect(ipFamilyConfig(undefined)).toEqual({});
  });
});
