/**
 * The stamped test pattern's pump into ffmpeg (src/peer/stamped-frames.ts): one frame buffer for
 * the whole stream, drawn again only once the pipe has taken the last frame (a fresh 460 KB copy
 * per frame made the V8 collector pause the thread that sends the call's audio), and frames the
 * pipe is not ready for are skipped without a gap in the stamps' numbers. Fake timers: the pump
 * runs on setTimeout and performance.now, so the test moves time itself.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pumpStampedFrames } from '../../src/peer/stamped-frames.js';
import { readStamp } from '../../src/quality/stamp.js';

afterEach(() => { vi.useRealTimers(); });

describe('pumpStampedFrames', () => {
  it('draws every frame into one buffer, hands over the next only once the last was taken, and numbers only frames handed over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const width = 160;
    const height = 120;
    const writes: { chunk: Buffer; seq: number | null; done: () => void }[] = [];
    // A high-water mark above a frame: write() says "more welcome", so only the pending callback holds the next frame back.
    const pipe = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, done) { writes.push({ chunk, seq: readStamp(chunk, width, height)?.seq ?? null, done }); },
    });
    const stop = pumpStampedFrames(pipe, { width, height, fps: 50 });
    try {
      expect(writes).toHaveLength(1);
      expect(writes[0]!.seq).toBe(0);
      // The pipe has not taken frame 0: five frame times pass with nothing more written.
      vi.advanceTimersByTime(100);
      expect(writes).toHaveLength(1);
      writes[0]!.done();
      // The stream may run the pump's callback on the next tick (not faked): let it, then the next frame time hands frame 1 over.
      await new Promise<void>((resolve) => process.nextTick(resolve));
      vi.advanceTimersByTime(20);
      expect(writes).toHaveLength(2);
      // The same buffer (no copy per frame), and the next number: skipped frames are not gaps.
      expect(writes[1]!.chunk).toBe(writes[0]!.chunk);
      expect(writes[1]!.seq).toBe(1);
      expect(writes[1]!.chunk.length).toBe(width * height * 1.5);
    } finally {
      stop();
    }
  });

  it('stops drawing when the pipe fails, and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));
    let writes = 0;
    const pipe = new Writable({ write(_chunk, _enc, done) { writes++; done(); } });
    pipe.on('error', () => { /* the pump listens too */ });
    pumpStampedFrames(pipe, { width: 160, height: 120, fps: 50 });
    await tick();
    vi.advanceTimersByTime(20);
    expect(writes).toBe(2);
    pipe.destroy(new Error('EPIPE'));
    // 'error' and 'close' come on the next ticks.
    await tick();
    await tick();
    vi.advanceTimersByTime(200);
    expect(writes).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
