/** What a session needs from its server. */
import type { Logger } from 'pino';
import type { HubCount, IceServer } from '../protocol/index.js';
import type { Matchmaker } from './matchmaker.js';
import type { ServerMetrics } from './metrics.js';
import type { SignalServerOptions } from './options.js';

export interface ServerContext {
  options: SignalServerOptions;
  matchmaker: Matchmaker;
  metrics: ServerMetrics;
  log: Logger;
  hasTurn: boolean;
  /** ICE servers for a session; the built-in STUN URL is named as the client reached us (Host). */
  iceServersFor(sessionId: string, hostHeader: string | undefined): IceServer[];
  lastCounts(): HubCount[] | null;
}
