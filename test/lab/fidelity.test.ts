/**
 * PSNR and SSIM of a recording of stamped video against its source (src/peer/fidelity.ts), on
 * files ffmpeg encodes here (no network): stamped frames encoded with VP8 into webm at a high and
 * at a very low bitrate, a file whose moving part is not the source's, and a file without stamps.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureFidelity } from '../../src/peer/fidelity.js';
import { resolveFfmpeg } from '../../src/peer/index.js';
import { drawStampedFrame, parsePsnrSsimSummary, type Fidelity } from '../../src/quality/index.js';
import { withTimeout } from '../helpers/deadline.js';

const ffmpeg = resolveFfmpeg().path;
const W = 320;
const H = 240;
const FRAMES = 45;
const T0 = 1_700_000_000_123;
let dir: string;

beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-fidelity-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

/** Runs ffmpeg to the end (rejects with its stderr on a non-zero exit). */
function run(args: string[], input?: Buffer[]): Promise<void> {
  return withTimeout(new Promise<void>((resolve, reject) => {
    const p = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
    if (input) {
      p.stdin!.on('error', () => { /* the exit code says */ });
      for (const f of input) p.stdin!.write(f);
      p.stdin!.end();
    }
  }), 30_000, `ffmpeg ${args.join(' ')}`);
}

/** FRAMES stamped frames (yuv420p, grey), optionally altered after drawing. */
function stampedFrames(alter?: (y: Uint8Array, seq: number) => void): Buffer[] {
  const frames: Buffer[] = [];
  for (let seq = 0; seq < FRAMES; seq++) {
    const f = Buffer.alloc(W * H * 3 / 2, 128);
    const y = new Uint8Array(f.buffer, f.byteOffset, W * H);
    drawStampedFrame(y, W, H, seq, T0 + seq * 66);
    alter?.(y, seq);
    frames.push(f);
  }
  return frames;
}

