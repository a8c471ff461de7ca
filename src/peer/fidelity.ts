/**
 * PSNR and SSIM of a recording of stamped video (src/quality/stamp.ts) against its source, with
 * ffmpeg's psnr and ssim filters. A stamped frame is a pure function of its stamp, so the source
 * needs no copy: one ffmpeg decodes the recording (the partner's webm from `connect --record`,
 * or any file ffmpeg reads) to grey frames at the source's size, each frame's stamp is read, the
 * source frame with that stamp is drawn again, and the received and source frames go, pair by
 * pair in the same order, into a second ffmpeg's psnr and ssim filters through two pipes (no
 * temporary files). A frame whose stamp does not read has no source frame to match: it is
 * counted and left out.
 *
 * A recording at another size than the source (a partner that scaled down) is scaled to the
 * source's size by the decoding ffmpeg (area averaging) before the stamp is read, so the score
 * includes what the lost resolution costs, as on a viewer's window of the source's size. The
 * source frame is never rescaled: it stays exactly what the sender encoded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { drawStampedFrame, readStamp } from '../quality/stamp.js';
import { parsePsnrSsimSummary, type Fidelity } from '../quality/fidelity.js';
import { peerError } from './errors.js';
import { lowerChild } from './thread-priority.js';

/** Options of {@link measureFidelity}. */
export interface FidelityOptions {
  ffmpegPath: string;
  /** The recording (webm, or any file ffmpeg reads). */
  path: string;
  /** The source's size (what the sender encoded stamped frames at). */
  width: number;
  height: number;
  /** Compare at most this many decoded frames (default 3000: 200 s at 15 fps). */
  maxFrames?: number;
  /** Give up (CHZ_ERR_FFMPEG_FAILED) after this long, ms (default 60000). */
  timeoutMs?: number;
}

/** Keeps the last `max` characters of a child's stderr. */
function tailOf(proc: ChildProcess, max: number): () => string {
  let text = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => { text = (text + d).slice(-max); });
  return () => text;
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => {
    proc.once('error', () => resolve({ code: -1, signal: null }));
    proc.once('close', (code, signal) => resolve({ code, signal }));
  });
}

function kill(proc: ChildProcess | null): void {
  if (proc && proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) proc.kill('SIGKILL');
}

function failure(headline: string, stderr: string): Error {
  const tail = stderr.trim().split('\n').slice(-6).join('\n');
  return peerError('CHZ_ERR_FFMPEG_FAILED', tail ? `${headline}:\n${tail}` : headline);
}

/**
 * Compares a recording of stamped video with its source. Resolves with `compared: 0` and null
 * scores when no frame's stamp read (not stamped video, or no frame decoded); throws
 * CHZ_ERR_FFMPEG_FAILED when ffmpeg cannot read the file at all or does not finish in time.
 */
export async function measureFidelity(o: FidelityOptions): Promise<Fidelity> {
  const { width, height } = o;
  const size = width * height;
  const maxFrames = o.maxFrames ?? 3000;
  const decoder = spawn(o.ffmpegPath, [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
    '-i', o.path,
    // The Y plane as it is (limited range, as drawn): `-pix_fmt gray` would stretch it to full
    // range, and no decoded frame would then match its source. passthrough: each decoded frame
    // once, none repeated or dropped to make a constant rate.
    '-an', '-vf', `scale=${width}:${height}:flags=area,format=yuv420p,extractplanes=y`, '-fps_mode', 'passthrough', '-f', 'rawvideo', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  lowerChild(decoder.pid);
  decoder.on('error', () => { /* reported by exited() */ });
  const decoderLog = tailOf(decoder, 8000);
  let compare: ChildProcess | null = null;
  let compareLog: () => string = () => '';
  let received: Writable | null = null;
  let reference: Writable | null = null;
  const timeoutMs = o.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(peerError('CHZ_ERR_FFMPEG_FAILED', `comparing ${o.path} with its source took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  expired.catch(() => { /* raced below */ });
  const startCompare = () => {
    const raw = ['-f', 'rawvideo', '-pix_fmt', 'gray', '-video_size', `${width}x${height}`, '-framerate', '15'];
    const proc = spawn(o.ffmpegPath, [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info',
      ...raw, '-i', 'pipe:0', ...raw, '-i', 'pipe:3',
      // Received first: psnr and ssim take the distorted picture as their main input.
      '-lavfi', '[0:v]split[r0][r1];[1:v]split[s0][s1];[r0][s0]psnr;[r1][s1]ssim', '-f', 'null', '-',
    ], { stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    lowerChild(proc.pid);
    proc.on('error', () => { /* reported by exited() */ });
    compareLog = tailOf(proc, 16000);
    received = proc.stdin!;
    reference = proc.stdio[3] as Writable;
    // A comparer that died is reported by its exit code below; its pipes just stop taking data.
    received.on('error', () => {});
    reference.on('error', () => {});
    compare = proc;
  };
  try {
    let compared = 0;
    let unreadable = 0;
    let stopped = false;
    const refFrame = Buffer.alloc(size);
    const decoded = new Promise<void>((resolve, reject) => {
      let pending: Buffer = Buffer.alloc(0);
      const out = decoder.stdout!;
      out.on('data', (d: Buffer) => {
        if (stopped) return;
        pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
        let waiting = 0;
        while (pending.length >= size && !stopped) {
          const frame = Buffer.from(pending.subarray(0, size));
          pending = pending.subarray(size);
          const stamp = readStamp(frame, width, height);
          if (!stamp) unreadable++;
          else {
            if (!compare) startCompare();
            compared++;
            drawStampedFrame(refFrame, width, height, stamp.seq, stamp.timeLow);
            // Both of the pair are written before waiting on either: ffmpeg needs both to go on.
            if (!received!.write(frame)) waiting++;
            if (!reference!.write(Buffer.from(refFrame))) waiting++;
          }
          if (compared + unreadable >= maxFrames) { stopped = true; kill(decoder); }
        }
        if (waiting > 0) {
          // Backpressure: hold the decoder until the comparer has taken what it was given.
          out.pause();
          let left = 2;
          const go = () => { if (--left === 0) out.resume(); };
          for (const s of [received!, reference!]) {
            if (s.writableNeedDrain) s.once('drain', go);
            else go();
          }
        }
      });
      void exited(decoder).then(({ code }) => {
        // A file that opened but none of whose frames decoded (a recording cut short, or whose
        // every frame after its keyframe was damaged on the way) is "nothing to compare"; a file
        // ffmpeg cannot open at all is an error.
        const opened = /Error while decoding stream/.test(decoderLog());
        if (code !== 0 && !stopped && compared + unreadable === 0 && !opened) reject(failure(`ffmpeg could not read ${o.path}`, decoderLog()));
        else resolve();
      });
    });
    await Promise.race([decoded, expired]);
    if (!compare) return { compared: 0, unreadable, psnrDb: null, psnrMinDb: null, ssim: null };
    const c = compare as ChildProcess;
    const done = exited(c);
    received!.end();
    reference!.end();
    const finished = await Promise.race([done, expired]);
    const scores = parsePsnrSsimSummary(compareLog());
    if (finished.code !== 0 || scores.psnrDb === null || scores.ssim === null) throw failure(`ffmpeg's psnr/ssim on ${o.path} gave no result`, compareLog());
    return { compared, unreadable, ...scores };
  } finally {
    clearTimeout(timer);
    kill(decoder);
    kill(compare);
  }
}
