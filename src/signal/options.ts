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
  turnTtlSeconds: number;
  tlsCert?: string;
  tlsKey?: string;
  trustProxy: boolean;
  allowedOrigins: string[];
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
}

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
  messagesPerSecond: 50,
  rateLimitStrikes: 20,
  nextsPerMinute: 30,
  maxErrors: 20,
  maxConnectionsPerAddress: 20,
  stunPort: 3478,
  stunUrls: [],
  turnUrls: [],
  turnTtlSeconds: 3600,
  trustProxy: false,
  allowedOrigins: [],
  hubsIntervalMs: 2_000,
  nodeTtlMs: 10_000,
  logLevel: 'info',
};
