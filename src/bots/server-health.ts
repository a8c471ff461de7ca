/**
 * Whether a bots run's server went away. A bot whose socket drops says so; the watch then
 * decides: a server that said it is shutting down is gone at once, any other drop is checked
 * against the server's `/healthz` (one check per server at a time), and a server that does not
 * answer is gone. Bots disconnected by a rate limit, or a flaky network, do not end the run.
 */
import type { LostSocket } from './tally.js';

/** How long the `/healthz` check may take before the server counts as gone, ms. */
const HEALTH_TIMEOUT_MS = 2000;

/** The http(s) base of a server URL (for /healthz). */
function httpBase(server: string): string {
  const u = new URL(server.includes('://') ? server : `http://${server}`);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  if (u.protocol === 'wss:') u.protocol = 'https:';
  u.pathname = '/';
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/$/, '');
}

/** The first server found gone, and the close code its bot saw. */
export interface ServerGone {
  server: string;
  code: number;
}

/** Watches lost sockets for a server that is gone; tells `onGone` once. */
export class ServerWatch {
  #gone: ServerGone | null = null;
  readonly #checking = new Set<string>();

  /**
   * @param onGone   called once, with the first server found gone
   * @param ignoring true while lost sockets no longer matter (the run is stopping)
   */
  constructor(readonly onGone: (gone: ServerGone) => void, readonly ignoring: () => boolean) {}

  /** The server found gone, if any. */
  get gone(): ServerGone | null { return this.#gone; }

  /** A bot's socket dropped: is its server gone? A shutdown says so; otherwise ask /healthz. */
  lost(l: LostSocket): void {
    if (this.#gone || this.ignoring()) return;
    if (l.serverCode === 'CHZ_ERR_SERVER_SHUTDOWN') { this.#declare(l.server, l.code); return; }
    if (this.#checking.has(l.server)) return;
    this.#checking.add(l.server);
    fetch(`${httpBase(l.server)}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
      .then((res) => { void res.body?.cancel(); })
      .catch(() => this.#declare(l.server, l.code))
      .finally(() => this.#checking.delete(l.server));
  }

  #declare(server: string, code: number): void {
    if (this.#gone) return;
    this.#gone = { server, code };
    this.onGone(this.#gone);
  }
}
