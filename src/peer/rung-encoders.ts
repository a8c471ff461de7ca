/**
 * The parts of an on-demand ladder (src/peer/media-source.ts): raw frames made once and handed
 * to one encoder process per rung, each of which can be replaced by a fresh one whose first
 * frame is a keyframe. That is how the headless peer sends a keyframe when it needs one (a
 * rung change, a partner's PLI, a new partner) and never otherwise: ffmpeg 5.1 cannot be asked
 * for a keyframe while it runs, and a ladder that sends them on a timer so a sender can switch
 * puts a burst into a narrow uplink every few seconds (the lab's `low-upload`: each froze the
 * picture 150-270 ms). A browser's one encoder sends a keyframe per call and one per request.
 *
 * - {@link FrameFanout}: a Writable that takes one raw frame at a time and writes it to every
 *   encoder fed now (a 3 fps rung gets its share of the frames); its callback comes when all
 *   have taken it, so the frame's buffer can be drawn on again (src/peer/stamped-frames.ts).
 *   The slowest encoder so paces them all: one thread encodes a 640x480 frame in about 3 ms, and
 *   the source skips a frame that comes while the last is still being taken.
 * - {@link RungEncoder}: one ffmpeg that encodes a rung to RTP on a loopback socket. It starts as
 *   a spare: the source's latest frame warms it up (ffmpeg starts its encoder at the first frame,
 *   about 35 ms of libvpx set-up), then it waits, idle, for frames. That first frame's output, a
 *   keyframe, is held: a new partner gets it at once, as the first picture of the call, without
 *   waiting for an encode (up to 300 ms on a machine busy with the call's start). Fed, its first
 *   frame out is a keyframe again, about 17 ms after it went in (measured; unwarmed, the first
 *   frame came out 150-220 ms after it went in), so what follows the held picture, stale by as
 *   long as the spare waited, is a fresh one; a rung change or a PLI drops the held one.
 * - {@link pipeRawFrames}: cuts a decoder's raw stdout into frames for the fan-out.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { Writable, type Readable } from 'node:stream';
import { rtpOutputUrl, rungEncoderArgs, type VideoEncodeOptions, type VideoRung } from './ffmpeg.js';
import { parseRtp, payloadKind } from './rtp-frames.js';
import type { SpawnedProcess, Spawner } from './spawner.js';

/** How many fed frames' hand-over times an encoder keeps (a frame is out within a few). */
const FED_RING = 32;

/** A frame older than this is not handed to an encoder added for a keyframe now, ms (a source that stalled). */
const PRIME_MAX_AGE_MS = 100;

/** Frames a spare is warmed up with; the last one's output is held ({@link RungEncoder.takeKeyframe}). */
export const PREROLL_FRAMES = 1;

/** How long a spare whose held keyframe's first packets came waits for its last before it counts as ready without it, ms. */
const HELD_WAIT_MS = 250;

/** Bytes of one yuv420p frame. */
export function rawFrameBytes(width: number, height: number): number {
  return width * height + 2 * ((width >> 1) * (height >> 1));
}

/** An encoder the fan-out feeds: its stdin, and the share of frames it takes (1: every one). */
interface FanoutTarget {
  stdin: Writable;
  share: number;
  /** Its share accumulates frame by frame; a frame goes to it when this reaches 1. */
  credit: number;
  /** Hears each frame handed to it, as it is handed over. */
  onFed: (() => void) | undefined;
}

/**
 * Hands each raw frame written to it to every encoder fed now; the write's callback comes when
 * every encoder that took the frame has read it (a pipe that fails calls back too). An encoder
 * whose stdin has closed is passed over.
 */
export class FrameFanout extends Writable {
  readonly #targets = new Map<Writable, FanoutTarget>();
  /** The last frame written (the producer's buffer: copy it to keep it), and when (performance.now(), ms). */
  #last: Buffer | null = null;
  #lastAt = -Infinity;
  /** Frames written to it so far. */
  frames = 0;

