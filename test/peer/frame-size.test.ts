// The received picture size comes from the bitstream: VP8 key frame headers and H.264 SPS, on
// byte fixtures from real encoders (libvpx, x264 via ffmpeg), on SPS written field by field
// for the branches encoders rarely take, and on the committed clips in fixtures/media/.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BitReader, FrameCounter, h264ParameterSet, h264SpsSize, payloadFrameSize, unescapeRbsp, vp8DescriptorLength, vp8FrameSize,
} from '../../src/peer/index.js';
import { annexBNalUnits, h264AccessUnits, h264Payloads, ivfFrames, rtpPacket, rtpStream, vp8Payloads } from '../helpers/rtp-packetize.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('VP8 key frame header (RFC 6386 section 9.1)', () => {
  it('reads the size after the frame tag and start code; the top two bits are the scaling hint', () => {
    // libvpx, 320x240: frame tag d0 61 00, start code 9d 01 2a, 0x0140, 0x00f0.
    expect(vp8FrameSize(hex('d061009d012a 4001 f000'))).toEqual({ width: 320, height: 240 });
    // 1920x1080 with horizontal scale 1 and vertical scale 2 (bits 14-15): the coded size is unchanged.
    expect(vp8FrameSize(hex('d061009d012a 8047 3884'))).toEqual({ width: 1920, height: 1080 });
  });

  it('gives null for an inter frame, a missing start code, a cut header or a zero size', () => {
    expect(vp8FrameSize(hex('d161009d012a4001f000'))).toBeNull(); // tag bit 0 = 1: inter frame
    expect(vp8FrameSize(hex('d061009d012b4001f000'))).toBeNull();
    expect(vp8FrameSize(hex('d061009d012a4001f0'))).toBeNull();
    expect(vp8FrameSize(hex('d061009d012a0000f000'))).toBeNull();
  });

  it('is found after any payload descriptor, in the first packet of a key frame only', () => {
    const header = hex('d061009d012a4001f000');
    // X=1 S=1, I=1 with a 15-bit picture id, L=1 (TL0PICIDX), T=1 (TID): 6 bytes.
    const long = Buffer.concat([hex('90 e0 8123 05 40'), header]);
    expect(vp8DescriptorLength(long)).toBe(6);
    expect(payloadFrameSize('vp8', long)).toEqual({ width: 320, height: 240 });
    expect(payloadFrameSize('vp8', Buffer.concat([hex('10'), header]))).toEqual({ width: 320, height: 240 });
    expect(payloadFrameSize('vp8', Buffer.concat([hex('00'), header]))).toBeNull(); // a continuation
    expect(vp8DescriptorLength(hex('90 80'))).toBe(-1);
  });
});

