/** Prometheus metrics of cross-node delivery (the Redis matchmaker's per-node streams). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why a cross-node message was not handed to a client. */
const DROP_REASONS = [
  /** The addressee is no longer connected to the node (its sender is told `partner-left`). */
  'client-gone',
  /** The addressee's match is over (its sender is told `partner-left`). */
  'match-ended',
  /** Read a second time (a resend after an unanswered write, or a re-read): delivered once already. */
  'duplicate',
  /** The sender's sequence skipped: messages were lost upstream (trimmed before they were read). */
  'gap',
  /** Could not be written to Redis within the outbox age limit (Redis down too long). */
  'expired',
  /** The outbox toward Redis was full. */
  'overflow',
  /** Not a message this version understands. */
  'malformed',
  /** Delivering it to the local client threw (a bug); skipped so the reader goes on. */
  'handler',
  /** A notice of a match older than one its client was already told of (it came late): that match is over. */
  'stale',
] as const;
/** A reason in {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Kinds of cross-node message. */
export type WireKind = 'matched' | 'left' | 'signal' | 'expired';

/** The counters and histogram of cross-node delivery. */
export interface ClusterMetrics {
  sent: Counter<'kind'>;
  delivered: Counter<'kind'>;
  replayed: Counter;
  dropped: Counter<'reason'>;
  lag: Histogram;
  outbox: Gauge;
}

/** Registers the cross-node metrics on `registry` (a fresh one when omitted). */
export function createClusterMetrics(registry: Registry = new Registry()): ClusterMetrics {
  const registers = [registry];
  const dropped = new Counter({
    name: 'chatzyo_cross_node_dropped_total', help: 'Cross-node messages not delivered, by reason', labelNames: ['reason'], registers,
  });
  // Every reason shows (at 0) from the first scrape, so alerts can be written before it happens.
  for (const reason of DROP_REASONS) dropped.inc({ reason }, 0);
  return {
    sent: new Counter({ name: 'chatzyo_cross_node_sent_total', help: 'Messages this node wrote to another node\'s stream, by kind', labelNames: ['kind'], registers }),
    delivered: new Counter({ name: 'chatzyo_cross_node_delivered_total', help: 'Messages from other nodes handed to a client here, by kind', labelNames: ['kind'], registers }),
    replayed: new Counter({ name: 'chatzyo_cross_node_replayed_total', help: 'Messages read from this node\'s stream after its reader reconnected or the node restarted', registers }),
    dropped,
    lag: new Histogram({
      name: 'chatzyo_cross_node_lag_seconds', help: 'From the sender node accepting a message to this node reading it (includes outbox waits during Redis outages)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
    outbox: new Gauge({ name: 'chatzyo_cross_node_outbox', help: 'Messages waiting to be written to Redis (grows while Redis is unreachable)', registers }),
  };
}
