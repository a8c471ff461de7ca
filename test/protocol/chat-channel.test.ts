// The chat rules both clients share (src/protocol/chat-channel.ts, docs/protocol.md "Between peers").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHAT_COPY_WINDOW_MS, ChatCopies, chatFromMessage, chatSendChannel, clampChat, MAX_CHAT_CHARS } from '../../src/protocol/index.js';

describe('chat messages', () => {
  it('text up to 1,000 characters passes as it is; longer text is cut to its first 1,000 characters', () => {
    expect(chatFromMessage('vanakkam')).toBe('vanakkam');
    expect(chatFromMessage('x'.repeat(MAX_CHAT_CHARS))).toHaveLength(MAX_CHAT_CHARS);
    expect(chatFromMessage('x'.repeat(5000))).toBe('x'.repeat(MAX_CHAT_CHARS));
  });
  it('characters are code points: 1,000 emoji are kept whole, and a cut never splits a surrogate pair', () => {
    const emoji = '\u{1F600}';
    expect(clampChat(emoji.repeat(MAX_CHAT_CHARS))).toBe(emoji.repeat(MAX_CHAT_CHARS));
    expect(clampChat(emoji.repeat(MAX_CHAT_CHARS + 1))).toBe(emoji.repeat(MAX_CHAT_CHARS));
    expect(clampChat(`${'x'.repeat(999)}${emoji}y`)).toBe(`${'x'.repeat(999)}${emoji}`);
  });
  it('binary and empty messages are not chat', () => {
    expect(chatFromMessage('')).toBeNull();
    expect(chatFromMessage(new Uint8Array([104, 105]))).toBeNull();
    expect(chatFromMessage(new ArrayBuffer(2))).toBeNull();
    expect(chatFromMessage(Buffer.from('hi'))).toBeNull();
  });
  it('any string comes out well-formed, at most 1,000 code points, and a prefix of the input', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 1500 }), (s) => {
      const out = clampChat(s);
      expect(s.startsWith(out)).toBe(true);
      expect([...out].length).toBeLessThanOrEqual(MAX_CHAT_CHARS);
      expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/); // no lone surrogate
      if ([...s].length <= MAX_CHAT_CHARS) expect(out).toBe(s);
    }));
  });
});

describe('the channel a message goes out on', () => {
  const ch = (readyState: string, name: string) => ({ readyState, name });
  it('the negotiated channel when the partner opened none in-band', () => {
    expect(chatSendChannel(ch('open', 'negotiated'), [])?.name).toBe('negotiated');
    expect(chatSendChannel(ch('connecting', 'negotiated'), [])).toBeNull();
    expect(chatSendChannel(null, [])).toBeNull();
  });
  it('the partner\'s in-band channel (its newest open one) when it opened one; never both', () => {
    expect(chatSendChannel(ch('open', 'negotiated'), [ch('open', 'in-band')])?.name).toBe('in-band');
    expect(chatSendChannel(ch('open', 'negotiated'), [ch('open', 'first'), ch('open', 'second')])?.name).toBe('second');
    expect(chatSendChannel(ch('open', 'negotiated'), [ch('open', 'first'), ch('closed', 'second')])?.name).toBe('first');
    expect(chatSendChannel(ch('open', 'negotiated'), [ch('closed', 'in-band')])?.name).toBe('negotiated');
    expect(chatSendChannel(null, [ch('open', 'in-band')])?.name).toBe('in-band');
  });
});

describe('a message carried on two channels is shown once', () => {
  it('a copy on a second channel is dropped, whichever channel is first', () => {
    const c = new ChatCopies();
    expect(c.accept('0', 'hi', 0)).toBe(true);
    expect(c.accept('1', 'hi', 5)).toBe(false);
    expect(c.accept('1', 'there', 10)).toBe(true);
    expect(c.accept('0', 'there', 12)).toBe(false);
  });
  it('the same text twice on one channel is shown twice, and twice on each of two channels twice', () => {
    const c = new ChatCopies();
    expect([c.accept('0', 'ok', 0), c.accept('0', 'ok', 1), c.accept('1', 'ok', 2), c.accept('1', 'ok', 3)]).toEqual([true, true, false, false]);
  });
  it('interleaved copies of a sequence on two channels: each message shown once', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', 'b', 'hi'), { maxLength: 12 }), fc.infiniteStream(fc.boolean()), (msgs, picks) => {
      // Two channels each carry the whole sequence in order; arrivals interleave at random.
      const c = new ChatCopies();
      const shown: string[] = [];
      let i = 0;
      let j = 0;
      const it = picks[Symbol.iterator]();
      let t = 0;
      while (i < msgs.length || j < msgs.length) {
        const fromA = j >= msgs.length || (i < msgs.length && it.next().value);
        const text = fromA ? msgs[i++]! : msgs[j++]!;
        if (c.accept(fromA ? 'a' : 'b', text, t++)) shown.push(text);
      }
      expect(shown.slice().sort()).toEqual(msgs.slice().sort());
    }));
  });
  it('after the copy window the same text is a new message', () => {
    const c = new ChatCopies();
    expect(c.accept('0', 'hi', 0)).toBe(true);
    expect(c.accept('1', 'hi', CHAT_COPY_WINDOW_MS + 1)).toBe(true);
  });
  it('a flood of distinct texts keeps memory bounded and still shows each one', () => {
    const c = new ChatCopies();
    for (let k = 0; k < 10_000; k++) expect(c.accept('0', `m${k}`, 0)).toBe(true);
  });
});
