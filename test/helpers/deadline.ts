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

/** Polls `check` (no fixed sleeps: it resolves as soon as the condition holds). */
export async function until(check: () => boolean | Promise<boolean>, ms: number, message: string, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms: ${message}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
