/**
 * An estimated audio MOS from RTT, jitter and loss: the ITU-T G.107 E-model, simplified as Cole
 * and Rosenbluth ("Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001) did, the
 * form most VoIP monitors use:
 *
 * - all default G.107 inputs folded into R0 = 93.2 (no circuit noise, no echo, no advantage);
 * - the delay impairment Id as two straight lines of the effective one-way latency
 *   d = RTT/2 + 2 x jitter + 10 ms (the jitter buffer holds about two jitters; 10 ms of codec):
 *   Id = d/40 below 160 ms, (d - 120)/10 above;
 * - the equipment impairment Ie as 2.5 points per percent of packet loss (G.711 with packet
 *   loss concealment; Opus with FEC does better, so this errs low);
 * - R to MOS with G.107's own mapping (Annex B): 1 + 0.035 R + 7e-6 R (R - 60)(100 - R).
 *
 * So a perfect path scores 4.41, 3G about 4.3, 10% loss about 3.3. Pure TypeScript.
 */

/** Inputs of {@link estimateMos}. */
export interface MosInput {
  rttMs: number;
  jitterMs: number;
  lossPercent: number;
}

/** The E-model's transmission rating R (0..93.2) of a path. */
function rFactor({ rttMs, jitterMs, lossPercent }: MosInput): number {
  const d = Math.max(0, rttMs) / 2 + 2 * Math.max(0, jitterMs) + 10;
  const id = d < 160 ? d / 40 : (d - 120) / 10;
  const r = 93.2 - id - 2.5 * Math.max(0, lossPercent);
  return Math.min(93.2, Math.max(0, r));
}

/** MOS (1..4.5) for an R value, G.107 Annex B. */
function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

/** The estimated audio MOS of a path, rounded to two decimals. */
export function estimateMos(input: MosInput): number {
  return Math.round(mosFromR(rFactor(input)) * 100) / 100;
}
