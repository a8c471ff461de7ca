/**
 * The hook for a real age-assurance provider (`chatzyo serve --age-verifier URL`). The client
 * gets a signed "over 18" assertion from the provider, in whatever form the provider signs it,
 * and sends it in `hello`; the server does not read it: it POSTs it to the provider's URL and
 * admits the client when the provider answers 200 with `{"over18": true}`. The provider keeps
 * its keys and its format; chatzyo keeps no record of the assertion.
 */

/**
 * What the verifier said:
 * - `over18`: 200 with `{"over18": true}`: admit;
 * - `refused`: an explicit no, 200 with `{"over18": false}` or a 4xx (but 408 and 429): final
 *   (CHZ_ERR_AGE_REQUIRED, close 4007);
 * - `unavailable`: no verdict, the provider could not be asked: no answer within the timeout, no
 *   connection, a 5xx, 408 or 429, a redirect, another status, or a 200 whose body is not
 *   `{"over18": true|false}`: retryable (CHZ_ERR_UNAVAILABLE), never the final refusal.
 */
export type AgeVerdict = 'over18' | 'refused' | 'unavailable';

/** How long the server waits for the verifier. */
const VERIFY_TIMEOUT_MS = 3000;

/** Asks the verifier at `url` about `assertion`. Never throws. */
export async function verifyAge(url: string, assertion: string, timeoutMs = VERIFY_TIMEOUT_MS): Promise<AgeVerdict> {
  let res: Response;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ assertion }),
      signal,
      redirect: 'error',
    });
  } catch {
    return 'unavailable';
  }
  // 408 (it timed out reading us) and 429 (it is overloaded) say nothing about the assertion.
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    await res.body?.cancel().catch(() => undefined);
    return 'refused';
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    return 'unavailable';
  }
  try {
    // The timeout covers the body too: a provider that sends headers and stalls is unavailable.
    const body = (await res.json()) as { over18?: unknown } | null;
    if (body?.over18 === true) return 'over18';
    return body?.over18 === false ? 'refused' : 'unavailable';
  } catch {
    return 'unavailable';
  }
}
