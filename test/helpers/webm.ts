/**
 * What a WebM file's header says, read without a decoder (ffprobe reports the size it decodes,
 * which can differ from the header's): the PixelWidth and PixelHeight of each video track
 * (Matroska spec, EBML IDs 0xB0 and 0xBA inside Segment > Tracks > TrackEntry > Video).
 */
import { readFileSync } from 'node:fs';

const SEGMENT = 0x18538067;
const TRACKS = 0x1654ae6b;
const TRACK_ENTRY = 0xae;
const VIDEO = 0xe0;
const CLUSTER = 0x1f43b675;
const PIXEL_WIDTH = 0xb0;
const PIXEL_HEIGHT = 0xba;
const DESCEND = new Set([SEGMENT, TRACKS, TRACK_ENTRY, VIDEO]);

/** An EBML variable-length integer at `at`: its value (marker kept for IDs) and length. */
function vint(buf: Buffer, at: number, keepMarker: boolean): { value: number; length: number; unknown: boolean } {
  const first = buf[at]!;
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
  if (length > 8 || at + length > buf.length) throw new Error(`bad EBML vint at ${at}`);
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === (0xff >> length);
  for (let i = 1; i < length; i++) {
    value = value * 256 + buf[at + i]!;
    if (buf[at + i] !== 0xff) allOnes = false;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

/** PixelWidth x PixelHeight of each video track in the header of a WebM file. */
export function webmVideoSizes(file: string): { width: number; height: number }[] {
  const buf = readFileSync(file);
  const sizes: { width: number; height: number }[] = [];
  let current: { width: number; height: number } | null = null;
  const walk = (from: number, to: number): void => {
    let at = from;
    while (at < to) {
      const id = vint(buf, at, true);
      const size = vint(buf, at + id.length, false);
      const body = at + id.length + size.length;
      const end = size.unknown ? to : Math.min(to, body + size.value);
      if (id.value === CLUSTER) return; // media from here on
      if (id.value === VIDEO) {
        current = { width: 0, height: 0 };
        walk(body, end);
        sizes.push(current);
        current = null;
      } else if (DESCEND.has(id.value)) {
        walk(body, end);
      } else if (current && (id.value === PIXEL_WIDTH || id.value === PIXEL_HEIGHT)) {
        let v = 0;
        for (let i = body; i < end; i++) v = v * 256 + buf[i]!;
        if (id.value === PIXEL_WIDTH) current.width = v;
        else current.height = v;
      }
      at = end;
    }
  };
  walk(0, buf.length);
  return sizes;
}
