/**
 * Reads a PNG the way a browser must before it shows it: the signature, every chunk's CRC, the
 * IHDR and the zlib stream of the IDAT chunks (PNG specification, sections 5 and 11.2.2).
 * Enough to check an icon without an image library.
 */
import { crc32, inflateSync } from 'node:zlib';

/** The size and format of a PNG; throws when the file is not a well-formed PNG. */
export function readPng(buf: Buffer): { width: number; height: number; bitDepth: number; colourType: number } {
  if (!buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error('not a PNG: bad signature');
  const chunks: { type: string; data: Buffer }[] = [];
  for (let o = 8; o < buf.length;) {
    if (o + 12 > buf.length) throw new Error(`truncated chunk at byte ${o}`);
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + len > buf.length) throw new Error(`chunk ${type} runs past the end`);
    const data = buf.subarray(o + 8, o + 8 + len);
    if (crc32(buf.subarray(o + 4, o + 8 + len)) !== buf.readUInt32BE(o + 8 + len)) throw new Error(`bad CRC in chunk ${type}`);
    chunks.push({ type, data });
    o += 12 + len;
  }
  const ihdr = chunks[0];
  if (ihdr?.type !== 'IHDR' || ihdr.data.length !== 13) throw new Error('the first chunk is not a 13-byte IHDR');
  if (chunks.at(-1)?.type !== 'IEND') throw new Error('no IEND at the end');
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  const bitDepth = ihdr.data[8]!;
  const colourType = ihdr.data[9]!;
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colourType];
  if (!channels || ihdr.data[12] !== 0) throw new Error(`unsupported PNG: colour type ${colourType}, interlace ${ihdr.data[12]}`);
  const pixels = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const rowBytes = 1 + Math.ceil((width * channels * bitDepth) / 8);
  if (pixels.length !== height * rowBytes) throw new Error(`image data is ${pixels.length} bytes, ${width}x${height} needs ${height * rowBytes}`);
  return { width, height, bitDepth, colourType };
}
