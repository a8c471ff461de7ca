/**
 * The picture size of a video stream, read from its bitstream (never from our own settings):
 * the VP8 key frame header (RFC 6386 section 9.1) and the H.264 sequence parameter set
 * (ITU-T H.264 section 7.3.2.1.1, with frame cropping). Pure functions over bytes; input from
 * the network, so every read is bounds-checked and a malformed header gives null, never a throw.
 */

/** Width and height of a picture, in pixels. */
export interface FrameSize {
  width: number;
  height: number;
}

/**
 * Size of a VP8 key frame: `frame` starts at the frame tag (the RTP payload after the VP8
 * payload descriptor). RFC 6386 section 9.1: a 3-byte frame tag whose low bit is 0 on a key
 * frame, the start code 9d 01 2a, then 16-bit little-endian width and height of which the low
 * 14 bits are the size (the top 2 are an upscaling hint that does not change the coded size).
 * Null for an inter frame or a header that is cut short or lacks the start code.
 */
export function vp8FrameSize(frame: Uint8Array): FrameSize | null {
  if (frame.length < 10 || (frame[0]! & 0x01) !== 0) return null;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  const width = (frame[6]! | (frame[7]! << 8)) & 0x3fff;
  const height = (frame[8]! | (frame[9]! << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * Removes emulation prevention bytes (H.264 section 7.4.1: 00 00 03 -> 00 00), turning a NAL
 * unit's payload into its raw byte sequence payload.
 */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 0x03) { zeros = 0; continue; }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

/** Reads bits most significant first, and Exp-Golomb codes (H.264 section 9.1). Throws past the end. */
export class BitReader {
  #pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** Bits read so far. */
  get position(): number { return this.#pos; }

  /** One bit. */
  bit(): number {
    if (this.#pos >= this.bytes.length * 8) throw new RangeError('read past the end');
    const b = (this.bytes[this.#pos >> 3]! >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return b;
  }

  /** `n` bits (n <= 32) as an unsigned number. */
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** ue(v): unsigned Exp-Golomb. More than 31 leading zeros is not a valid SPS field. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('Exp-Golomb code too long');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): signed Exp-Golomb (1, -1, 2, -2, ...). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** profile_idc values whose SPS carries chroma_format_idc and bit depths (H.264 section 7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Skips one scaling_list() of `size` coefficients (H.264 section 7.3.2.1.1.1). */
function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/**
 * Size of the pictures a sequence parameter set describes: `nal` is the whole SPS NAL unit,
 * header byte included (type 7). pic_width_in_mbs and pic_height_in_map_units (doubled for
 * field coding), less the frame cropping rectangle in crop units of the chroma format
 * (H.264 equations 7-19 to 7-22). Null when it is not an SPS or does not parse.
 */
export function h264SpsSize(nal: Uint8Array): FrameSize | null {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) return null;
  try {
    const r = new BitReader(unescapeRbsp(nal.subarray(1)));
    const profile = r.bits(8);
    r.bits(8); // constraint flags and reserved bits
    r.bits(8); // level_idc
    r.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    let separateColourPlanes = 0;
    if (HIGH_PROFILES.has(profile)) {
      chromaFormat = r.ue();
      if (chromaFormat > 3) return null;
      if (chromaFormat === 3) separateColourPlanes = r.bit();
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) { // seq_scaling_matrix_present_flag
        const lists = chromaFormat === 3 ? 12 : 8;
        for (let i = 0; i < lists; i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue(); // log2_max_pic_order_cnt_lsb_minus4
    } else if (pocType === 1) {
      r.bit(); // delta_pic_order_always_zero_flag
      r.se(); // offset_for_non_ref_pic
      r.se(); // offset_for_top_to_bottom_field
      const cycle = r.ue();
      if (cycle > 255) return null;
      for (let i = 0; i < cycle; i++) r.se();
    } else if (pocType !== 2) {
      return null;
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let crop = { left: 0, right: 0, top: 0, bottom: 0 };
    if (r.bit()) crop = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() };
    // ChromaArrayType 0 (monochrome or separate planes) crops in luma samples.
    const chromaArrayType = separateColourPlanes ? 0 : chromaFormat;
    const subWidthC = chromaArrayType === 3 ? 1 : 2;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropUnitX * (crop.left + crop.right);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (crop.top + crop.bottom);
    return width > 0 && height > 0 ? { width, height } : null;
  } catch {
    return null; // cut short
  }
}
