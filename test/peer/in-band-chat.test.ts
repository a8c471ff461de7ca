// Issue 12 item 1: a partner that chats the classic in-band way (a `chat` channel it opens with a
// DCEP open, no negotiated channel) chats with `chatzyo connect`'s PeerSession, both ways, in
// either role; a partner that carries each message on both channels has it shown once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CHAT_CHARS, SAFETY_CHANNEL } from '../../src/protocol/index.js';
import type { SignalServer } from '../../src/signal/server.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { InBandChatPartner } from '../helpers/in-band-chat-partner.js';
import { startServer } from '../helpers/server.js';
import { Sessions } from './helpers.js';

let server: SignalServer;
const sessions = new Sessions();
const partners: InBandChatPartner[] = [];

beforeAll(async () => { server = await startServer(); });
afterEach(async () => {
  await Promise.all(partners.splice(0).map((p) => p.close()));
  await sessions.closeAll();
});
afterAll(async () => { await server?.close(); });

async function partner(opts: { negotiatedChat?: boolean } = {}): Promise<InBandChatPartner> {
  const p = await InBandChatPartner.connect(server.wsUrl, { name: 'in-band partner', ...opts });
  partners.push(p);
  return p;
}

/** A chatzyo peer without media (chat is what is tested), with a short safety timeout. */
function chatzyo() {
  return sessions.create({ server: server.url, video: null, audio: null, safetyTimeoutMs: 3000 }, 'chatzyo');
}

describe('a partner with an in-band chat channel and a chatzyo headless peer', () => {
  it('the partner offers (its channel is on stream 1): chat both ways, no safety message reaches its chat, safety unavailable', async () => {
    const out = await partner();
    await out.join();
    const calling = out.call();
    const [peer, rec] = chatzyo();
    await withTimeout(peer.start(), 15_000, 'chatzyo peer start');
    expect((await withTimeout(calling, 15_000, 'partner matched')).role).toBe('offerer');
    await out.inBandOpen();
    // werift numbers in-band channels by ICE role: the controlling offerer takes the odd ids.
    expect(out.inBand?.id).toBe(1);
    await rec.next('chat-open', 20_000);

    out.send('vanakkam from a classic client');
    expect((await rec.next('chat', 10_000)).text).toBe('vanakkam from a classic client');
    expect(peer.sendChat('hello back from chatzyo')).toBe(true);
    expect(await out.chat('hello back from chatzyo')).toEqual([{ text: 'hello back from chatzyo', on: 'in-band', streamId: 1 }]);

    // Binary is not chat; an over-long message is cut to 1,000 characters.
    out.send(Buffer.from([1, 2, 3]));
    out.send('x'.repeat(1500));
    expect((await rec.next('chat', 10_000)).text).toBe('x'.repeat(MAX_CHAT_CHARS));

    // The partner takes no part in the safety exchange: the number is unavailable, and nothing
    // of the exchange arrived on the partner's chat channel.
    expect((await rec.next('safety-problem', 10_000)).state).toBe('unavailable');
    expect(out.received.map((r) => r.text)).toEqual(['hello back from chatzyo']);
    expect(rec.all('chat').map((c) => c.text)).toEqual(['vanakkam from a classic client', 'x'.repeat(MAX_CHAT_CHARS)]);
    expect(out.errors).toEqual([]);
  });

  it('the partner answers and opens its own channel (stream 0, shared with the negotiated chat): chat both ways', async () => {
    const [peer, rec] = chatzyo();
    await withTimeout(peer.start(), 15_000, 'chatzyo peer start');
    await rec.next('queued', 10_000);
    const out = await partner();
    out.client.send({ type: 'join', hub: 'tamil' });
    expect((await out.call()).role).toBe('answerer');
    await out.inBandOpen();
    expect(out.inBand?.id).toBe(0);
    await rec.next('chat-open', 20_000);

    out.send('hi from the answering side');
    expect((await rec.next('chat', 10_000)).text).toBe('hi from the answering side');
    expect(peer.sendChat('and hi to you')).toBe(true);
    expect(await out.chat('and hi to you')).toEqual([{ text: 'and hi to you', on: 'in-band', streamId: 0 }]);
    expect(out.errors).toEqual([]);
  });

  it('a partner with both channels that sends each message on both: shown once; ours go out once, on its in-band channel', async () => {
    const out = await partner({ negotiatedChat: true });
    await out.join();
    const calling = out.call();
    const [peer, rec] = chatzyo();
    await withTimeout(peer.start(), 15_000, 'chatzyo peer start');
    await withTimeout(calling, 15_000, 'partner matched');
    await out.inBandOpen();
    await until(() => out.negotiated?.readyState === 'open', 10_000, 'partner negotiated channel open');
    await rec.next('chat-open', 20_000);

    for (const t of ['one', 'two', 'two', 'three']) out.send(t, true);
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) texts.push((await rec.next('chat', 10_000)).text);
    expect(texts).toEqual(['one', 'two', 'two', 'three']);

    expect(peer.sendChat('only once')).toBe(true);
    await out.chat('only once');
    // Give a second copy time to arrive, if one were sent: a marker sent after it arrives first.
    expect(peer.sendChat('marker')).toBe(true);
    await out.chat('marker');
    expect(out.received.filter((r) => r.text === 'only once')).toEqual([{ text: 'only once', on: 'in-band', streamId: out.inBand!.id }]);
    // No more copies came late.
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.all('chat')).toHaveLength(4);
    expect(out.inBand?.id).not.toBe(SAFETY_CHANNEL.id);
  });
});
