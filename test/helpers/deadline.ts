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
export async function until(check: () => boolean | Promise<boolean>, ms: number, message: string, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const left = Math.max(0, end - Date.now()) + 1000;
    const ok = await withTimeout(Promise.resolve().then(check), left, message).catch((err: unknown) => {
      if (err instanceof Error && err.message === `timeout after ${left} ms: ${message}`) throw new Error(`timeout after ${ms} ms: ${message} (the last check never returned)`);
      throw err;
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms: ${message}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
