/** Prometheus metrics of one server instance (its own registry, so several servers can share a process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ReportReason, type HubCount } from '../protocol/index.js';
import type { Matchmaker } from './matchmaker.js';

/** The metrics a signaling server exposes at /metrics. */
export interface ServerMetrics {
  registry: Registry;
  connected: Gauge;
  matches: Counter<'kind'>;
  matchWait: Histogram;
  /** Hub matches whose pair RTT could be estimated from landmarks (pairing.ts): the estimate, ms. */
  pairRttEstimate: Histogram;
  /** Hub matches: the longer of the two waits, by whether the pair RTT was known (what nearby pairing cost). */
  pairWait: Histogram<'estimate'>;
  relayed: Counter;
  errors: Counter<'code'>;
  /** Reports received, by reason (whatever became of them). */
  reports: Counter<'reason'>;
  /** What became of reports: counted toward a ban, or why not. */
  reportOutcomes: Counter<'outcome'>;
  /** Bans made, by who made them (reports or an admin). */
  bans: Counter<'by'>;
}

/** Creates the metrics; queue lengths and in-call counts are read from the matchmaker at scrape time. */
export function createMetrics(matchmaker: () => Matchmaker, options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'chatzyo_' });
  const connected = new Gauge({ name: 'chatzyo_connected_clients', help: 'WebSocket clients connected to this node', registers: [registry] });
  // Both gauges are collected at once on a scrape: they share one matchmaker read (the Redis
  // matchmaker pays a round trip for it).
  let reading: Promise<HubCount[]> | null = null;
  const read = () => (reading ??= matchmaker().counts().catch(() => []).finally(() => { reading = null; }));
  new Gauge({
    name: 'chatzyo_queue_length', help: 'Clients waiting in each hub queue', labelNames: ['hub'], registers: [registry],
    async collect() {
      for (const c of await read()) this.set({ hub: c.name }, c.waiting);
    },
  });
  new Gauge({
    name: 'chatzyo_in_call', help: 'Clients in a call, per hub', labelNames: ['hub'], registers: [registry],
    async collect() {
      for (const c of await read()) this.set({ hub: c.name }, c.inCall);
    },
  });
  const matches = new Counter({ name: 'chatzyo_matches_total', help: 'Matches made (kind: hub or private)', labelNames: ['kind'], registers: [registry] });
  const matchWait = new Histogram({
    name: 'chatzyo_match_wait_seconds', help: 'Time a client waited before being matched', registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
  });
  const pairRttEstimate = new Histogram({
    name: 'chatzyo_match_rtt_estimate_ms', help: 'Estimated round trip between the two clients of a hub match, from their landmark round trips', registers: [registry],
    buckets: [10, 20, 40, 60, 100, 150, 200, 320, 500, 1000],
  });
  const pairWait = new Histogram({
    name: 'chatzyo_match_pair_wait_seconds', help: 'The longer wait of the two clients of a hub match, by whether their round trip was estimated (known) or not (unknown)',
    labelNames: ['estimate'], registers: [registry], buckets: [0.01, 0.1, 0.5, 1, 2, 3, 5, 10, 30],
  });
  const relayed = new Counter({ name: 'chatzyo_relayed_messages_total', help: 'Signals relayed to a partner', registers: [registry] });
  const errors = new Counter({ name: 'chatzyo_errors_total', help: 'Error replies sent, by code', labelNames: ['code'], registers: [registry] });
  const reports = new Counter({ name: 'chatzyo_reports_total', help: 'Partners reported by users, by reason', labelNames: ['reason'], registers: [registry] });
  // Every reason from the start, so a dashboard sees zeros rather than missing series.
  for (const reason of ReportReason.options) reports.inc({ reason }, 0);
  const reportOutcomes = new Counter({
    name: 'chatzyo_report_outcomes_total', help: 'Reports by outcome: counted toward a ban, too-short (call shorter than --report-min-call), rate-limited, unknown-partner',
    labelNames: ['outcome'], registers: [registry],
  });
  const bans = new Counter({ name: 'chatzyo_bans_total', help: 'Bans made on this node, by reports or by an admin', labelNames: ['by'], registers: [registry] });
  return { registry, connected, matches, matchWait, pairRttEstimate, pairWait, relayed, errors, reports, reportOutcomes, bans };
}
