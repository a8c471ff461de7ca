/**
 * Ephemeral TURN credentials in coturn's "TURN REST API" form
 * (draft-uberti-behave-turn-rest-00, coturn `use-auth-secret` / `static-auth-secret`):
 * username `expiry:sessionId`, credential base64(HMAC-SHA1(secret, username)).
 */
import { createHmac } from 'node:crypto';
import type { IceServer, LandmarkRtts } from '../protocol/index.js';

/** Builds the TURN username and credential for one session. */
export function turnCredentials(secret: string, sessionId: string, ttlSeconds: number, nowMs = Date.now()): { username: string; credential: string; expiresAt: number } {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiry}:${sessionId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: expiry * 1000 };
}

/**
 * A `--turn` URL and the region it is tagged with: `turn:host:port?transport=udp#region=chennai`
 * (the fragment is ours: it is removed before the URL is announced).
 */
export function splitTurnRegion(url: string): { url: string; region: string | null } {
  const i = url.indexOf('#');
  if (i < 0) return { url, region: null };
  const m = /^region=([a-z0-9][a-z0-9-]{0,31})$/.exec(url.slice(i + 1));
  return { url: url.slice(0, i), region: m ? m[1]! : null };
}

/**
 * TURN URLs nearest first for a client with these landmark round trips (nearby pairing): a URL
 * tagged with a region the client timed sorts by that round trip; the others keep their order
 * after those (a stable sort). Without round trips, the order given.
 */
export function turnUrlsNearestFirst(turnUrls: readonly string[], rtts?: LandmarkRtts): string[] {
  const tagged = turnUrls.map((u, i) => ({ ...splitTurnRegion(u), i }));
  const key = (t: { region: string | null }) => (t.region !== null && rtts?.[t.region] !== undefined ? rtts[t.region]! : Infinity);
  return tagged.sort((a, b) => key(a) - key(b) || a.i - b.i).map((t) => t.url);
}

/**
 * The ICE servers for one session: STUN URLs, then (with `withTurn`) TURN URLs with fresh
 * credentials, nearest first when the session sent landmark round trips; `turnExpiresAt` says
 * when those expire (null without TURN).
 */
export function iceServersFor(opts: { stunUrls: string[]; turnUrls: string[]; turnSecret?: string; turnTtlSeconds: number }, sessionId: string, withTurn: boolean, rtts?: LandmarkRtts): { iceServers: IceServer[]; turnExpiresAt: number | null } {
  const iceServers: IceServer[] = [];
  if (opts.stunUrls.length) iceServers.push({ urls: opts.stunUrls });
  if (withTurn && opts.turnUrls.length && opts.turnSecret) {
    const { username, credential, expiresAt } = turnCredentials(opts.turnSecret, sessionId, opts.turnTtlSeconds);
    iceServers.push({ urls: turnUrlsNearestFirst(opts.turnUrls, rtts), username, credential });
    return { iceServers, turnExpiresAt: expiresAt };
  }
  return { iceServers, turnExpiresAt: null };
}
