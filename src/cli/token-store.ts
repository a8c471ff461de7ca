/**
 * Where `chatzyo connect` keeps the anonymous tokens servers give it (one per server), so that
 * the next run presents the same token, as the browser does from its storage. The file is
 * `tokens.json` in the cache directory: --cache-dir, else CHATZYO_CACHE_DIR, else
 * $XDG_CACHE_HOME/chatzyo, else ~/.cache/chatzyo. A token identifies nobody; it lets a server's
 * reports and bans follow one client.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const FILE = 'tokens.json';
/** Servers remembered at most (the most recently used; tests on random ports must not grow the file forever). */
const MAX_SERVERS = 50;

/** The cache directory, or null when there is none to use. */
export function cacheDirFor(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (explicit) return explicit;
  if (env.CHATZYO_CACHE_DIR) return env.CHATZYO_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'chatzyo');
  const home = os.homedir();
  return home ? path.join(home, '.cache', 'chatzyo') : null;
}

/** Tokens are per server: `https://chat.example.com` and `http://localhost:8080` each have their own. */
function serverKey(server: string): string {
  try {
    const u = new URL(server.includes('://') ? server : `http://${server}`);
    const scheme = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
    return `${scheme}//${u.host}`;
  } catch {
    return server;
  }
}

function readAll(dir: string): Record<string, string> {
  try {
    const data = JSON.parse(readFileSync(path.join(dir, FILE), 'utf8')) as unknown;
    if (!data || typeof data !== 'object' || Array.isArray(data)) return {};
    return Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

/** The token stored for `server`, if any. */
export function readToken(dir: string | null, server: string): string | undefined {
  return dir === null ? undefined : readAll(dir)[serverKey(server)];
}

/**
 * Stores `token` for `server` (readable by this user only; written to a temporary file and
 * renamed, so a crash never leaves half a file). Returns false when the directory is not writable.
 */
export function writeToken(dir: string | null, server: string, token: string): boolean {
  if (dir === null) return false;
  const all = readAll(dir);
  const key = serverKey(server);
  if (all[key] === token) return true;
  // Last written last: the file's order is the order of use, and the oldest go first.
  delete all[key];
  all[key] = token;
  const kept = Object.fromEntries(Object.entries(all).slice(-MAX_SERVERS));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `${FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(kept, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, path.join(dir, FILE));
    return true;
  } catch {
    return false;
  }
}
