/**
 * Frame stamps: each frame carries its sequence number and send time as a grid of large black
 * and white blocks in the top two thirds of the picture, big enough to read back after VP8 or
 * H.264 at a few hundred kbit/s (each block is 1/8 of the width and 1/12 of the height: 40x20
 * pixels at 320x240, and only its inner half is read). The bottom third is moving content, so
 * the encoder has real work to do (a still picture would cost almost no bitrate).
 *
 * 64 bits: sequence number (16), send time in ms modulo 2^32 (32), and a 16-bit check of the
 * other six bytes, so a frame the decoder smeared (after loss) reads as "no stamp" rather than
 * as a wrong time. Pure TypeScript: the werift peer, the bots and the browser test helpers
 * (reading a canvas) all use it.
 */

/** Columns and rows of the stamp grid. */
const STAMP_COLS = 8;
const STAMP_ROWS = 8;
/** Fraction of the picture's height the grid covers (from the top). */
const GRID_HEIGHT = 2 / 3;
const WHITE = 235;
const BLACK = 16;

/** A stamp read back from a frame. */
export interface Stamp {
  /** Sequence number, 0..65535 (wraps). */
  seq: number;
  /** Send time, ms since the epoch modulo 2^32 (see {@link unwrapStampTime}). */
  timeLow: number;
}

/** CRC-16/CCITT-FALSE of `bytes`. */
function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function stampBits(seq: number, timeMs: number): number[] {
  const bytes = new Uint8Array(8);
  const low = timeMs % 2 ** 32;
  bytes[0] = (seq >> 8) & 0xff;
  bytes[1] = seq & 0xff;
  bytes[2] = (low >>> 24) & 0xff;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
  const c = crc16(bytes.subarray(0, 6));
  bytes[6] = c >> 8;
  bytes[7] = c & 0xff;
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return bits;
}

function blockRect(i: number, width: number, height: number): { x0: number; x1: number; y0: number; y1: number } {
  const col = i % STAMP_COLS;
  const row = Math.floor(i / STAMP_COLS);
  const gh = height * GRID_HEIGHT;
  return {
    x0: Math.round((col * width) / STAMP_COLS), x1: Math.round(((col + 1) * width) / STAMP_COLS),
    y0: Math.round((row * gh) / STAMP_ROWS), y1: Math.round(((row + 1) * gh) / STAMP_ROWS),
  };
}

/**
 * Draws frame `seq` sent at `timeMs` into a luma plane (`width` x `height`, one byte a pixel),
 * stamp grid on top and moving bars below.
 */
export function drawStampedFrame(y: Uint8Array, width: number, height: number, seq: number, timeMs: number): void {
  const bits = stampBits(seq & 0xffff, Math.floor(timeMs));
  for (let i = 0; i < bits.length; i++) {
    const r = blockRect(i, width, height);
    const v = bits[i] ? WHITE : BLACK;
    for (let row = r.y0; row < r.y1; row++) y.fill(v, row * width + r.x0, row * width + r.x1);
  }
  // Below the grid: diagonal bars that move 4 pixels a frame, with fine texture, so each frame
  // differs from the last everywhere there (the encoder spends bits as on a real picture).
  const top = Math.round(height * GRID_HEIGHT);
  const shift = (seq * 4) % 64;
  for (let row = top; row < height; row++) {
    const base = row * width;
    for (let x = 0; x < width; x++) {
      const band = ((x + row + shift) >> 4) & 3;
      y[base + x] = 40 + band * 50 + (((x * 7 + row * 13 + seq * 3) & 15) << 1);
    }
  }
}

/**
 * Reads the stamp of a luma plane (any size: the grid is in fractions of the picture), or null
 * when the check does not match (a frame the decoder could not render cleanly).
 */
export function readStamp(y: Uint8Array, width: number, height: number, stride = width): Stamp | null {
  const bytes = new Uint8Array(8);
  for (let i = 0; i < STAMP_COLS * STAMP_ROWS; i++) {
    const r = blockRect(i, width, height);
    // The inner half of the block: edges blur into neighbours after compression.
    const w = r.x1 - r.x0;
    const h = r.y1 - r.y0;
    const x0 = r.x0 + Math.floor(w / 4);
    const x1 = r.x1 - Math.floor(w / 4);
    const y0 = r.y0 + Math.floor(h / 4);
    const y1 = r.y1 - Math.floor(h / 4);
    let sum = 0;
    let n = 0;
    for (let row = y0; row < y1; row++) for (let x = x0; x < x1; x++) { sum += y[row * stride + x]!; n++; }
    if (n === 0) return null;
    if (sum / n > (WHITE + BLACK) / 2) bytes[i >> 3]! |= 1 << (7 - (i & 7));
  }
  if (crc16(bytes.subarray(0, 6)) !== ((bytes[6]! << 8) | bytes[7]!)) return null;
  return { seq: (bytes[0]! << 8) | bytes[1]!, timeLow: ((bytes[2]! << 24) | (bytes[3]! << 16) | (bytes[4]! << 8) | bytes[5]!) >>> 0 };
}

/**
 * The full send time of a stamp read at `nowMs` (same clock): the latest time not after
 * `nowMs` whose low 32 bits are the stamp's (the clock wraps every 49.7 days).
 */
export function unwrapStampTime(timeLow: number, nowMs: number): number {
  const now = Math.floor(nowMs);
  const diff = (((now % 2 ** 32) - timeLow) % 2 ** 32 + 2 ** 32) % 2 ** 32;
  return now - diff;
}
