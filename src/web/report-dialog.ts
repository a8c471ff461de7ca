/**
 * "Why are you reporting?" (issue 16): Report opens a small dialog with the five reasons the
 * protocol knows (`data-testid="report-reason"`, radio buttons); Send is enabled once one is
 * picked. Nothing the person could type goes to the server: only the reason. The dialog is about
 * one call: the current one ("Then you meet someone new"), or one that has ended (the stranger
 * left while it was open, or "Report the last stranger"), which the hint then leaves out.
 */
import { ReportReason } from '../protocol/index.js';
import { t, type MessageKey } from './i18n/index.js';

/** The report dialog of the page. */
export class ReportDialog {
  readonly #dialog = document.getElementById('report-dialog') as HTMLDialogElement;
  readonly #send = document.getElementById('report-send') as HTMLButtonElement;
  readonly #cancel = document.getElementById('report-cancel') as HTMLButtonElement;
  readonly #radios = Array.from(document.querySelectorAll<HTMLInputElement>('#report-reason input[type="radio"]'));
  readonly #hint = document.getElementById('report-hint') as HTMLElement;
  #answer: ((reason: ReportReason | null) => void) | null = null;

  constructor() {
    for (const r of this.#radios) r.addEventListener('change', () => { this.#send.disabled = !this.#picked(); });
    this.#send.addEventListener('click', () => this.#finish(this.#picked()));
    this.#cancel.addEventListener('click', () => this.#finish(null));
    // Escape (or any other close): no report.
    this.#dialog.addEventListener('close', () => this.#finish(null));
  }

  /** Whether the dialog is waiting for an answer. */
  get open(): boolean { return this.#answer !== null; }

  /** Asks for a reason (`ended`: about a call that is over); null when the person cancelled. */
  ask(ended: boolean): Promise<ReportReason | null> {
    if (this.#answer) return Promise.resolve(null);
    for (const r of this.#radios) r.checked = false;
    this.#send.disabled = true;
    this.setEnded(ended);
    return new Promise((resolve) => {
      this.#answer = resolve;
      this.#dialog.showModal();
      this.#radios[0]?.focus();
    });
  }

  /** The call the dialog asks about is over (or not): the hint no longer promises someone new. */
  setEnded(ended: boolean): void {
    const key: MessageKey = ended ? 'report.hintLast' : 'report.hint';
    if (this.#hint.dataset.i18n === key) return;
    this.#hint.dataset.i18n = key;
    this.#hint.textContent = t(key);
  }

  /** Closes the dialog unanswered (the call it was about can no longer be reported). */
  cancel(): void {
    this.#finish(null);
  }

  #picked(): ReportReason | null {
    const parsed = ReportReason.safeParse(this.#radios.find((r) => r.checked)?.value);
    return parsed.success ? parsed.data : null;
  }

  #finish(reason: ReportReason | null): void {
    const answer = this.#answer;
    this.#answer = null;
    if (this.#dialog.open) this.#dialog.close();
    answer?.(reason);
  }
}
