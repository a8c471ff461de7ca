/** Every await in a test has a deadline and a message. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${message}`)), ms);
    }),
  ]);
}

/**
 * Polls `check` (no fixed sleeps: it resolves as soon as the condition holds). A check that
 * never returns (a hung page's evaluate) fails at the deadline too, a second late at most.
 */
export async function until(check: () => boolean | Promise<boolean>, ms: number, message: string | (() => string), everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  const say = () => (typeof message === 'function' ? message() : message);
  const hung = Symbol('hung');
  for (;;) {
    const left = Math.max(0, end - Date.now()) + 1000;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      Promise.resolve().then(check).finally(() => clearTimeout(timer)),
      new Promise<typeof hung>((resolve) => { timer = setTimeout(() => resolve(hung), left); }),
    ]);
    if (ok === hung) throw new Error(`timeout after ${ms} ms: ${say()} (the last check had not returned a second past the deadline)`);
    if (ok) return;
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms: ${say()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
