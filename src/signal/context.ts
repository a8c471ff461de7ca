/** What a session needs from its server. */
import type { Logger } from 'pino';
import type { HubCount, IceServer, Landmark, LandmarkRtts } from '../protocol/index.js';
import type { Matchmaker } from './matchmaker.js';
import type { ServerMetrics } from './metrics.js';
import type { SlidingWindow } from './rate-limit.js';
import type { SignalServerOptions } from './options.js';
import type { Safety } from './safety.js';

export interface ServerContext {
  options: SignalServerOptions;
  matchmaker: Matchmaker;
  metrics: ServerMetrics;
  log: Logger;
  /** Anonymous identities, reports and bans. */
  safety: Safety;
  hasTurn: boolean;
  /**
   * ICE servers for a session; the built-in STUN URL is named as the client reached us (Host).
   * With `withTurn`, TURN credentials are minted too unless the address used up its quota
   * (`turnExpiresAt` is then null).
   */
  iceServersFor(session: { id: string; addressHash: string; hostHeader: string | undefined; rtts?: LandmarkRtts | undefined }, withTurn: boolean): { iceServers: IceServer[]; turnExpiresAt: number | null };
  /** The landmarks `welcome` lists (none when pairing is random); the built-in STUN named as the client reached us. */
  landmarksFor(session: { hostHeader: string | undefined }): Landmark[];
  /**
   * The window of matches a new connection from this (hashed) address has ended: the one a
   * departed connection from the address left behind, if any (see WindowPool).
   */
  adoptEndedMatches(addressHash: string): SlidingWindow;
  /** A connection closed: its ended-matches window waits for the next one from its address. */
  releaseEndedMatches(addressHash: string, window: SlidingWindow): void;
  lastCounts(): HubCount[] | null;
}
