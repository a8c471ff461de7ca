// Regression (issue 12 item 3): an offer whose m-sections each carry their own ice-ufrag/ice-pwd
// made the werift peer apply every section's credentials in turn to its one transport (each
// change an "ICE restart"), ending on the last section's; the partner refused its checks and
// `connect` gave up with "no connection within 20 s of the match". The outside offerer here is a
// bare werift RTCPeerConnection speaking the raw protocol, as an integrator would write it.
import { afterEach, describe, expect, it } from 'vitest';
import { MediaLink } from '../../src/bots/links.js';
import type { MediaFeed } from '../../src/bots/media-feed.js';
import { parseServerFrame } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { Outsider, sectionCredentials, type OfferShape } from '../helpers/werift-outsider.js';
import { Sessions } from './helpers.js';

let server: SignalServer | undefined;
const sessions = new Sessions();
const outsiders: Outsider[] = [];
const links: MediaLink[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.close()));
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sessions.closeAll();
  await Promise.all(outsiders.splice(0).map((o) => o.close()));
  await server?.close();
  server = undefined;
});

/** The outsider offers with `shape`; a chatzyo headless peer (no media sources) answers. */
async function call(shape: OfferShape) {
  server = await startServer();
  const outsider = await Outsider.join(server.wsUrl, shape);
  outsiders.push(outsider);
  const [peer, rec] = sessions.create({ server: server.url, video: null, audio: null, negotiationTimeoutMs: 20_000 }, 'chatzyo');
  await withTimeout(peer.start(), 15_000, 'chatzyo peer start');
  await outsider.offerOnMatch(10_000);
  return { outsider, peer, rec };
}

