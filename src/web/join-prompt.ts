/**
 * "Join this private call?": the in-page question asked before a call link that arrives in an
 * open page (a change of the URL fragment only) is joined. Any page that holds a reference to
 * this tab (one that opened it, or that this tab's opener can reach) may set its fragment
 * without the person knowing; joining silently would move a live call, camera on, into that
 * page's private call. A `<dialog>` element, not window.confirm (which a page can suppress and
 * which blocks the call's timers); No has the focus, Escape means No.
 */
import { t, type MessageKey } from './i18n/index.js';
import { byTestId } from './view.js';

/** Why the question is asked, for its wording. */
export type JoinPromptContext = 'in-call' | 'waiting' | 'camera-on' | 'idle';

const DETAIL: Record<JoinPromptContext, MessageKey> = {
  'in-call': 'join.inCall',
  waiting: 'join.waiting',
  'camera-on': 'join.cameraOn',
  idle: 'join.idle',
};

/** The dialog of index.html (`data-testid="join-private-confirm"`). */
export class JoinPrompt {
  readonly #dialog = byTestId<HTMLDialogElement>('join-private-confirm');
  readonly #detail = byTestId<HTMLElement>('join-private-detail');
  readonly #code = byTestId<HTMLElement>('join-private-code');
  readonly #yes = byTestId<HTMLButtonElement>('join-private-yes');
  readonly #no = byTestId<HTMLButtonElement>('join-private-no');
  #answer: ((yes: boolean) => void) | null = null;

  constructor() {
    this.#yes.addEventListener('click', () => this.#close(true));
    this.#no.addEventListener('click', () => this.#close(false));
    // Escape (the dialog's cancel) and any other way it closes: No.
    this.#dialog.addEventListener('close', () => this.#close(false));
  }

  /**
   * Asks whether to join private call `code`; resolves true only for Yes. While one question is
   * open, another link is refused (false) rather than swapped in under the person's cursor.
   */
  ask(code: string, context: JoinPromptContext): Promise<boolean> {
    if (this.#answer) return Promise.resolve(false);
    this.#detail.textContent = t(DETAIL[context]);
    this.#code.textContent = code;
    return new Promise((resolve) => {
      this.#answer = resolve;
      this.#dialog.showModal();
      this.#no.focus();
    });
  }

  #close(yes: boolean): void {
    const answer = this.#answer;
    this.#answer = null;
    if (this.#dialog.open) this.#dialog.close();
    answer?.(yes);
  }
}

/**
 * The wording for a session in `state` (camera on or not); null when no link is joined at all
 * (offline, still asking for the camera, closed: as before, the link is dropped).
 */
export function promptContext(state: string, cameraOn: boolean): JoinPromptContext | null {
  switch (state) {
    case 'in-call': return 'in-call';
    case 'searching':
    case 'private-waiting':
    case 'joining-private': return 'waiting';
    case 'idle': return cameraOn ? 'camera-on' : 'idle';
    default: return null;
  }
}
