/**
 * The chat line of `connect`'s terminal view as a pure function of what arrives on stdin.
 *
 * ink's `useInput` hands over whatever one `read()` returned: a key typed by hand is one
 * character, but a paste, a script or a terminal multiplexer (`tmux send-keys "hello" Enter`)
 * delivers `"hello\r"` — or several lines — as one string, with no `key.return` flag. So input is
 * handled by its bytes, never by its timing: every CR (or LF, or CRLF) in a chunk ends a line and
 * sends it.
 */
import { MAX_CHAT_CHARS, ReportReason } from '../protocol/index.js';

/**
 * A typed line that is a report command, `/report REASON`: the reason, or an error naming the
 * reasons; null for any other line (chat text).
 */
export function parseReportCommand(line: string): { reason: ReportReason } | { error: string } | null {
  const m = /^\/report(?:\s+(\S*))?\s*$/.exec(line.trim());
  if (!m) return null;
  const r = ReportReason.safeParse(m[1]);
  return r.success ? { reason: r.data } : { error: `Say why: /report ${ReportReason.options.join('|')}` };
}

/** The line being typed. */
export interface ChatLine {
  input: string;
  /** Enter was pressed on an empty line: every key is text until the next Enter or Esc. */
  composing: boolean;
}

/** What a chunk asks the session to do, in order. */
export type ChatAction = { type: 'send'; text: string } | { type: 'next' } | { type: 'quit' };

/** The longest chat line the view keeps. */
export const MAX_CHAT_LINE = MAX_CHAT_CHARS;

/**
 * Applies one chunk of typed text (not an escape sequence: ink splits those off) to the line.
 * A one-character chunk is a key: `n` and `q` on an idle line are Next and Quit. A longer chunk
 * is pasted text, so `nice\r` sends "nice" rather than pressing Next.
 * Backspace (DEL or BS) deletes; other control characters are dropped.
 */
export function applyChunk(line: ChatLine, chunk: string): { line: ChatLine; actions: ChatAction[] } {
  let { input, composing } = line;
  const actions: ChatAction[] = [];
  const chars = [...chunk];
  if (chars.length === 1 && !composing && !input && (chunk === 'n' || chunk === 'q')) {
    return { line, actions: [{ type: chunk === 'q' ? 'quit' : 'next' }] };
  }
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\r' || c === '\n') {
      if (c === '\r' && chars[i + 1] === '\n') i++; // CRLF is one line break
      if (!input) { composing = true; continue; }
      actions.push({ type: 'send', text: input });
      input = '';
      composing = false;
      continue;
    }
    if (c === '\u007f' || c === '\b') { input = [...input].slice(0, -1).join(''); continue; }
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this drops
    if (/[\u0000-\u001f\u007f-\u009f]/.test(c)) continue;
    if (input.length < MAX_CHAT_LINE) input = (input + c).slice(0, MAX_CHAT_LINE);
  }
  return { line: { input, composing }, actions };
}