describe('offers whose m-sections carry their own ICE credentials', () => {
  it('BUNDLE with different credentials per section: the bundle-tagged section\'s transport is used, chat flows both ways', async () => {
    // Candidates without usernameFragment: only their sdpMid says which agent they belong to.
    const { outsider, peer, rec } = await call({ bundle: true, distinctCredentials: true, candidateUfrag: false });
    const creds = sectionCredentials(outsider.offer!);
    expect(creds).toHaveLength(3);
    expect(new Set(creds.map((c) => c.ufrag)).size).toBe(3);
    await withTimeout(Promise.all([rec.next('connected', 15_000), outsider.connected]), 16_000, 'both sides connected');
    await withTimeout(outsider.chatOpen, 10_000, 'outsider chat open');
    await rec.next('chat-open', 10_000);
    outsider.chat.send('hello from outside');
    expect((await rec.next('chat', 10_000)).text).toBe('hello from outside');
    peer.sendChat('hello from chatzyo');
    await until(() => outsider.chatReceived.includes('hello from chatzyo'), 10_000, 'outsider got the chat');
    // One transport in the answer: a BUNDLE group over every mid, one ufrag.
    const answer = outsider.answer!;
    expect(answer).toMatch(/^a=group:BUNDLE 0 1 2\r?$/m);
    expect(new Set(sectionCredentials(answer).map((c) => c.ufrag)).size).toBe(1);
    expect(rec.all('ice-restart')).toEqual([]);
    expect(outsider.errors).toEqual([]);
    // Candidates the other sections' agents trickled were not tried: every remote candidate
    // the chatzyo side knows is on a port of the tagged section's agent.
    const tagged = new Set(outsider.sentCandidates.filter((c) => c.sdpMid === '0').map((c) => c.port));
    expect(outsider.sentCandidates.some((c) => c.sdpMid !== '0')).toBe(true);
    const remotePorts = peer.call!.pc.dtlsTransports.flatMap((t) => t.iceTransport.connection.remoteCandidates.map((c) => c.port));
    expect(remotePorts.length).toBeGreaterThan(0);
    expect(remotePorts.filter((port) => !tagged.has(port))).toEqual([]);
  });

  it('BUNDLE repeating the same credentials in every section connects', async () => {
    const { outsider, rec } = await call({ bundle: true, distinctCredentials: false });
    const creds = sectionCredentials(outsider.offer!);
    expect(creds).toHaveLength(3);
    expect(new Set(creds.map((c) => c.ufrag)).size).toBe(1);
    await withTimeout(Promise.all([rec.next('connected', 15_000), outsider.connected]), 16_000, 'both sides connected');
    await rec.next('chat-open', 10_000);
    outsider.chat.send('same credentials');
    expect((await rec.next('chat', 10_000)).text).toBe('same credentials');
    expect(outsider.errors).toEqual([]);
  });

  it('an offer without BUNDLE but with a single m-section (chat only) is answered without a BUNDLE group', async () => {
    const { outsider, rec } = await call({ bundle: false, distinctCredentials: false, media: false });
    expect(outsider.offer).not.toMatch(/a=group:BUNDLE/);
    await withTimeout(Promise.all([rec.next('connected', 15_000), outsider.connected]), 16_000, 'both sides connected');
    expect(outsider.answer).not.toMatch(/a=group:BUNDLE/);
    expect(sectionCredentials(outsider.answer!)).toHaveLength(1);
    await rec.next('chat-open', 10_000);
    outsider.chat.send('no bundle needed');
    expect((await rec.next('chat', 10_000)).text).toBe('no bundle needed');
    expect(outsider.errors).toEqual([]);
  });

  it('an offer without BUNDLE is refused at once with CHZ_ERR_NOT_BUNDLED, and the partner is told with next', async () => {
    const started = Date.now();
    const { outsider, rec } = await call({ bundle: false, distinctCredentials: true });
    expect(outsider.offer).not.toMatch(/a=group:BUNDLE/);
    const gaveUp = await rec.next('gave-up', 5000);
    expect(gaveUp.code).toBe('CHZ_ERR_NOT_BUNDLED');
    expect(gaveUp.reason).toMatch(/BUNDLE/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const left = await outsider.client.next('partner-left', 5000);
    expect(left.reason).toBe('next');
    expect(outsider.answer).toBeNull();
  });
});


describe('the load bots answer through the same Call', () => {
  it('a media bot\'s link answers a BUNDLE offer with different credentials per section and chats', async () => {
    server = await startServer();
    const outsider = await Outsider.join(server.wsUrl, { bundle: true, distinctCredentials: true, candidateUfrag: false });
    outsiders.push(outsider);
    // The bot's side: its signaling is a raw client here, its call the bots' own MediaLink.
    const bot = await TestClient.connect(server.wsUrl);
    clients.push(bot);
    bot.send({ type: 'join', hub: 'tamil' });
    const m = await bot.next('matched');
    expect(m.role).toBe('answerer');
    const silent: MediaFeed = { attach: () => ({ keyframe: () => {}, detach: () => {} }), childCpuMs: () => 0, close: async () => {} };
    const link = new MediaLink({
      matchId: m.matchId, role: 'answerer', iceServers: m.iceServers ?? [], relayOnly: false, matchedAt: Date.now(), feed: silent,
      sendSignal: (data) => bot.send({ type: 'signal', matchId: m.matchId, data }),
    });
    links.push(link);
    bot.ws.on('message', (raw) => {
      const f = parseServerFrame(raw.toString());
      if (f.ok && f.value.type === 'signal' && f.value.matchId === m.matchId) link.handleSignal(f.value.data);
    });
    const failed: string[] = [];
    link.on('failed', (why) => failed.push(why));
    const connected = link.waitFor('connected');
    const chat = link.waitFor('chat');
    link.start();
    await outsider.offerOnMatch(10_000);
    await withTimeout(Promise.all([connected, outsider.connected]), 15_000, 'bot link and outsider connected');
    await withTimeout(outsider.chatOpen, 10_000, 'outsider chat open');
    outsider.chat.send('hello bot');
    expect(await withTimeout(chat, 10_000, 'bot got the chat')).toEqual(['hello bot']);
    expect(failed).toEqual([]);
    expect(link.call.state).toBe('connected');
  });
});