describe('H.264 sequence parameter set (ITU-T H.264 section 7.3.2.1.1)', () => {
  // SPS NAL units from x264 (ffmpeg -c:v libx264), header byte 0x67 included.
  const X264: [string, string, { width: number; height: number }][] = [
    ['constrained baseline, as the headless peer sends it', '6742c00cda0507ec0440000003004000000783c50aa8', { width: 320, height: 240 }],
    ['480x270: 17 macroblock rows, one crop unit (2 lines) off the bottom', '6742c015da07823fac0440000003004000000783c58ba8', { width: 480, height: 270 }],
    ['High 4:4:4 at 100x50: crop units of one sample', '67f4000a919b28e4f1b1f80880000003008000000f078912cb', { width: 100, height: 50 }],
    ['High, interlaced (field map units, crop unit 4 lines)', '67640015acd941410fcb8088000003000800000300f0f8a14cb0', { width: 320, height: 240 }],
    ['High 1920x1080: 68 macroblock rows less 8 lines', '67640028acb403c0113f2e0220000003002000000303c1e30654', { width: 1920, height: 1080 }],
  ];
  for (const [what, bytes, size] of X264) {
    it(`x264 ${what}`, () => expect(h264SpsSize(hex(bytes))).toEqual(size));
  }

  it('removes emulation prevention bytes (00 00 03) before reading', () => {
    expect([...unescapeRbsp(hex('00000301 00000300 000003 03'))]).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 3]);
  });

  it('reads Exp-Golomb codes', () => {
    const r = new BitReader(hex('a6 42 14')); // 1 010 011 00100 00100 00101: ue 0 1 2 3, se 2 -2
    expect([r.ue(), r.ue(), r.ue(), r.ue(), r.se(), r.se()]).toEqual([0, 1, 2, 3, 2, -2]);
    expect(() => new BitReader(hex('00 00 00 00 01')).ue()).toThrow(RangeError);
  });

  it('branches encoders rarely take: monochrome, 4:2:2, separate colour planes, POC type 1, scaling lists', () => {
    expect(h264SpsSize(writeSps({ profile: 100, chroma: 0, widthMbs: 11, heightMapUnits: 9, crop: [0, 2, 0, 1] }))).toEqual({ width: 174, height: 143 });
    expect(h264SpsSize(writeSps({ profile: 122, chroma: 2, widthMbs: 120, heightMapUnits: 68, crop: [0, 0, 0, 8] }))).toEqual({ width: 1920, height: 1080 });
    expect(h264SpsSize(writeSps({ profile: 244, chroma: 3, separatePlanes: true, widthMbs: 4, heightMapUnits: 4, crop: [1, 0, 0, 3] }))).toEqual({ width: 63, height: 61 });
    expect(h264SpsSize(writeSps({ profile: 66, pocType: 1, pocCycle: [-3, 7, 0], widthMbs: 20, heightMapUnits: 15 }))).toEqual({ width: 320, height: 240 });
    // Scaling lists present, one ending early with a delta that makes the next scale 0 ("use the default").
    const lists = [[-8], null, [1, 2, -3, 4], null, null, null, [5, -13], null];
    expect(h264SpsSize(writeSps({ profile: 100, scaling: lists, widthMbs: 40, heightMapUnits: 23, frameMbsOnly: false, crop: [0, 0, 0, 3] }))).toEqual({ width: 640, height: 724 });
  });

  it('gives the size the equations give for any SPS, and null (never a throw) for any bytes', () => {
    fc.assert(fc.property(arbitrarySps(), (f) => {
      expect(h264SpsSize(writeSps(f))).toEqual(expectedSize(f));
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const withHeader = Uint8Array.from([0x67, ...bytes]);
      for (const f of [() => h264SpsSize(bytes), () => h264SpsSize(withHeader), () => vp8FrameSize(bytes), () => h264ParameterSet(bytes),
        () => payloadFrameSize('vp8', bytes), () => payloadFrameSize('h264', bytes)]) expect(f).not.toThrow();
      const size = h264SpsSize(withHeader);
      if (size) expect(size.width > 0 && size.height > 0).toBe(true);
    }), { numRuns: 500 });
  });

  it('finds the SPS in a single NAL unit packet, a STAP-A and the first fragment of a FU-A', () => {
    const sps = hex('6742c00cda0507ec0440000003004000000783c50aa8');
    const pps = hex('68ce3c80');
    expect(payloadFrameSize('h264', sps)).toEqual({ width: 320, height: 240 });
    const stap = Buffer.concat([hex('78'), Buffer.from([0, pps.length]), pps, Buffer.from([0, sps.length]), sps]);
    expect(payloadFrameSize('h264', stap)).toEqual({ width: 320, height: 240 });
    const fu = Buffer.concat([hex('7c 87'), sps.subarray(1)]); // FU indicator (NRI 3, type 28), FU header S=1 type 7
    expect(payloadFrameSize('h264', fu)).toEqual({ width: 320, height: 240 });
    expect(payloadFrameSize('h264', pps)).toBeNull();
    expect(payloadFrameSize('h264', hex('7c 05 aa'))).toBeNull(); // an IDR fragment, not its start
  });
});

