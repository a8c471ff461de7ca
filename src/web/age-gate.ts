/**
 * The 18+ gate (issue 16): before the first call the page asks the person to confirm they are 18
 * or older. It is a self-declaration, and the page says so; the answer is kept on this device
 * (localStorage), so it is asked once. A deployment that needs real age assurance sets
 * `--age-verifier`, and the page then also presents the verifier's signed assertion in hello
 * (signal-client.ts).
 */

/** Where the confirmation is kept on the device. */
const AGE_STORAGE_KEY = 'chatzyo.adult';

/** True when the person confirmed on this device before. */
function confirmedBefore(): boolean {
  try { return localStorage.getItem(AGE_STORAGE_KEY) === 'confirmed'; } catch { return false; }
}

/** The gate's dialog (`data-testid="age-gate"`), asked at most once per device. */
export class AgeGate {
  readonly #dialog: HTMLDialogElement;
  readonly #confirm: HTMLButtonElement;
  readonly #leave: HTMLButtonElement;
  #confirmed = confirmedBefore();
  #pending: Promise<boolean> | null = null;

  constructor() {
    this.#dialog = document.getElementById('age-gate') as HTMLDialogElement;
    this.#confirm = document.getElementById('age-confirm') as HTMLButtonElement;
    this.#leave = document.getElementById('age-leave') as HTMLButtonElement;
  }

  get confirmed(): boolean { return this.#confirmed; }

  /** Resolves true once the person confirmed (at once when they did before), false when they did not. */
  ensure(): Promise<boolean> {
    if (this.#confirmed) return Promise.resolve(true);
    if (this.#pending) return this.#pending;
    this.#pending = new Promise<boolean>((resolve) => {
      const done = (yes: boolean) => {
        this.#confirm.removeEventListener('click', onYes);
        this.#leave.removeEventListener('click', onNo);
        this.#dialog.removeEventListener('close', onClose);
        if (this.#dialog.open) this.#dialog.close();
        this.#pending = null;
        resolve(yes);
      };
      const onYes = () => {
        this.#confirmed = true;
        try { localStorage.setItem(AGE_STORAGE_KEY, 'confirmed'); } catch { /* storage off: asked again next time */ }
        done(true);
      };
      const onNo = () => done(false);
      // Escape closes the dialog: not a confirmation.
      const onClose = () => done(this.#confirmed);
      this.#confirm.addEventListener('click', onYes);
      this.#leave.addEventListener('click', onNo);
      this.#dialog.addEventListener('close', onClose);
      this.#dialog.showModal();
      this.#confirm.focus();
    });
    return this.#pending;
  }
}
