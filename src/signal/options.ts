import type { Landmark } from '../protocol/index.js';
import type { PairingMode } from './pairing.js';
import { DEFAULT_LIMITS } from '../protocol/index.js';

/** Every setting of `chatzyo serve`, with the embedded defaults. */
export interface SignalServerOptions {
  host: string;
  port: number;
  hubs: string[];
  interestFallbackMs: number;
  rematchCooldownMs: number;
  privateCodeTtlMs: number;
  heartbeatMs: number;
  helloTimeoutMs: number;
  maxFrameBytes: number;
  messagesPerSecond: number;
  /** Messages dropped by the rate limit before the connection is closed with 4002. */
  rateLimitStrikes: number;
  nextsPerMinute: number;
  /** The window `nextsPerMinute` counts over (one minute; shorter only in tests). */
  skipWindowMs: number;
  /** Error replies within 10 s before the connection is closed with 4000. */
  maxErrors: number;
  maxConnectionsPerAddress: number;
  /** Built-in STUN responder port (0 = any free port); null disables it. */
  stunPort: number | null;
  /** Address the STUN responder binds (default: `host`); must be specific for RFC 5780. */
  stunAddress?: string;
  /** Second IP address for RFC 5780 CHANGE-REQUEST (change IP). */
  stunAltAddress?: string;
  /** Second port for RFC 5780 (change port); 0 = any free port. Implied (0) by stunAltAddress. */
  stunAltPort?: number;
  /** STUN URLs announced to clients; empty = announce the built-in responder. */
  stunUrls: string[];
  turnUrls: string[];
  turnSecret?: string;
  /**
   * Lifetime of minted TURN credentials. Short (default 10 minutes): a credential is a free relay
   * for whoever holds it; the server renews it while the session that needs it lives.
   */
  turnTtlSeconds: number;
  /** TURN credentials one address may be given per minute; past this, no TURN until it slows down. */
  turnMintsPerMinute: number;
  tlsCert?: string;
  tlsKey?: string;
  /**
   * Reverse proxies in front of the server whose X-Forwarded-For entries are trusted: 0 = none
   * (use the socket address), N = take the Nth entry from the right (the one the first trusted
   * proxy appended). A client writes whatever it likes to the left of that.
   */
  trustProxy: number;
  /**
   * Page origins allowed to open the WebSocket besides the server's own (an Origin whose host
   * is the request's Host). Clients that send no Origin (non-browser) are always accepted.
   */
  allowedOrigins: string[];
  /** Serve /metrics and /healthz on a separate listener at this port (unset: on the app port). */
  metricsPort?: number;
  /** Address of the metrics listener (default loopback). */
  metricsHost: string;
  /**
   * Most bytes queued toward one client (ws.bufferedAmount); a client that stops reading past
   * this is dropped with close code 4006 instead of growing the server's memory.
   */
  maxBufferedBytes: number;
  /** Sustained bytes per second one connection may send (burst: 4 frames). */
  bytesPerSecond: number;
  /** How often live hub counts are pushed to clients who are not in a call. */
  hubsIntervalMs: number;
  /** Directory with the built browser client (index.html, app.js). */
  webRoot?: string;
  /** Redis URL for multi-node matchmaking; unset = in-memory (one node). */
  redisUrl?: string;
  /** This node's id in a Redis cluster of nodes (default: random). */
  nodeId?: string;
  /** A node that misses heartbeats this long is dead and its clients are cleaned up. */
  nodeTtlMs: number;
  /** pino level: 'info' by default, 'silent' in tests. */
  logLevel: string;
  /** `nearby` (default): prefer strangers near each other on the network (pairing.ts); `random`: arrival order. */
  pairing: PairingMode;
  /** Landmarks besides this node's own STUN responder (`--landmark NAME=stun:host:port`). */
  landmarks: Landmark[];
  /** The name of this node's own STUN responder as a landmark (`--region`; default `local`). */
  region: string;
  /**
   * Signs the anonymous tokens and salts the address hashes (`--safety-secret`). Unset: one
   * random per process, or with `redisUrl` one shared by every node through Redis (kept there).
   */
  safetySecret?: string;
  /** Distinct reporters (distinct tokens and addresses) within `banWindowMs` that ban someone. */
  banAfterReports: number;
  /** Reports older than this no longer count toward a ban. */
  banWindowMs: number;
  /** Ban lengths: the first ban, the second, ...; the last repeats. */
  banDurationsMs: number[];
  /** A report counts only when the reporter was in the call at least this long (ms since matched). */
  reportMinCallMs: number;
  /** Reports one reporter (token, and address) may make per `reportWindowMs`; more are not counted. */
  maxReports: number;
  /** The window `maxReports` counts over (10 minutes). */
  reportWindowMs: number;
  /** Bearer token of the admin API under /api/admin/ (unset: no admin API at all). */
  adminToken?: string;
  /** URL the server asks whether a hello's `ageAssertion` is valid (unset: no age assertion needed). */
  ageVerifier?: string;
  /** The deployment's default on-device screening of the stranger's video, announced in welcome. */
  screening: ScreeningMode;
}

/** Modes of on-device screening a deployment can announce (`--screening`). */
export const SCREENING_MODES = ['off', 'blur-until-safe', 'flag-only'] as const;
/** One of {@link SCREENING_MODES}. */
type ScreeningMode = (typeof SCREENING_MODES)[number];

/** The defaults: in-memory matchmaking, built-in STUN on 3478, HTTP on 8080. */
export const DEFAULT_OPTIONS: SignalServerOptions = {
  host: '0.0.0.0',
  port: 8080,
  hubs: ['global', 'tamil', 'usa', 'uk', 'hindi', 'malayalam'],
  interestFallbackMs: 5_000,
  rematchCooldownMs: 60_000,
  privateCodeTtlMs: 10 * 60_000,
  heartbeatMs: 10_000,
  helloTimeoutMs: 10_000,
  maxFrameBytes: 64 * 1024,
  messagesPerSecond: DEFAULT_LIMITS.messagesPerSecond,
  rateLimitStrikes: 20,
  nextsPerMinute: DEFAULT_LIMITS.nextsPerMinute,
  skipWindowMs: 60_000,
  maxErrors: 20,
  maxConnectionsPerAddress: DEFAULT_LIMITS.maxConnectionsPerAddress,
  stunPort: 3478,
  stunUrls: [],
  turnUrls: [],
  turnTtlSeconds: 600,
  turnMintsPerMinute: 60,
  trustProxy: 0,
  metricsHost: '127.0.0.1',
  maxBufferedBytes: DEFAULT_LIMITS.maxBufferedBytes,
  bytesPerSecond: DEFAULT_LIMITS.bytesPerSecond,
  allowedOrigins: [],
  hubsIntervalMs: 2_000,
  nodeTtlMs: 10_000,
  logLevel: 'info',
  pairing: 'nearby',
  landmarks: [],
  region: 'local',
  banAfterReports: 3,
  banWindowMs: 24 * 3_600_000,
  banDurationsMs: [3_600_000, 24 * 3_600_000, 7 * 24 * 3_600_000],
  reportMinCallMs: 5_000,
  maxReports: 5,
  reportWindowMs: 10 * 60_000,
  screening: 'blur-until-safe',
};
