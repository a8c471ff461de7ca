// The call-state channel's rules (src/protocol/state-channel.ts, docs/protocol.md "The state
// channel"): what validates, what is dropped without a throw (oversized, unknown type, garbage,
// binary), the receive rate limit, and the send limits for `typing` and `media`.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  encodeStateMessage, MAX_STATE_MESSAGE_LENGTH, MEDIA_SEND_INTERVAL_MS, parseStateMessage, STATE_CHANNEL, STATE_RECEIVE_BURST,
  STATE_RECEIVE_PER_SECOND, StateInbox, StateOutbox, TYPING_SEND_INTERVAL_MS, CHAT_CHANNEL, SAFETY_CHANNEL,
} from '../../src/protocol/index.js';

describe('state messages', () => {
  it('parses media and typing, and encodes what it parses back to the same message', () => {
    for (const text of ['{"t":"media","camera":false,"mic":true}', '{"t":"media","camera":true,"mic":false}', '{"t":"typing"}']) {
      const r = parseStateMessage(text);
      expect(r.ok, text).toBe(true);
      if (r.ok) expect(encodeStateMessage(r.value)).toBe(text);
    }
  });

  it('drops unknown fields (a newer partner may add some) but keeps the message', () => {
    expect(parseStateMessage('{"t":"media","camera":false,"mic":true,"screen":true}')).toEqual({ ok: true, value: { t: 'media', camera: false, mic: true } });
    expect(parseStateMessage('{"t":"typing","since":3}')).toEqual({ ok: true, value: { t: 'typing' } });
  });

  it('refuses, without throwing, oversized, unknown, invalid, garbage and binary messages', () => {
    const refused: unknown[] = [
      `{"t":"typing","pad":"${'x'.repeat(MAX_STATE_MESSAGE_LENGTH)}"}`, // oversized (checked before parsing)
      '{"t":"screen","on":true}', // unknown type
      '{"camera":false,"mic":true}', // no type
      '{"t":"media","camera":"no","mic":true}', // wrong field type
      '{"t":"media","camera":false}', // missing field
      'hello', '', '{', 'null', '[]', '42', '"typing"', '{"t":null}', '{"__proto__":{"t":"typing"}}',
      new Uint8Array([123, 125]), new ArrayBuffer(4), null, undefined, 7, {},
    ];
    for (const data of refused) {
      const r = parseStateMessage(data);
      expect(r.ok, String(data)).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/\w/);
    }
    expect(parseStateMessage('x'.repeat(MAX_STATE_MESSAGE_LENGTH + 1))).toMatchObject({ ok: false, reason: expect.stringMatching(/limit/) });
  });

  it('never throws on any string or value (fuzz), and accepts only the two types', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.json(), fc.anything()), (data) => {
      const r = parseStateMessage(data);
      if (r.ok) expect(['media', 'typing']).toContain(r.value.t);
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.record({ t: fc.constantFrom('media', 'typing', 'other'), camera: fc.anything(), mic: fc.anything() }, { requiredKeys: [] }), (o) => {
      const r = parseStateMessage(JSON.stringify(o));
      if (r.ok && r.value.t === 'media') expect([typeof r.value.camera, typeof r.value.mic]).toEqual(['boolean', 'boolean']);
    }), { numRuns: 1000 });
  });

  it('has its own stream id, apart from the chat and safety channels', () => {
    expect(new Set([STATE_CHANNEL.id, CHAT_CHANNEL.id, SAFETY_CHANNEL.id]).size).toBe(3);
    expect(new Set([STATE_CHANNEL.label, CHAT_CHANNEL.label, SAFETY_CHANNEL.label]).size).toBe(3);
  });
});

describe('StateInbox', () => {
  it('takes a burst, then the steady rate; the rest are dropped, valid or not', () => {
    const inbox = new StateInbox();
    const typing = '{"t":"typing"}';
    let taken = 0;
    for (let i = 0; i < 100; i++) if (inbox.receive(typing, 1000)) taken++;
    expect(taken).toBe(STATE_RECEIVE_BURST);
    expect(inbox.dropped).toBe(100 - STATE_RECEIVE_BURST);
    // One second later: the steady rate's worth.
    taken = 0;
    for (let i = 0; i < 100; i++) if (inbox.receive(typing, 2000)) taken++;
    expect(taken).toBe(STATE_RECEIVE_PER_SECOND);
  });

  it('returns null for garbage and counts it against the rate', () => {
    const inbox = new StateInbox();
    for (let i = 0; i < STATE_RECEIVE_BURST; i++) expect(inbox.receive('garbage', 0)).toBeNull();
    expect(inbox.receive('{"t":"media","camera":false,"mic":true}', 0)).toBeNull();
    expect(inbox.receive('{"t":"media","camera":false,"mic":true}', 1000)).toEqual({ t: 'media', camera: false, mic: true });
  });
});

describe('StateOutbox', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('sends typing at most once per 2 s', () => {
    const sent: string[] = [];
    const out = new StateOutbox((t) => sent.push(t), () => Date.now());
    expect(out.typing()).toBe(true);
    for (let i = 0; i < 19; i++) { vi.advanceTimersByTime(100); expect(out.typing()).toBe(false); }
    vi.advanceTimersByTime(TYPING_SEND_INTERVAL_MS - 1900);
    expect(out.typing()).toBe(true);
    expect(sent).toEqual(['{"t":"typing"}', '{"t":"typing"}']);
  });

  it('sends a media change at once, coalesces quick changes into the latest, and nothing after close', () => {
    const sent: string[] = [];
    const out = new StateOutbox((t) => sent.push(t), () => Date.now());
    out.media({ camera: false, mic: true });
    expect(sent).toEqual(['{"t":"media","camera":false,"mic":true}']);
    // Flicking the camera: four changes inside one interval go out as one message, the last state.
    out.media({ camera: true, mic: true });
    out.media({ camera: false, mic: true });
    out.media({ camera: true, mic: false });
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(MEDIA_SEND_INTERVAL_MS);
    expect(sent).toEqual(['{"t":"media","camera":false,"mic":true}', '{"t":"media","camera":true,"mic":false}']);
    out.media({ camera: true, mic: true });
    out.close();
    vi.advanceTimersByTime(MEDIA_SEND_INTERVAL_MS * 4);
    expect(out.typing()).toBe(false);
    expect(sent).toHaveLength(2);
  });

  it('every message it sends parses on the other side', () => {
    const inbox = new StateInbox();
    const out = new StateOutbox((t) => { expect(inbox.receive(t)).not.toBeNull(); }, () => Date.now());
    out.typing();
    out.media({ camera: false, mic: false });
  });
});
