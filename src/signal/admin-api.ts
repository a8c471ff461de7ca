/**
 * The admin API under /api/admin/ (`chatzyo serve --admin-token TOKEN`), for the operator:
 * recent report counts by anonymous id and reason, ban, unban, bans in force, an export of the
 * counts. Every request carries `Authorization: Bearer TOKEN`; without --admin-token there is no
 * admin API at all (404, like any unknown path). README "Safety" shows the curl commands.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { z } from 'zod';
import type { Safety } from './safety.js';
import type { Subject } from './safety-store.js';

/** The path prefix of the admin API. */
export const ADMIN_PREFIX = '/api/admin/';

const MAX_BODY_BYTES = 4096;
const YEAR_MS = 365 * 24 * 3_600_000;

const AnonIdField = z.string().regex(/^[A-Za-z0-9_-]{16}$/, 'an anonymous id is 16 characters of A-Z a-z 0-9 _ -');
const AddressHashField = z.string().regex(/^[0-9a-f]{16}$/, 'an address hash is 16 hex digits');
const Target = z.object({ anonId: AnonIdField.optional(), addressHash: AddressHashField.optional() })
  .refine((t) => (t.anonId === undefined) !== (t.addressHash === undefined), 'give exactly one of anonId and addressHash');
const BanBody = z.object({ anonId: AnonIdField.optional(), addressHash: AddressHashField.optional(), durationMs: z.number().int().min(1000).max(YEAR_MS) })
  .refine((t) => (t.anonId === undefined) !== (t.addressHash === undefined), 'give exactly one of anonId and addressHash');

/** Whether `header` is `Bearer TOKEN` for `token` (constant time: both sides are hashed first). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  const given = createHash('sha256').update(m ? m[1]! : '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body) + '\n');
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) { resolve(null); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // A client that goes away mid-body: nothing to answer (a later resolve is a no-op).
    req.on('close', () => resolve(null));
    req.on('error', reject);
  });
}

async function parseJson<T>(req: http.IncomingMessage, res: http.ServerResponse, schema: z.ZodType<T>): Promise<T | null> {
  const text = await readBody(req);
  if (text === null) { send(res, 413, { error: 'body too large' }); return null; }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    send(res, 400, { error: 'the body is not JSON' });
    return null;
  }
  const r = schema.safeParse(value);
  if (!r.success) { send(res, 400, { error: r.error.issues.map((i) => i.message).join('; ') }); return null; }
  return r.data;
}

function subjectOf(t: { anonId?: string | undefined; addressHash?: string | undefined }): Subject {
  return t.anonId !== undefined ? { kind: 'anon', id: t.anonId } : { kind: 'addr', id: t.addressHash! };
}

/**
 * Serves one request under {@link ADMIN_PREFIX}. `token` undefined: no admin API (404).
 */
export async function serveAdmin(req: http.IncomingMessage, res: http.ServerResponse, p: string, token: string | undefined, safety: Safety): Promise<void> {
  if (token === undefined) { res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n'); return; }
  if (!bearerMatches(req.headers.authorization, token)) {
    send(res, 401, { error: 'unauthorized: send Authorization: Bearer <the --admin-token>' }, { 'www-authenticate': 'Bearer realm="chatzyo admin"' });
    return;
  }
  const route = p.slice(ADMIN_PREFIX.length);
  const method = req.method ?? 'GET';
  const allow = (m: string): boolean => {
    if (method === m) return true;
    send(res, 405, { error: `use ${m}` }, { allow: m });
    return false;
  };
  switch (route) {
    case 'reports':
      if (allow('GET')) send(res, 200, { banWindowMs: safety.banWindowMs, reported: await safety.recentReports() });
      return;
    case 'bans':
      if (allow('GET')) send(res, 200, { bans: await safety.bans() });
      return;
    case 'export':
      if (allow('GET')) send(res, 200, await safety.export(), { 'content-disposition': 'attachment; filename="chatzyo-safety-export.json"' });
      return;
    case 'ban': {
      if (!allow('POST')) return;
      const body = await parseJson(req, res, BanBody);
      if (body) send(res, 200, { ban: await safety.ban(subjectOf(body), body.durationMs) });
      return;
    }
    case 'unban': {
      if (!allow('POST')) return;
      const body = await parseJson(req, res, Target);
      if (body) send(res, 200, { unbanned: await safety.unban(subjectOf(body)) });
      return;
    }
    default:
      send(res, 404, { error: 'unknown admin endpoint: reports, bans, export (GET); ban, unban (POST)' });
  }
}
