/**
 * The shield over the stranger's video and the "camera shows nothing" notice (issue 16): renders
 * a {@link Screener}'s snapshots. `data-testid="remote-shield"` carries `data-state`
 * (`screening` | `clear` | `flagged`) and `data-policy`; the remote box gets `data-blur` while the
 * video must not be seen. A flagged frame offers Next, Report and "Show anyway", and so does a
 * blurred video whose screening could not start (the model failed or did not load in time).
 */
import { t, type MessageKey } from './i18n/index.js';
import type { Screener, ScreenerSnapshot } from './screening.js';

/** What the shield's buttons do (the view's Next and Report). */
interface ShieldActions {
  next(): void;
  report(): void;
}

/** Binds the shield elements to a screener. */
export class RemoteShield {
  readonly #box: HTMLElement;
  readonly #shield = document.getElementById('remote-shield') as HTMLElement;
  readonly #text = document.getElementById('shield-text') as HTMLElement;
  readonly #buttons = document.getElementById('shield-buttons') as HTMLElement;
  readonly #show = document.getElementById('shield-show') as HTMLButtonElement;
  readonly #nothing = document.getElementById('remote-nothing') as HTMLElement;
  readonly #screener: Screener;

  constructor(screener: Screener, box: HTMLElement, actions: ShieldActions) {
    this.#screener = screener;
    this.#box = box;
    screener.on('change', () => this.render());
    (document.getElementById('shield-next') as HTMLButtonElement).addEventListener('click', () => actions.next());
    (document.getElementById('shield-report') as HTMLButtonElement).addEventListener('click', () => actions.report());
    (document.getElementById('nothing-next') as HTMLButtonElement).addEventListener('click', () => actions.next());
    this.#show.addEventListener('click', () => screener.showAnyway());
    this.render();
  }

  /** Draws the current snapshot (also after a change of language). */
  render(s: ScreenerSnapshot = this.#screener.snapshot()): void {
    const on = s.active && s.policy !== 'off';
    this.#shield.hidden = !on;
    this.#shield.dataset.state = s.state;
    this.#shield.dataset.policy = s.policy;
    const blur = on && !s.override && (s.state === 'flagged' || (s.state === 'screening' && s.policy === 'blur-until-safe'));
    this.#box.toggleAttribute('data-blur', blur);
    this.#shield.toggleAttribute('data-blur', blur);
    const key: MessageKey | null = !on || s.override ? null
      : s.state === 'flagged' ? 'shield.flagged'
        : s.state === 'screening' && s.failed ? (blur ? 'shield.failed' : 'shield.failedShown')
          : s.state === 'screening' && s.unsure && s.policy === 'blur-until-safe' ? 'shield.unsure'
            : s.state === 'screening' && s.policy === 'blur-until-safe' ? 'shield.checking' : null;
    const text = key ? t(key) : '';
    if (this.#text.textContent !== text) this.#text.textContent = text;
    // Next, Report and "Show anyway" when flagged, and while blurred with no verdict coming
    // (the check could not run, or stays unsure).
    this.#buttons.hidden = !(on && !s.override && (s.state === 'flagged' || ((s.failed || s.unsure) && blur)));
    this.#nothing.hidden = !(s.active && s.nothing);
  }
}