/** Encodes frames with VP8 (as the CLI does) into a webm at `kbps`, optionally at another size. */
async function encode(name: string, frames: Buffer[], kbps: number, size = `${W}x${H}`): Promise<string> {
  const file = path.join(dir, `${name}.webm`);
  await run([
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${W}x${H}`, '-framerate', '15', '-i', 'pipe:0',
    '-vf', `scale=${size.replace('x', ':')}`, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', `${kbps}k`,
    '-minrate', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, '-g', '15', file,
  ], frames);
  return file;
}

function fidelity(file: string): Promise<Fidelity> {
  return withTimeout(measureFidelity({ ffmpegPath: ffmpeg, path: file, width: W, height: H }), 40_000, `fidelity of ${file}`);
}

describe('fidelity of stamped video (ffmpeg psnr and ssim against the regenerated source)', () => {
  const seen: Record<string, Fidelity> = {};
  afterAll(() => { console.log(JSON.stringify(seen)); });

  it('a lossless copy is identical to its source (the reference is the very frame that was sent)', async () => {
    const file = path.join(dir, 'lossless.mkv');
    await run(['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${W}x${H}`, '-framerate', '15', '-i', 'pipe:0', '-c:v', 'ffv1', file], stampedFrames());
    const r = await fidelity(file);
    seen.lossless = r;
    expect(r).toMatchObject({ compared: FRAMES, unreadable: 0, psnrDb: Number.POSITIVE_INFINITY, ssim: 1 });
  }, 60_000);

  it('a high bitrate scores clearly higher PSNR and SSIM than a very low one', async () => {
    const frames = stampedFrames();
    const high = await fidelity(await encode('high', frames, 3000));
    const low = await fidelity(await encode('low', frames, 40));
    seen.high = high;
    seen.low = low;
    expect(high.compared).toBe(FRAMES);
    expect(high.unreadable).toBe(0);
    expect(low.compared).toBeGreaterThan(FRAMES / 2);
    expect(low.compared + low.unreadable).toBe(FRAMES);
    expect(high.psnrDb!).toBeGreaterThan(30);
    expect(high.psnrDb!).toBeGreaterThan(low.psnrDb! + 5);
    expect(high.ssim!).toBeGreaterThan(low.ssim! + 0.03);
    expect(high.psnrMinDb!).toBeLessThanOrEqual(high.psnrDb!);
  }, 90_000);

  it('a recording at another size is scaled to the source size and still compared (resolution lost counts)', async () => {
    const frames = stampedFrames();
    const same = await fidelity(await encode('same', frames, 3000));
    const small = await fidelity(await encode('small', frames, 3000, `${W / 2}x${H / 2}`));
    seen.small = small;
    expect(small.compared).toBe(FRAMES);
    expect(small.psnrDb!).toBeLessThan(same.psnrDb!);
  }, 90_000);

  it('frames that are not the source (moving part of another frame under a right stamp) score clearly lower', async () => {
    const other = new Uint8Array(W * H);
    const top = Math.round((H * 2) / 3);
    const wrong = stampedFrames((y, seq) => {
      // The stamp says `seq`, the picture below is frame seq+5's: right stamp, wrong content.
      drawStampedFrame(other, W, H, seq + 5, 0);
      y.set(other.subarray(top * W), top * W);
    });
    const faithful = await fidelity(await encode('faithful', stampedFrames(), 3000));
    const notSource = await fidelity(await encode('not-source', wrong, 3000));
    seen.notSource = notSource;
    expect(notSource.compared).toBe(FRAMES);
    expect(notSource.psnrDb!).toBeLessThan(faithful.psnrDb! - 5);
    expect(notSource.ssim!).toBeLessThan(faithful.ssim! - 0.05);
  }, 90_000);

  it('a recording without readable stamps gives compared 0 and null scores, not a crash', async () => {
    const file = path.join(dir, 'testsrc.webm');
    await run(['-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=15`, '-frames:v', '20', '-c:v', 'libvpx', '-b:v', '500k', file]);
    const r = await fidelity(file);
    expect(r).toEqual({ compared: 0, unreadable: 20, psnrDb: null, psnrMinDb: null, ssim: null });
  }, 60_000);

  it('stops after maxFrames decoded frames (a long recording is bounded)', async () => {
    const file = await encode('bounded', stampedFrames(), 1000);
    const r = await withTimeout(measureFidelity({ ffmpegPath: ffmpeg, path: file, width: W, height: H, maxFrames: 10 }), 40_000, 'bounded fidelity');
    expect(r.compared + r.unreadable).toBe(10);
    expect(r.psnrDb!).toBeGreaterThan(25);
  }, 60_000);

  it('a file ffmpeg cannot read is CHZ_ERR_FFMPEG_FAILED', async () => {
    await expect(fidelity(path.join(dir, 'missing.webm'))).rejects.toMatchObject({ code: 'CHZ_ERR_FFMPEG_FAILED' });
  }, 30_000);

  it('reads the summary lines of ffmpeg 5 to 7 (inf for identical pictures, nulls when absent)', () => {
    expect(parsePsnrSsimSummary('[Parsed_psnr_2 @ 0x1] PSNR y:38.51 average:38.51 min:31.20 max:44.02\n[Parsed_ssim_3 @ 0x2] SSIM Y:0.987600 (19.08) All:0.987600 (19.08)'))
      .toEqual({ psnrDb: 38.51, psnrMinDb: 31.2, ssim: 0.9876 });
    expect(parsePsnrSsimSummary('PSNR y:inf average:inf min:inf max:inf\nSSIM Y:1.000000 (inf)')).toEqual({ psnrDb: Number.POSITIVE_INFINITY, psnrMinDb: Number.POSITIVE_INFINITY, ssim: 1 });
    expect(parsePsnrSsimSummary('nothing here')).toEqual({ psnrDb: null, psnrMinDb: null, ssim: null });
  });
});
