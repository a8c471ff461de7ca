/**
 * The hook for a real age-assurance provider (`chatzyo serve --age-verifier URL`). The client
 * gets a signed "over 18" assertion from the provider, in whatever form the provider signs it,
 * and sends it in `hello`; the server does not read it: it POSTs it to the provider's URL and
 * admits the client when the provider answers 200 with `{"over18": true}`. The provider keeps
 * its keys and its format; chatzyo keeps no record of the assertion.
 */

/** What the verifier said: admitted, refused, or it could not be asked (down, slow, a 5xx). */
export type AgeVerdict = 'over18' | 'refused' | 'unavailable';

/** How long the server waits for the verifier. */
const VERIFY_TIMEOUT_MS = 3000;

/** Asks the verifier at `url` about `assertion`. Never throws. */
export async function verifyAge(url: string, assertion: string, timeoutMs = VERIFY_TIMEOUT_MS): Promise<AgeVerdict> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ assertion }),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch {
    return 'unavailable';
  }
  if (res.status >= 500) { await res.body?.cancel(); return 'unavailable'; }
  if (res.status !== 200) { await res.body?.cancel(); return 'refused'; }
  try {
    const body = (await res.json()) as { over18?: unknown } | null;
    return body?.over18 === true ? 'over18' : 'refused';
  } catch {
    return 'refused';
  }
}
