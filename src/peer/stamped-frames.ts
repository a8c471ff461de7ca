/**
 * Writes stamped frames (src/quality/stamp.ts) to an ffmpeg stdin at the encode frame rate:
 * each frame carries its sequence number and the wall-clock time it was handed to the encoder,
 * the "glass" of glass-to-glass latency. A frame the pipe cannot take (ffmpeg behind) is
 * skipped, as a camera drops frames; sequence numbers count only frames handed over, so a gap
 * at the receiver is a frame lost on the way.
 */
import type { Writable } from 'node:stream';
import { drawStampedFrame } from '../quality/stamp.js';
import type { VideoEncodeOptions } from './ffmpeg.js';

/** Starts writing; stops by itself when the pipe closes or errors. Returns a stop function. */
export function pumpStampedFrames(stdin: Writable, enc: Pick<VideoEncodeOptions, 'width' | 'height' | 'fps'>, now: () => number = Date.now): () => void {
  const { width, height, fps } = enc;
  const ySize = width * height;
  // One frame buffer, drawn again for each frame once ffmpeg has taken the last: a fresh copy of
  // 460 KB (640x480) fifteen times a second is memory outside the JS heap that V8 answers with
  // full collections, pauses of 10-30 ms on the thread that also sends the call's audio.
  const frame = Buffer.alloc(ySize + 2 * ((width >> 1) * (height >> 1)), 128);
  const y = new Uint8Array(frame.buffer, frame.byteOffset, ySize);
  let seq = 0;
  let tickCount = 0;
  let stopped = false;
  /** The last frame is still being written: the buffer is not ours to draw on. */
  let writing = false;
  let timer: NodeJS.Timeout | null = null;
  const start = performance.now();
  const stop = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
  stdin.on('error', stop);
  stdin.on('close', stop);
  const tick = () => {
    timer = null;
    if (stopped) return;
    tickCount++;
    if (!writing) {
      // Sequence numbers count frames handed to the encoder: a skipped one is not "lost".
      drawStampedFrame(y, width, height, seq++, now());
      writing = true;
      stdin.write(frame, () => { writing = false; });
    }
    // Paced against the start, so late timers do not slow the frame rate down.
    timer = setTimeout(tick, Math.max(0, start + (tickCount * 1000) / fps - performance.now()));
  };
  tick();
  return stop;
}
