/**
 * Picture fidelity of received stamped video (src/quality/stamp.ts) against its source: a
 * stamped frame is a pure function of its (sequence number, send time), so the viewer can draw
 * the very frame the sender encoded and compare what it decoded with it. ffmpeg's psnr and ssim
 * filters do the comparison (src/peer/fidelity.ts runs them); this file holds the result type
 * and reads their summary lines. Pure TypeScript.
 */

/** How close received stamped video was to its source (luma only: stamped video is grey). */
export interface Fidelity {
  /** Frames compared with their source frame. */
  compared: number;
  /** Frames whose stamp did not read: no source frame to compare them with, so left out (counted here). */
  unreadable: number;
  /**
   * Luma PSNR over the compared frames, dB: ffmpeg's figure, from the mean squared error of all
   * of them pooled (so one ruined frame pulls it down more than an average of per-frame PSNRs
   * would). Infinity when every compared frame was identical to its source; null when none was
   * compared.
   */
  psnrDb: number | null;
  /** The worst compared frame's luma PSNR, dB (null when none was compared). */
  psnrMinDb: number | null;
  /** Mean luma SSIM over the compared frames, 0..1 (1: identical; null when none was compared). */
  ssim: number | null;
}

function parseDb(value: string): number {
  return value === 'inf' ? Number.POSITIVE_INFINITY : Number(value);
}

/**
 * Reads the summary lines ffmpeg's psnr and ssim filters print when they finish, e.g.
 * `[Parsed_psnr_2 @ 0x..] PSNR y:38.51 average:38.51 min:31.20 max:44.02` and
 * `[Parsed_ssim_3 @ 0x..] SSIM Y:0.9876 (19.08) All:0.9876 (19.08)` (gray input: luma only).
 * Missing lines give nulls.
 */
export function parsePsnrSsimSummary(log: string): Pick<Fidelity, 'psnrDb' | 'psnrMinDb' | 'ssim'> {
  const num = '(inf|-?\\d+(?:\\.\\d+)?)';
  const psnr = new RegExp(`PSNR y:${num} average:${num} min:${num}`).exec(log);
  const ssim = new RegExp(`SSIM Y:${num}`).exec(log);
  const finite = (v: number) => (Number.isNaN(v) ? null : v);
  return {
    psnrDb: psnr ? finite(parseDb(psnr[1]!)) : null,
    psnrMinDb: psnr ? finite(parseDb(psnr[3]!)) : null,
    ssim: ssim ? finite(Number(ssim[1])) : null,
  };
}
