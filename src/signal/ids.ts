import { randomBytes } from 'node:crypto';

/** A random URL-safe id of `bytes` random bytes (base64url, no padding). */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}
