/**
 * The on-demand ladder's parts (src/peer/rung-encoders.ts) without ffmpeg: the fan-out hands a
 * frame to every encoder fed now (a slower rung its share), passes over one whose stdin closed,
 * and calls back only when all have taken it (the frame's buffer is then drawn on again);
 * pipeRawFrames cuts a byte stream into frames; the encoder's arguments. The real encoders are
 * tested in ladder.test.ts (MediaSource with a ladder).
 */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { rungEncoderArgs } from '../../src/peer/ffmpeg.js';
import { FrameFanout, pipeRawFrames, PREROLL_FRAMES, rawFrameBytes } from '../../src/peer/rung-encoders.js';

/** A pipe that keeps what it is given and calls back only when told. */
function heldPipe(highWaterMark = 1 << 20) {
  const got: { chunk: Buffer; done: () => void }[] = [];
  const pipe = new Writable({ highWaterMark, write(chunk: Buffer, _enc, done) { got.push({ chunk, done: () => done() }); } });
  return { pipe, got };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('FrameFanout', () => {
  it('writes each frame to every encoder fed now, a 3 fps rung one frame in five, and calls back once all have taken it', async () => {
    const fanout = new FrameFanout();
    const full = heldPipe();
    const slow = heldPipe();
    fanout.add(full.pipe, 1);
    fanout.add(slow.pipe, 3 / 15);
    const frame = Buffer.alloc(16, 7);
    const done: number[] = [];
    for (let i = 0; i < 10; i++) {
      fanout.write(frame, () => done.push(i));
      await tick();
      // Not done until every pipe that took the frame has read it.
      expect(done).not.toContain(i);
      full.got.at(-1)!.done();
      if (slow.got.length && slow.got.at(-1)!.chunk === frame && i % 5 === 0) slow.got.at(-1)!.done();
      await tick();
      expect(done).toContain(i);
    }
    expect(full.got).toHaveLength(10);
    // The first frame at once, then one in five: frames 0 and 5.
    expect(slow.got).toHaveLength(2);
    // The same buffer, no copies.
    expect(full.got.every((g) => g.chunk === frame)).toBe(true);
    expect(fanout.frames).toBe(10);
  });

  it('passes over an encoder whose stdin has closed and one removed, still calls back when a pipe fails mid-write, and with none fed at once', async () => {
    const fanout = new FrameFanout();
    const closed = heldPipe();
    const failing = new Writable({ write(_chunk, _enc, done) { done(new Error('EPIPE')); } });
    failing.on('error', () => {});
    const fine = heldPipe();
    fanout.add(closed.pipe);
    fanout.add(failing);
    fanout.add(fine.pipe);
    closed.pipe.destroy();
    const frame = Buffer.alloc(16, 1);
    let calls = 0;
    fanout.write(frame, () => calls++);
    await tick();
    expect(closed.got).toHaveLength(0);
    expect(calls).toBe(0);
    fine.got[0]!.done();
    await tick();
    // The failed write called back too: the frame is done with.
    expect(calls).toBe(1);
    fanout.remove(fine.pipe);
    fanout.write(frame, () => calls++);
    await tick();
    expect(calls).toBe(2);
    expect(fine.got).toHaveLength(1);
  });

  it('hands an encoder added for a keyframe now a copy of the last frame at once, counted as its share; one added without waits for the next frame', async () => {
    const fanout = new FrameFanout();
    // Nothing written yet: nothing to hand over.
    const early = heldPipe();
    fanout.add(early.pipe, 1, undefined, { now: true });
    expect(early.got).toHaveLength(0);
    fanout.remove(early.pipe);
    const frame = Buffer.alloc(16, 3);
    const full = heldPipe();
    fanout.add(full.pipe, 1);
    fanout.write(frame, () => {});
    await tick();
    full.got[0]!.done();
    await tick();
    let fed = 0;
    const now = heldPipe();
    const later = heldPipe();
    fanout.add(now.pipe, 3 / 15, () => fed++, { now: true });
    fanout.add(later.pipe, 1);
    await tick();
    expect(now.got).toHaveLength(1);
    expect(fed).toBe(1);
    // A copy: the producer reuses its buffer once the encoders fed it have read it.
    expect(now.got[0]!.chunk).not.toBe(frame);
    expect(now.got[0]!.chunk.equals(frame)).toBe(true);
    expect(later.got).toHaveLength(0);
    now.got[0]!.done();
    // Its share goes on from that frame: the next four frames pass it, the fifth is its.
    for (let i = 0; i < 5; i++) {
      fanout.write(frame, () => {});
      await tick();
      full.got.at(-1)!.done();
      later.got.at(-1)!.done();
      if (now.got.length > 1) now.got.at(-1)!.done();
      await tick();
    }
    expect(later.got).toHaveLength(5);
    expect(now.got).toHaveLength(2);
    expect(fed).toBe(2);
  });
});

describe('pipeRawFrames', () => {
  it('cuts a byte stream into whole frames, however it is chunked, and drops a frame that completes while the last is still being written', async () => {
    const bytes = rawFrameBytes(4, 2); // 8 + 2 + 2
    expect(bytes).toBe(12);
    const from = new PassThrough();
    const out = heldPipe();
    pipeRawFrames(from, bytes, out.pipe);
    const frameOf = (v: number) => Buffer.alloc(bytes, v);
    // Frame 1 in two chunks, then frame 2 and half of frame 3 in one.
    from.write(frameOf(1).subarray(0, 5));
    from.write(frameOf(1).subarray(5));
    await tick();
    expect(out.got).toHaveLength(1);
    expect([...out.got[0]!.chunk]).toEqual([...frameOf(1)]);
    // Frame 1 is still being written: frame 2 is dropped.
    from.write(Buffer.concat([frameOf(2), frameOf(3).subarray(0, 6)]));
    await tick();
    expect(out.got).toHaveLength(1);
    // The frame still being written was not drawn over by the frames that came meanwhile.
    expect([...out.got[0]!.chunk]).toEqual([...frameOf(1)]);
    out.got[0]!.done();
    await tick();
    from.write(frameOf(3).subarray(6));
    await tick();
    expect(out.got).toHaveLength(2);
    expect([...out.got[1]!.chunk]).toEqual([...frameOf(3)]);
  });
});

describe('rungEncoderArgs', () => {
  it('reads raw frames from its input socket at the rung\'s rate, scales to the rung, forces a keyframe only after the warm-up, and never buffers a frame back', () => {
    const args = rungEncoderArgs({ codec: 'vp8', width: 640, height: 480 }, { width: 320, height: 240, fps: 3, kbps: 42 }, 'unix:/tmp/x/0.sock', 'rtp://127.0.0.1:5004', PREROLL_FRAMES);
    const at = (k: string) => args[args.indexOf(k) + 1];
    expect(at('-video_size')).toBe('640x480');
    expect(at('-framerate')).toBe('3');
    expect(at('-i')).toBe('unix:/tmp/x/0.sock');
    expect(at('-vf')).toBe('scale=320:240');
    expect(at('-force_key_frames')).toBe(`expr:eq(n,${PREROLL_FRAMES})`);
    expect(Number(at('-g'))).toBeGreaterThanOrEqual(100_000);
    expect(at('-b:v')).toBe('42k');
    expect(at('-threads')).toBe('1');
    // -fflags nobuffer made ffmpeg 5.1 hold each frame until the next came.
    expect(args).not.toContain('nobuffer');
    const same = rungEncoderArgs({ codec: 'h264', width: 640, height: 480 }, { width: 640, height: 480, fps: 15, kbps: 600 }, 'unix:/tmp/x/0.sock', 'rtp://127.0.0.1:5004', 1);
    expect(same[same.indexOf('-vf') + 1]).toBe('null');
    expect(same).toContain('libx264');
  });
});