describe('FrameCounter: the size received, and when a keyframe is needed', () => {
  it('counts the clips in fixtures/media/ cut into RTP: frames, keyframes and size from the bitstream', () => {
    const vp8 = new FrameCounter('vp8');
    for (const p of rtpStream(ivfFrames(readFileSync('fixtures/media/vp8-320x240-15fps-30f.ivf')).map((f) => vp8Payloads(f)), 15)) vp8.push(p);
    expect(vp8.snapshot()).toMatchObject({ frames: 30, keyframes: 2, lost: 0, frameWidth: 320, frameHeight: 240 });
    expect(vp8.awaitingKeyframe).toBe(false);

    const h264 = new FrameCounter('h264');
    const units = h264AccessUnits(annexBNalUnits(readFileSync('fixtures/media/h264-480x270-15fps-30f.h264')));
    expect(units).toHaveLength(30);
    for (const p of rtpStream(units.map((u) => h264Payloads(u)), 15)) h264.push(p);
    expect(h264.snapshot()).toMatchObject({ frames: 30, keyframes: 2, lost: 0, frameWidth: 480, frameHeight: 270 });
  });

  it('needs a keyframe until a whole one arrived, and again once a packet stays missing past lossWaitMs', () => {
    let now = 0;
    const c = new FrameCounter('vp8', { lossWaitMs: 1000, now: () => now });
    const key = Buffer.concat([hex('d061009d012a4001f000'), Buffer.alloc(1500)]); // two packets
    const delta = hex('10 01 aabbcc');
    const frames = [vp8Payloads(key), ...Array.from({ length: 9 }, () => [delta]), vp8Payloads(key)];
    const packets = rtpStream(frames, 15, 100); // keyframe: seq 100-101; deltas 102-110; keyframe 111-112
    expect(c.awaitingKeyframe).toBe(true);
    c.push(packets[1]!); // the keyframe's second packet first (reordered)
    expect(c.awaitingKeyframe).toBe(true);
    c.push(packets[0]!);
    expect(c).toMatchObject({ keyframes: 1, frameWidth: 320, frameHeight: 240, awaitingKeyframe: false });

    // seq 103 goes missing, then comes back 800 ms later (a retransmission): nothing broke.
    c.push(packets[2]!);
    c.push(packets[4]!);
    now = 800;
    c.push(packets[3]!);
    c.push(packets[5]!);
    expect(c.awaitingKeyframe).toBe(false);
    // seq 106 never comes: a second later the picture is broken until the next keyframe.
    c.push(packets[7]!);
    now = 1700;
    c.push(packets[8]!);
    expect(c.awaitingKeyframe).toBe(false);
    now = 1800;
    c.push(packets[9]!);
    expect(c).toMatchObject({ awaitingKeyframe: true, decodeBreaks: 1 });
    c.push(packets[10]!);
    c.push(packets[11]!);
    c.push(packets[12]!);
    expect(c).toMatchObject({ keyframes: 2, awaitingKeyframe: false, decodeBreaks: 1 });
  });

  it('a loss before a keyframe is forgotten once the keyframe is whole; a jump of over 1000 breaks at once', () => {
    let now = 0;
    const c = new FrameCounter('vp8', { now: () => now });
    const key = hex('10 d061009d012a4001f000');
    c.push(rtpPacket(10, 0, true, key));
    c.push(rtpPacket(12, 6000, true, hex('10 01')));
    c.push(rtpPacket(13, 12000, true, key)); // 11 missing, then a keyframe
    now = 5000;
    c.push(rtpPacket(14, 18000, true, hex('10 01')));
    expect(c).toMatchObject({ awaitingKeyframe: false, decodeBreaks: 0 });
    c.push(rtpPacket(2000, 24000, true, hex('10 01')));
    expect(c).toMatchObject({ awaitingKeyframe: true, decodeBreaks: 1 });
  });

  it('audio never waits for a keyframe and has no size', () => {
    const a = new FrameCounter('audio');
    a.push(rtpPacket(1, 0, true, hex('fc ff fe')));
    a.push(rtpPacket(5, 960, true, hex('fc ff fe')));
    expect(a.snapshot()).toMatchObject({ frames: 2, lost: 3, frameWidth: null, frameHeight: null });
    expect(a.awaitingKeyframe).toBe(false);
  });
});

/** The fields of an SPS this test writes. */
interface SpsFields {
  profile: number;
  chroma?: number;
  separatePlanes?: boolean;
  scaling?: (number[] | null)[];
  pocType?: 0 | 1 | 2;
  pocCycle?: number[];
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly?: boolean;
  /** left, right, top, bottom in crop units. */
  crop?: [number, number, number, number];
}

