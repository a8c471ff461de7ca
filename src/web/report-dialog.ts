/**
 * "Why are you reporting?" (issue 16): Report opens a small dialog with the five reasons the
 * protocol knows (`data-testid="report-reason"`, radio buttons); Send is enabled once one is
 * picked. Nothing the person could type goes to the server: only the reason.
 */
import { ReportReason } from '../protocol/index.js';

/** The report dialog of the page. */
export class ReportDialog {
  readonly #dialog = document.getElementById('report-dialog') as HTMLDialogElement;
  readonly #send = document.getElementById('report-send') as HTMLButtonElement;
  readonly #cancel = document.getElementById('report-cancel') as HTMLButtonElement;
  readonly #radios = Array.from(document.querySelectorAll<HTMLInputElement>('#report-reason input[type="radio"]'));
  #answer: ((reason: ReportReason | null) => void) | null = null;

  constructor() {
    for (const r of this.#radios) r.addEventListener('change', () => { this.#send.disabled = !this.#picked(); });
    this.#send.addEventListener('click', () => this.#finish(this.#picked()));
    this.#cancel.addEventListener('click', () => this.#finish(null));
    // Escape (or any other close): no report.
    this.#dialog.addEventListener('close', () => this.#finish(null));
  }

  /** Asks for a reason; null when the person cancelled. */
  ask(): Promise<ReportReason | null> {
    if (this.#answer) return Promise.resolve(null);
    for (const r of this.#radios) r.checked = false;
    this.#send.disabled = true;
    return new Promise((resolve) => {
      this.#answer = resolve;
      this.#dialog.showModal();
      this.#radios[0]?.focus();
    });
  }

  /** Closes the dialog unanswered (the call it was about ended). */
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