  constructor() {
    super({ highWaterMark: 1, decodeStrings: false });
  }

  /**
   * Feeds `stdin` from the next frame on, `share` of the frames (a 3 fps rung of 15: 0.2); `onFed`
   * hears each one handed to it. With `now`, it is handed a copy of the last frame at once, if that
   * came within {@link PRIME_MAX_AGE_MS}: a keyframe asked for does not wait for the next frame
   * (up to a frame interval, 67 ms at 15 fps).
   */
  add(stdin: Writable, share = 1, onFed?: () => void, opts: { now?: boolean } = {}): void {
    const t: FanoutTarget = { stdin, share: Math.min(1, Math.max(0, share)), credit: 1, onFed };
    this.#targets.set(stdin, t);
    const last = this.#last;
    if (opts.now && last && performance.now() - this.#lastAt <= PRIME_MAX_AGE_MS && !stdin.destroyed && stdin.writable) {
      // A copy: the one written is the producer's, reused for its next frame once every encoder has read it.
      t.credit = t.share;
      onFed?.();
      stdin.write(Buffer.from(last));
      return;
    }
    // Otherwise the first frame goes to it at once, whatever its share.
  }

  remove(stdin: Writable): void {
    this.#targets.delete(stdin);
  }

  get targets(): number { return this.#targets.size; }

  /**
   * Calls `f` with a copy of the last frame written and when it was (performance.now(), ms), now
   * or, before the first, when it comes.
   */
  withFrame(f: (frame: Buffer, at: number) => void): void {
    if (this.#last) f(Buffer.from(this.#last), this.#lastAt);
    else this.once('frame', (frame: Buffer) => f(Buffer.from(frame), performance.now()));
  }

  override _write(frame: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.frames++;
    this.#last = frame;
    this.#lastAt = performance.now();
    this.emit('frame', frame);
    let pending = 1;
    const settle = () => { if (--pending === 0) done(); };
    for (const t of this.#targets.values()) {
      // (With a margin: five shares of 0.2 add up to a hair under 1 in floating point.)
      if (t.credit < 1 - 1e-9) { t.credit += t.share; continue; }
      if (t.stdin.destroyed || !t.stdin.writable) continue;
      t.credit -= 1;
      t.credit += t.share;
      pending++;
      t.onFed?.();
      // An encoder that died mid-write: its process reports that; the frame is done with.
      t.stdin.write(frame, settle);
    }
    settle();
  }
}

/**
 * Cuts a raw video stream (a decoder's stdout) into frames of `frameBytes` and writes each to
 * `out`, one at a time: a frame that completes while the last is still being written is
 * dropped. Two buffers, reused, so no frame-sized allocation per frame.
 */
export function pipeRawFrames(from: Readable, frameBytes: number, out: Writable): void {
  const bufs = [Buffer.alloc(frameBytes), Buffer.alloc(frameBytes)];
  let filling = 0;
  let filled = 0;
  let writing = false;
  from.on('data', (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(frameBytes - filled, chunk.length - at);
      chunk.copy(bufs[filling]!, filled, at, at + n);
      filled += n;
      at += n;
      if (filled < frameBytes) break;
      filled = 0;
      if (writing || out.destroyed) continue;
      writing = true;
      out.write(bufs[filling]!, () => { writing = false; });
      filling ^= 1;
    }
  });
}

/** What a {@link RungEncoder} is now. */
export type RungEncoderState = 'warming' | 'spare' | 'fed' | 'closed';

/**
 * One encoder process of a rung, started by a {@link Spawner} (off this thread). It reads its raw
 * frames from a connection to `input`, a listening Unix socket the caller made in a directory
 * only this user can open (ffmpeg connects to it; the first connection is the one, and the
 * server closes then), so {@link input} is null until ffmpeg has connected. Its RTP comes to
 * `socket` (bound by the caller), frame by frame to `onPacket`, from its first fed frame on (a
 * keyframe); what it makes of its warm-up frame ({@link warm}) is held, for {@link takeKeyframe}.
 */
export class RungEncoder {
  readonly rung: number;
  readonly proc: SpawnedProcess;
  readonly socket: dgram.Socket;
  /** Where its frames are written, once ffmpeg has connected (null before, and once closed). */
  input: Writable | null = null;
  readonly #server: net.Server;
  /** The warm-up frame, while ffmpeg has not connected yet. */
  #warmFrame: Buffer | null = null;
  /** The encoder's frame interval in RTP ticks (90 kHz). */
  readonly #tick: number;
  #state: RungEncoderState = 'warming';
  #firstTs: number | null = null;
  /** When each of the last {@link FED_RING} fed frames was handed over (performance.now(), ms), by its number among them. */
  readonly #fedAt: { k: number; at: number }[] = [];
  #fed = 0;
  /** The fed frame whose first packet came last. */
  #lastOut = -1;
  /**
   * The packets of the warm-up frame's keyframe so far, in order from its first; null once one
   * was missing or it was taken. Whole when its last packet (the marker bit) is in.
   */
  #held: Buffer[] | null = [];
  /** When the held keyframe's frame was made (performance.now(), ms): its age. */
  #heldAt = -Infinity;
  readonly #codec: VideoEncodeOptions['codec'];
  /** Resolves when the warm-up frame came out (the encoder is ready); rejects if ffmpeg exits or fails first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  onPacket: (msg: Buffer) => void = () => {};
  /** Hears, for each fed frame, how long it took from being handed over to its first packet out, ms. */
  onDelay: (ms: number) => void = () => {};

