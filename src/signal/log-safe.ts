/**
 * What of an error may be logged: its code and a message with addresses masked. Node's socket
 * errors name the peer (`send EACCES 203.0.113.7:3478`), and logs must not record a user's
 * address (the server logs a salted hash where it needs to correlate one).
 */

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g;
const IPV6 = /\[?\b(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[\w.-]+)?\]?(?::\d{1,5})?/gi;

/** Replaces every IPv4/IPv6 address (and port) in a string with `<addr>`. */
export function maskAddresses(text: string): string {
  return text.replace(IPV6, '<addr>').replace(IPV4, '<addr>');
}

/** The loggable part of an error: `{ code, error }`, never the error object itself. */
export function errorForLog(err: unknown): { code?: string; error: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return code ? { code, error: maskAddresses(message) } : { error: maskAddresses(message) };
}