const HIGH = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/** Writes bits, ue(v) and se(v), then the RBSP trailing bits and emulation prevention. */
class BitWriter {
  readonly bits: number[] = [];
  u(n: number, v: number): void { for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2); }
  ue(v: number): void { const len = Math.floor(Math.log2(v + 1)); this.u(len, 0); this.u(len + 1, v + 1); }
  se(v: number): void { this.ue(v <= 0 ? -2 * v : 2 * v - 1); }
  nal(header: number): Buffer {
    this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    const raw: number[] = [];
    for (let i = 0; i < this.bits.length; i += 8) raw.push(this.bits.slice(i, i + 8).reduce((a, b) => a * 2 + b, 0));
    const out = [header];
    let zeros = 0;
    for (const b of raw) {
      if (zeros >= 2 && b <= 3) { out.push(3); zeros = 0; }
      out.push(b);
      zeros = b === 0 ? zeros + 1 : 0;
    }
    return Buffer.from(out);
  }
}

/** An SPS NAL unit with these fields (everything else zero or minimal). */
function writeSps(f: SpsFields): Buffer {
  const w = new BitWriter();
  w.u(8, f.profile);
  w.u(8, 0); // constraint flags
  w.u(8, 31); // level 3.1
  w.ue(0); // seq_parameter_set_id
  if (HIGH.includes(f.profile)) {
    const chroma = f.chroma ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, f.separatePlanes ? 1 : 0);
    w.ue(0);
    w.ue(0);
    w.u(1, 0);
    w.u(1, f.scaling ? 1 : 0);
    if (f.scaling) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
        const deltas = f.scaling[i] ?? null;
        w.u(1, deltas ? 1 : 0);
        if (!deltas) continue;
        // Deltas until the list is full or the next scale is 0 (delta -last, mod 256).
        let last = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          const d = deltas[j] ?? 0;
          w.se(d);
          const next = (last + d + 256) % 256;
          if (next === 0) break;
          last = next;
        }
      }
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const poc = f.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  if (poc === 1) {
    w.u(1, 0);
    w.se(-1);
    w.se(2);
    w.ue(f.pocCycle?.length ?? 0);
    for (const o of f.pocCycle ?? []) w.se(o);
  }
  w.ue(1); // max_num_ref_frames
  w.u(1, 0);
  w.ue(f.widthMbs - 1);
  w.ue(f.heightMapUnits - 1);
  const frameMbsOnly = f.frameMbsOnly ?? true;
  w.u(1, frameMbsOnly ? 1 : 0);
  if (!frameMbsOnly) w.u(1, 0);
  w.u(1, 1); // direct_8x8_inference_flag
  w.u(1, f.crop ? 1 : 0);
  if (f.crop) for (const c of f.crop) w.ue(c);
  w.u(1, 0); // vui_parameters_present_flag
  return w.nal(0x67);
}

/** Equations 7-19 to 7-22 of H.264 and table 6-1, written out once more. */
function expectedSize(f: SpsFields): { width: number; height: number } | null {
  const chroma = HIGH.includes(f.profile) ? f.chroma ?? 1 : 1;
  const arrayType = chroma === 3 && f.separatePlanes ? 0 : chroma;
  const frameMbsOnly = (f.frameMbsOnly ?? true) ? 1 : 0;
  const [l, r, t, b] = f.crop ?? [0, 0, 0, 0];
  const unitX = arrayType === 0 ? 1 : arrayType === 3 ? 1 : 2;
  const unitY = (arrayType === 0 ? 1 : arrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = f.widthMbs * 16 - unitX * (l + r);
  const height = (2 - frameMbsOnly) * f.heightMapUnits * 16 - unitY * (t + b);
  return width > 0 && height > 0 ? { width, height } : null;
}

function arbitrarySps(): fc.Arbitrary<SpsFields> {
  const list = (n: number) => fc.option(fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: n }), { nil: null });
  return fc.record({
    profile: fc.constantFrom(66, 77, 88, ...HIGH),
    chroma: fc.integer({ min: 0, max: 3 }),
    separatePlanes: fc.boolean(),
    scaling: fc.option(fc.array(list(16), { minLength: 12, maxLength: 12 }), { nil: undefined }),
    pocType: fc.constantFrom(0 as const, 1 as const, 2 as const),
    pocCycle: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 5 }),
    widthMbs: fc.integer({ min: 1, max: 512 }),
    heightMapUnits: fc.integer({ min: 1, max: 300 }),
    frameMbsOnly: fc.boolean(),
    crop: fc.option(fc.tuple(fc.nat(8), fc.nat(8), fc.nat(8), fc.nat(8)), { nil: undefined }),
  });
}
