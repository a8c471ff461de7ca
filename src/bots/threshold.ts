/**
 * The result of one pass/fail threshold of a bots run. Its own file because both the run's
 * thresholds (stats.ts) and the call-quality ones (quality.ts) produce it, and stats.ts uses
 * quality.ts: kept in either, the two would import each other.
 */

/** One threshold and whether it held. */
export interface ThresholdResult {
  name: 'max-fail-rate' | 'max-p95-connect-ms' | 'max-p95-match-ms' | 'min-bitrate-kbps' | 'server-stayed-up' | 'any-connected'
    | 'max-freeze-ratio' | 'max-p95-latency-ms' | 'min-mos';
  limit: number | null;
  value: number | null;
  passed: boolean;
  /** A sentence for a person. */
  message: string;
}
