/**
 * Private call links: `/#/call/CODE`. The code lives in the fragment, so it never reaches the
 * server in an HTTP request line, a proxy log or a Referer header.
 */
import { PrivateCode } from '../protocol/index.js';

const CALL_ROUTE = /^#\/call\/([^/?#]+)$/;

/** The private call code in a location hash, or null when the hash is not a (valid) call link. */
export function privateCodeFromHash(hash: string): string | null {
  const m = CALL_ROUTE.exec(hash);
  if (!m) return null;
  let code: string;
  try {
    code = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  return PrivateCode.safeParse(code).success ? code : null;
}

/** The link that joins private call `code` on this server. */
export function privateLink(code: string, origin: string = location.origin): string {
  return `${origin}/#/call/${encodeURIComponent(code)}`;
}

/** Clears a used call link from the address bar so a reload does not try to rejoin it. */
export function clearCallRoute(): void {
  if (privateCodeFromHash(location.hash) !== null) history.replaceState(null, '', location.pathname + location.search);
}
