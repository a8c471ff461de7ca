/**
 * Ephemeral TURN credentials in coturn's "TURN REST API" form
 * (draft-uberti-behave-turn-rest-00, coturn `use-auth-secret` / `static-auth-secret`):
 * username `expiry:sessionId`, credential base64(HMAC-SHA1(secret, username)).
 */
import { createHmac } from 'node:crypto';
import type { IceServer } from '../protocol/index.js';

/** Builds the TURN username and credential for one session. */
export function turnCredentials(secret: string, sessionId: string, ttlSeconds: number, nowMs = Date.now()): { username: string; credential: string; expiresAt: number } {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiry}:${sessionId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: expiry * 1000 };
}

/**
 * The ICE servers for one session: STUN URLs, then (with `withTurn`) TURN URLs with fresh
 * credentials; `turnExpiresAt` says when those expire (null without TURN).
 */
export function iceServersFor(opts: { stunUrls: string[]; turnUrls: string[]; turnSecret?: string; turnTtlSeconds: number }, sessionId: string, withTurn: boolean): { iceServers: IceServer[]; turnExpiresAt: number | null } {
  const iceServers: IceServer[] = [];
  if (opts.stunUrls.length) iceServers.push({ urls: opts.stunUrls });
  if (withTurn && opts.turnUrls.length && opts.turnSecret) {
    const { username, credential, expiresAt } = turnCredentials(opts.turnSecret, sessionId, opts.turnTtlSeconds);
    iceServers.push({ urls: opts.turnUrls, username, credential });
    return { iceServers, turnExpiresAt: expiresAt };
  }
  return { iceServers, turnExpiresAt: null };
}
