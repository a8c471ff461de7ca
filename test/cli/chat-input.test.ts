// The chat line editor of `connect`'s terminal view: input is handled by what arrives, never by
// its timing, so a burst ("hello\r" in one read) sends exactly as keys typed one by one do.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChunk, MAX_CHAT_LINE, type ChatAction, type ChatLine } from '../../src/cli/chat-input.js';

const IDLE: ChatLine = { input: '', composing: false };

function feed(chunks: string[], from: ChatLine = IDLE): { line: ChatLine; actions: ChatAction[] } {
  let line = from;
  const actions: ChatAction[] = [];
  for (const c of chunks) {
    const r = applyChunk(line, c);
    line = r.line;
    actions.push(...r.actions);
  }
  return { line, actions };
}

describe('applyChunk', () => {
  it('one burst "hello\\r" sends hello and clears the line', () => {
    expect(applyChunk(IDLE, 'hello\r')).toEqual({ line: IDLE, actions: [{ type: 'send', text: 'hello' }] });
  });

  it('a pasted multi-line burst sends each line; CRLF and LF end lines too', () => {
    expect(applyChunk(IDLE, 'a\rb\r').actions).toEqual([{ type: 'send', text: 'a' }, { type: 'send', text: 'b' }]);
    expect(applyChunk(IDLE, 'one\r\ntwo\nthree').actions).toEqual([{ type: 'send', text: 'one' }, { type: 'send', text: 'two' }]);
    expect(applyChunk(IDLE, 'one\r\ntwo\nthree').line).toEqual({ input: 'three', composing: false });
  });

  it('a pasted word starting with n or q is text, not Next or Quit; a single n or q key on an idle line is', () => {
    expect(applyChunk(IDLE, 'nice\r').actions).toEqual([{ type: 'send', text: 'nice' }]);
    expect(applyChunk(IDLE, 'quiet').line.input).toBe('quiet');
    expect(applyChunk(IDLE, 'n').actions).toEqual([{ type: 'next' }]);
    expect(applyChunk(IDLE, 'q').actions).toEqual([{ type: 'quit' }]);
    expect(applyChunk({ input: '', composing: true }, 'q')).toEqual({ line: { input: 'q', composing: true }, actions: [] });
  });

  it('Enter on an empty line starts composing; backspace deletes a whole character; control characters are dropped', () => {
    expect(applyChunk(IDLE, '\r')).toEqual({ line: { input: '', composing: true }, actions: [] });
    expect(applyChunk(IDLE, 'hé\u007f\u007fy\u0007o\r').actions).toEqual([{ type: 'send', text: 'yo' }]);
    expect(applyChunk(IDLE, '👋\u007f').line.input).toBe('');
  });

  it('the same text sends the same messages whether it arrives in one chunk or key by key', () => {
    const text = fc.stringMatching(/^[a-z ]{1,8}$/).filter((s) => s !== 'n' && s !== 'q');
    fc.assert(fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), (lines) => {
      const burst = lines.map((l) => `${l}\r`).join('');
      // Key by key: a line that starts with n or q needs Enter first, as a person would type it.
      const keys = lines.flatMap((l) => [...(/^[nq]/.test(l) ? '\r' : ''), ...l, '\r']);
      const sent = (r: { actions: ChatAction[] }) => r.actions.filter((a) => a.type === 'send');
      expect(sent(feed([burst]))).toEqual(lines.map((l) => ({ type: 'send', text: l })));
      expect(sent(feed(keys))).toEqual(sent(feed([burst])));
    }));
  });

  it(`keeps at most ${MAX_CHAT_LINE} characters`, () => {
    expect(applyChunk(IDLE, 'x'.repeat(5000)).line.input).toHaveLength(MAX_CHAT_LINE);
  });
});
