#!/usr/bin/env node
// Draws the app icons of the browser client (src/web/icons/*.png, committed; the web manifest
// and index.html name them). A flat design: a speech bubble with a video camera in it, white on
// the client's accent colour (--accent in src/web/app.css). Written as RGBA PNGs with node:zlib
// only, so there is no image dependency; the output is the same bytes on every run, and
// test/web/icons.test.ts checks that the committed files are what this script draws.
//   node scripts/make-icons.js [OUT]     (OUT defaults to src/web/icons)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');

const ACCENT = [0x0f, 0x76, 0x6e];
const WHITE = [0xff, 0xff, 0xff];

/**
 * The icons: `full` ones fill the square (maskable: the platform cuts its own shape, and keeps
 * the inner circle of radius 0.4, where the whole glyph lies; Apple rounds the corners itself);
 * the others are a rounded square on a transparent background.
 */
export const ICONS = [
  { file: 'icon-192.png', size: 192, full: false },
  { file: 'icon-512.png', size: 512, full: false },
  { file: 'icon-maskable-512.png', size: 512, full: true },
  { file: 'apple-touch-icon.png', size: 180, full: true },
];

/** Inside a rounded rectangle (unit coordinates). */
function inRoundRect(x, y, x0, y0, x1, y1, r) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
  const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
  return dx * dx + dy * dy <= r * r;
}

/** Inside the triangle a, b, c (either winding). */
function inTriangle(x, y, [ax, ay], [bx, by], [cx, cy]) {
  const d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by);
  const d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy);
  const d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay);
  return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
}

/** The colour at a point of the icon, or null where it is transparent. */
function colourAt(x, y, full) {
  if (!full && !inRoundRect(x, y, 0, 0, 1, 1, 0.22)) return null;
  // The video camera: a body and a lens cone, cut out of the bubble in the background colour.
  if (inRoundRect(x, y, 0.31, 0.37, 0.55, 0.57, 0.035)) return ACCENT;
  if (inTriangle(x, y, [0.53, 0.47], [0.69, 0.375], [0.69, 0.565])) return ACCENT;
  // The speech bubble, its tail at the bottom left.
  if (inRoundRect(x, y, 0.22, 0.26, 0.78, 0.68, 0.1)) return WHITE;
  if (inTriangle(x, y, [0.3, 0.64], [0.3, 0.8], [0.46, 0.64])) return WHITE;
  return ACCENT;
}

/** RGBA pixels of an icon, 4x4 samples a pixel for smooth edges. */
function draw(size, full) {
  const S = 4;
  const px = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let pxX = 0; pxX < size; pxX++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const c = colourAt((pxX + (sx + 0.5) / S) / size, (py + (sy + 0.5) / S) / size, full);
          if (!c) continue;
          r += c[0]; g += c[1]; b += c[2]; a += 1;
        }
      }
      const o = (py * size + pxX) * 4;
      if (a > 0) {
        // Straight (not premultiplied) alpha: the colour is the mean of the covered samples.
        px[o] = Math.round(r / a); px[o + 1] = Math.round(g / a); px[o + 2] = Math.round(b / a);
        px[o + 3] = Math.round((255 * a) / (S * S));
      }
    }
  }
  return px;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG uses it (ISO 3309; PNG specification, section 5.5). */
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A PNG file: 8-bit RGBA, no interlace, filter type 0 on every row. */
function encodePng(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: truecolour with alpha
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Writes every icon into `outDir`; returns the files written. */
export function makeIcons(outDir = path.join(root, 'src/web/icons')) {
  mkdirSync(outDir, { recursive: true });
  return ICONS.map(({ file, size, full }) => {
    const out = path.join(outDir, file);
    writeFileSync(out, encodePng(size, draw(size, full)));
    return out;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  for (const f of makeIcons(process.argv[2] ? path.resolve(process.argv[2]) : undefined)) console.log(f);
}
