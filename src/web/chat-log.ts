/**
 * The chat log on the page: a bounded list that a flooding partner cannot grow or make the page
 * spend its time rendering. Lines are inserted as text (never HTML) after {@link displaySafe},
 * batched into one DOM update per animation frame, the log keeps the last
 * {@link CHAT_LOG_MAX_LINES} lines, and a partner's lines beyond a token-bucket rate are not shown:
 * one "N messages hidden" line stands for them.
 */
import { displaySafe } from '../protocol/index.js';
import type { ChatLine } from './browser-session.js';
import { bindText, text, type Text } from './i18n/index.js';

/** Lines kept in the log (older ones are removed as new ones come). */
export const CHAT_LOG_MAX_LINES = 300;

/** A partner's lines shown per second once a burst is spent. */
const PARTNER_LINES_PER_SECOND = 5;
/** A partner's lines shown at once before the rate applies (a pasted paragraph, a greeting and a question). */
export const PARTNER_BURST = 20;

/** The log element and the lines it shows. */
export class ChatLog {
  readonly #el: HTMLOListElement;
  #pending: ChatLine[] = [];
  /** Partner lines not shown since the last "hidden" line was written. */
  #hidden = 0;
  /** The "N messages hidden" line still at the end of the log, updated while a flood goes on. */
  #hiddenLine: { li: HTMLLIElement; count: number } | null = null;
  #tokens = PARTNER_BURST;
  #refilledAt = performance.now();
  #frame: number | null = null;

  constructor(el: HTMLOListElement) {
    this.#el = el;
  }

  /** Adds a line; it appears on the next animation frame (a partner's only while under the rate). */
  append(line: ChatLine): void {
    if (line.from === 'partner' && !this.#takeToken()) {
      this.#hidden++;
    } else {
      this.#pending.push(line);
      // While the tab is hidden no frame comes: keep what could still be shown, count the rest.
      if (this.#pending.length > CHAT_LOG_MAX_LINES) {
        const dropped = this.#pending.splice(0, this.#pending.length - CHAT_LOG_MAX_LINES);
        this.#hidden += dropped.filter((l) => l.from === 'partner').length;
      }
    }
    this.#frame ??= requestAnimationFrame(() => this.#flush());
  }

  /** Empties the log (a new partner). */
  clear(): void {
    if (this.#frame !== null) cancelAnimationFrame(this.#frame);
    this.#frame = null;
    this.#pending = [];
    this.#hidden = 0;
    this.#hiddenLine = null;
    this.#tokens = PARTNER_BURST;
    this.#refilledAt = performance.now();
    this.#el.replaceChildren();
  }

  #takeToken(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(PARTNER_BURST, this.#tokens + ((now - this.#refilledAt) / 1000) * PARTNER_LINES_PER_SECOND);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #flush(): void {
    this.#frame = null;
    const lines = this.#pending;
    this.#pending = [];
    const items: HTMLLIElement[] = [];
    if (lines.length) this.#hiddenLine = null; // the hidden count goes after these, in a new line
    for (const line of lines) items.push(lineItem(line));
    if (this.#hidden > 0) {
      if (this.#hiddenLine && this.#hiddenLine.li.isConnected) {
        this.#hiddenLine.count += this.#hidden;
        bindText(this.#hiddenLine.li, hiddenText(this.#hiddenLine.count));
      } else {
        const li = lineItem({ from: 'system', text: hiddenText(this.#hidden) });
        li.dataset.hidden = 'true';
        this.#hiddenLine = { li, count: this.#hidden };
        items.push(li);
      }
      this.#hidden = 0;
    }
    if (!items.length) return;
    this.#el.append(...items);
    const extra = this.#el.children.length - CHAT_LOG_MAX_LINES;
    for (let i = 0; i < extra; i++) this.#el.firstElementChild!.remove();
    this.#el.scrollTop = this.#el.scrollHeight;
  }
}

function hiddenText(n: number): Text {
  return text('chat.hidden', { count: n });
}

/** One `<li>`: who, then the text, as text nodes (a partner's message is untrusted). */
function lineItem(line: ChatLine): HTMLLIElement {
  const li = document.createElement('li');
  li.className = line.from;
  if (line.from !== 'system') {
    const who = document.createElement('span');
    who.className = 'who';
    bindText(who, text(line.from === 'you' ? 'chat.you' : 'chat.stranger'));
    li.append(who);
    // What people wrote is theirs: not ours to translate (nor a browser's).
    const said = document.createElement('span');
    said.translate = false;
    said.append(document.createTextNode(displaySafe(line.text)));
    li.append(said);
  } else {
    bindText(li, line.text);
  }
  return li;
}