  constructor(spawner: Spawner, ffmpegPath: string, input: Pick<VideoEncodeOptions, 'codec' | 'width' | 'height'>, rung: VideoRung, index: number, socket: dgram.Socket, server: net.Server) {
    this.rung = index;
    this.socket = socket;
    this.#server = server;
    this.#codec = input.codec;
    this.#tick = 90_000 / rung.fps;
    server.once('connection', (conn) => {
      server.close();
      // EPIPE when ffmpeg is gone: its exit is what reports it.
      conn.on('error', () => {});
      if (this.#state === 'closed') { conn.destroy(); return; }
      this.input = conn;
      if (this.#warmFrame) this.#writeWarmUp(this.#warmFrame);
      this.#warmFrame = null;
    });
    const args = rungEncoderArgs(input, rung, `unix:${String(server.address())}`, rtpOutputUrl(socket.address().port), PREROLL_FRAMES);
    this.proc = spawner.spawn(ffmpegPath, args);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      // Never started (no exit comes): nothing to wait for.
      this.proc.once('close', () => resolve());
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.proc.on('error', reject);
      this.proc.once('close', (code, signal) => reject(new Error(`ffmpeg (rung ${index} encoder) exited with ${signal ?? code}${this.stderrTail ? `:\n${this.stderrTail}` : ''}`)));
      this.#onReady = resolve;
    });
    this.ready.catch(() => {});
    socket.on('message', (msg) => this.#onMessage(msg));
  }

  /**
   * Warms the encoder up with `frame` (a raw frame of the input's size, the source's latest): it
   * is ready once that frame's output comes, and holds it. Once only; nothing after it closed.
   */
  warm(frame: Buffer, at = performance.now()): void {
    if (this.#warmed || this.#state === 'closed') return;
    this.#warmed = true;
    // The held keyframe is as old as the frame it was made of.
    this.#heldAt = at;
    if (this.input) this.#writeWarmUp(frame);
    else this.#warmFrame = frame;
  }

  #writeWarmUp(frame: Buffer): void {
    for (let i = 0; i < PREROLL_FRAMES; i++) this.input?.write(frame);
  }

  #warmed = false;

  /**
   * The keyframe its warm-up frame made, whole (its packets in order), once: null when it is not
   * whole (a packet lost on loopback), was taken, or its frame is older than `maxAgeMs`. Only
   * while it has not been fed: after that, its next frame out follows the fed ones.
   */
  takeKeyframe(maxAgeMs: number): Buffer[] | null {
    const held = this.#held;
    if (!this.#heldWhole || this.#state !== 'spare' || performance.now() - this.#heldAt > maxAgeMs) return null;
    this.#held = null;
    return held;
  }

  get #heldWhole(): boolean {
    const last = this.#held?.[this.#held.length - 1];
    return last !== undefined && (last[1]! & 0x80) !== 0;
  }

  #onReady: () => void = () => {};
  #incompleteTimer: NodeJS.Timeout | null = null;

  #becomeSpare(): void {
    if (this.#incompleteTimer) { clearTimeout(this.#incompleteTimer); this.#incompleteTimer = null; }
    if (this.#state !== 'warming') return;
    this.#state = 'spare';
    this.#onReady();
  }

  get state(): RungEncoderState { return this.#state; }
  get stderrTail(): string { return this.proc.stderr.trim().split('\n').slice(-6).join('\n'); }

  /** A frame was handed to its stdin now (the fan-out's `onFed`). */
  noteFed(): void {
    this.#fedAt[this.#fed % FED_RING] = { k: this.#fed, at: performance.now() };
    this.#fed++;
  }

  /** From now on its frames go to `onPacket` (call when the fan-out starts feeding it). */
  feed(): void {
    if (this.#state === 'spare' || this.#state === 'warming') this.#state = 'fed';
  }

  #onMessage(msg: Buffer): void {
    if (this.#state === 'closed') return;
    // RTCP sender reports share the port.
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) return;
    const h = parseRtp(msg);
    if (!h) return;
    this.#firstTs ??= h.timestamp;
    // Frame n carries the first frame's timestamp plus n frame intervals (ffmpeg numbers the raw
    // frames it reads one by one): the warm-up frames are the first PREROLL_FRAMES.
    const n = Math.round(((h.timestamp - this.#firstTs) >>> 0) / this.#tick);
    if (n < PREROLL_FRAMES) {
      if (n === PREROLL_FRAMES - 1 && this.#held && !this.#heldWhole) {
        // Held only whole: from a packet that starts the keyframe, with no gap (a packet lost on
        // loopback) up to its last.
        const prev = this.#held[this.#held.length - 1];
        const follows = prev ? h.sequenceNumber === ((prev.readUInt16BE(2) + 1) & 0xffff)
          : ((k) => k.keyframe && k.frameStart)(payloadKind(this.#codec, msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength)));
        if (follows) this.#held.push(msg);
        else this.#held = null;
      }
      // Ready once the held keyframe is whole, or a moment after its first packet if its last
      // never comes (lost: the spare is fed without a held picture then).
      if (this.#state === 'warming' && this.#heldWhole) this.#becomeSpare();
      else if (this.#state === 'warming') this.#incompleteTimer ??= setTimeout(() => this.#becomeSpare(), HELD_WAIT_MS);
      return;
    }
    if (this.#state !== 'fed') return;
    // Fed frame k is ffmpeg's frame PREROLL_FRAMES + k: nothing else is written to its stdin.
    const k = n - PREROLL_FRAMES;
    if (k !== this.#lastOut) {
      this.#lastOut = k;
      const fed = this.#fedAt[k % FED_RING];
      if (fed?.k === k) this.onDelay(performance.now() - fed.at);
    }
    this.onPacket(msg);
  }

  #closing: Promise<void> | null = null;

  /** Kills ffmpeg (SIGTERM, then SIGKILL after 2 s) and closes the socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    if (this.#incompleteTimer) { clearTimeout(this.#incompleteTimer); this.#incompleteTimer = null; }
    this.#warmFrame = null;
    this.input?.destroy();
    this.input = null;
    this.#server.close();
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(t);
    }
    await new Promise<void>((resolve) => { try { this.socket.close(() => resolve()); } catch { resolve(); } });
  }
}
