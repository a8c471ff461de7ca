import { limitHint } from '../protocol/index.js';

/**
 * The limit hint for an error or any error in its `cause` chain (a peer's CHZ_ERR_SERVER_REJECTED
 * carries the wire code of the close, e.g. CHZ_ERR_TOO_MANY_CONNECTIONS, as its cause).
 */
export function limitHintOf(err: unknown): string | null {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const hint = limitHint(typeof e.code === 'string' ? e.code : undefined);
    if (hint) return hint;
  }
  return null;
}
