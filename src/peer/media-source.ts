/**
 * A media source: ffmpeg writes RTP to a loopback UDP socket per encoder, and a fan-out forwards
 * each packet to the tracks attached now (the current partner's). Next swaps the attached track
 * without restarting the source. A newly attached video track starts on a keyframe at once (no
 * waiting out a whole GOP): with a ladder a fresh one (below), without one the last keyframe
 * again, then live packets from the next keyframe on.
 *
 * With a ladder, several renditions (rungs) of the same input are encoded, and each attached
 * track follows one rung at a time: asked to change ({@link MediaSource.setRung}), it keeps the
 * old rung until the new rung's first keyframe, then carries on from there, with its RTP
 * timestamps kept continuous (each encoder has its own random base) and its sequence numbers
 * and VP8 picture ids contiguous. No gap.
 *
 * A video sink can be paused (its partner's page is hidden, issue 14: nothing is forwarded)
 * and resumed: it then starts again as a new partner does, with a keyframe at once.
 *
 * A ladder is encoded on demand (src/peer/rung-encoders.ts): the raw frames are made once (the
 * stamped pattern by Node, any other source by a decoding ffmpeg), and each rung that a track
 * follows or is asked to follow has one encoder process fed with them, which sends no keyframe
 * after its first. Each rung also has a spare encoder, started and warmed up but idle. A track
 * that needs a keyframe (it changes rung, its partner sent a PLI, it is new or resumed) gets the
 * spare fed: its first frame, a keyframe, comes within a frame interval and some 17 ms, the
 * rung's tracks carry on from it, the old encoder is stopped, and a new spare starts. A rung
 * nobody follows has no encoder running, only its spare. A new partner does not wait even that
 * long: the keyframe the spare made of its warm-up frame goes first, at once (under the load of a
 * call's start, the fresh one took 15-300 ms), then the fresh keyframe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtpPacket, type MediaStreamTrack } from 'werift';
import { TypedEmitter } from '../protocol/client/index.js';
import { peerError } from './errors.js';
import { Pacer } from './pacer.js';
import { audioArgs, audioReadsAhead, FFMPEG_PAYLOAD_TYPE, rawVideoArgs, rtpOutputUrl, videoArgs, type AudioSourceSpec, type VideoEncodeOptions, type VideoRung, type VideoSourceSpec } from './ffmpeg.js';
import { parseRtp, payloadKind, readVp8PictureId, type RtpInfo, setRtpSequence, setRtpTimestamp, vp8PictureIdAt, writeVp8PictureId, type VideoCodec } from './rtp-frames.js';
import { OpusPump } from './opus-pump.js';
import { SendClock } from './send-clock.js';
import { pumpStampedFrames } from './stamped-frames.js';
import { FrameFanout, pipeRawFrames, rawFrameBytes, RungEncoder } from './rung-encoders.js';
import { Spawner, type SpawnedProcess } from './spawner.js';
import { paddingPackets } from './rtp-padding.js';
import { fecSlots } from './fec.js';
import { lowerChild } from './thread-priority.js';
import type { CaptureClock } from './werift-seam.js';

/** How a media source is made. */
export type MediaSourceSpec =
  | { kind: 'video'; source: VideoSourceSpec; encode: VideoEncodeOptions; ladder?: readonly VideoRung[] }
  | { kind: 'audio'; source: AudioSourceSpec; bitrateKbps?: number };

/** Options of {@link MediaSource.start}. */
export interface MediaSourceOptions {
  ffmpegPath: string;
  /** How long to wait for ffmpeg's first RTP packet. */
  startTimeoutMs?: number;
  /** With a ladder: the oldest a spare's held keyframe may be to go to a new partner first, ms (default {@link HELD_MAX_AGE_MS}; 0: never). */
  heldMaxAgeMs?: number;
  /** With a ladder: how long after a fed spare's keyframe is out its replacement starts, unless wanted sooner, ms (default {@link SPARE_AFTER_MS}). */
  spareAfterMs?: number;
}

/** Events of a media source. */
export type MediaSourceEvents = {
  /** ffmpeg stopped on its own (the source is dead). */
  error: [Error];
};

/** One attached track. */
export interface MediaSink {
  readonly track: MediaStreamTrack;
  /** Packets forwarded so far. */
  packetsSent: number;
  /** Frames forwarded so far (packets with the marker bit, for video). */
  framesSent: number;
  bytesSent: number;
  /** The rung it carries now (index into {@link MediaSource.rungs}; 0 without a ladder). */
  readonly rung: number;
  /** The rung it was asked to carry; differs from `rung` until that rung's next keyframe. */
  readonly targetRung: number;
  /** Rung changes so far. */
  switches: number;
  /** Keyframes the partner asked for (PLI) so far, answered or not. */
  keyframeRequests: number;
  /** Bytes of padding-only packets sent to probe the path ({@link MediaSource.sendPadding}). */
  paddingBytes: number;
  /** Nothing is forwarded to it ({@link MediaSource.pause}). */
  readonly paused: boolean;
}

interface SinkState extends MediaSink {
  seq: number;
  live: boolean;
  paused: boolean;
  rung: number;
  targetRung: number;
  /** The encoder of its rung it follows (a key of the source's streams; video: set at each keyframe it starts from, audio has one). */
  stream: number;
  /** Sends nothing of its current rung until it switches to `targetRung` (a step down for congestion). */
  holding: boolean;
  /** Added to the rung's RTP timestamps (mod 2^32), so they continue the previous rung's. */
  tsOffset: number;
  /** The next packet starts a new segment (another rung, a replayed keyframe): place it anew. */
  rebase: boolean;
  /** The last timestamp sent, and when its frame came (performance.now(), ms; 0: nothing sent yet). */
  lastTs: number;
  /** The encoder's timestamp of the last frame sent. */
  lastInTs: number;
  /** The last packet sent ended a frame (its marker bit): padding may follow it. */
  betweenFrames: boolean;
  /** Paces the video out ({@link MediaSource.setPacing}); null for audio. */
  pacer: Pacer | null;
  lastTsAt: number;
  /** VP8: added to the rung's picture ids (mod 2^15), and the last one sent (-1: none yet). */
  pidOffset: number;
  lastPid: number;
  /** Placeholders for FEC packets follow its frames ({@link MediaSource.setFec}). */
  fec: boolean;
  /** Since the last placeholder: the longest packet (bytes, what the FEC packet will take), packets, frames. */
  fecMaxBytes: number;
  fecPackets: number;
  fecFrames: number;
}

/** What arrives from one encoder (one output of the ffmpeg, or one encoder of an on-demand ladder). */
interface StreamState {
  /** The rung it encodes. */
  rung: number;
  socket: dgram.Socket;
  /** On demand: its encoder process (null once stopped). */
  encoder: RungEncoder | null;
  /** Packets of the last complete keyframe. */
  keyframe: Buffer[];
  /** When it came (performance.now(), ms; -Infinity: none yet). */
  keyframeAt: number;
  /** Packets of the frame being received. */
  current: Buffer[];
  currentTs: number;
  currentKey: boolean;
}

/** An on-demand ladder's rung: its encoders (indices into the source's streams). */
interface RungSlot {
  /** The encoder its tracks follow (null: nobody follows the rung). */
  active: number | null;
  /** A fresh encoder fed for a keyframe, until that keyframe comes. */
  pending: number | null;
  /** Warmed up and idle; null while none is (a new one is starting, or waits for {@link replaceSpare}). */
  spare: RungEncoder | null;
  /**
   * Starts the spare that replaces the one last fed, now (null: started already). It is called
   * {@link SPARE_AFTER_MS} after the fed one's keyframe is out, or at once when a keyframe of the
   * rung is wanted before that.
   */
  replaceSpare: (() => void) | null;
  /** Calls {@link replaceSpare} when it is time (null: not waiting). */
  replaceTimer: NodeJS.Timeout | null;
  /**
   * A keyframe was asked for while no spare was ready: feed the next one when it is. `held`:
   * asked only for new partners, who may start on the spare's held keyframe; null: not asked.
   */
  wanted: 'held' | 'fresh' | null;
  /** When a spare was last fed (performance.now(), ms). */
  lastRefreshAt: number;
  /** Stops the pending encoder that sent no keyframe in time. */
  pendingTimer: NodeJS.Timeout | null;
}

/**
 * A new partner's first picture may be a spare's held keyframe this old at most, ms: it is the
 * camera as it was when the spare warmed up (at the last call's start, typically), shown for the
 * frame or so before the fresh keyframe. Older, the partner waits for the fresh one.
 */
const HELD_MAX_AGE_MS = 60_000;
/** A fresh encoder that sent no keyframe within this long is replaced, ms. */
const PENDING_TIMEOUT_MS = 1500;
/**
 * With FEC on, an FEC packet follows each frame that makes {@link FEC_GROUP_PACKETS} packets
 * since the last, or every {@link FEC_GROUP_FRAMES} frames: a 640x480 frame of 4-6 packets gets
 * one of its own, so a lost packet is rebuilt as the frame ends, and small frames share one.
 * After every second frame (or six packets), a frame that lost a packet waited for the next
 * frame's FEC, 67 ms at 15 fps, longer than the resend a NACK brings on a short path: under
 * `lossy-5` a Chromium viewer received 10% of frames 75-94 ms after their stamp (37-58 at the
 * median); with one per frame, 45-54.
 */
const FEC_GROUP_FRAMES = 2;
const FEC_GROUP_PACKETS = 4;

/** Whether an FEC packet goes after the frame that just ended, `frames` and `packets` since the last one (this frame's included). */
export function fecAfterFrame(frames: number, packets: number): boolean {
  return frames >= FEC_GROUP_FRAMES || packets >= FEC_GROUP_PACKETS;
}
/**
 * A PLI within this long of a rung's last keyframe is answered by it, ms: each keyframe is a
 * burst into the path (under loss it may cost the packet behind the next PLI) and starts an
 * ffmpeg, and a receiver asks again while it still has no picture.
 */
const MIN_PLI_KEYFRAME_MS = 300;
/**
 * The spare that replaces one fed starts this long after the fed one's keyframe is out, ms, or
 * at once when the rung's next keyframe is wanted first. Starting Debian's ffmpeg takes 100-160
 * ms of CPU (the dynamic loader, 215 libraries) besides the fork: started at once, it fell on the
 * start of the next call of a person who skips through strangers, and on 2 cores it slowed the
 * partner's half of the connection (bench:connect, Next at each first frame: deferred, the first
 * frame was shown 0.59x as late, ICE and DTLS 30-60 ms sooner). By this long the call it was
 * started in has its first frames, and a person who pressed Next since has a call whose
 * attach asks for the keyframe, which starts it then.
 */
export const SPARE_AFTER_MS = 500;

/** A running ffmpeg encoder and its fan-out. */
export class MediaSource extends TypedEmitter<MediaSourceEvents> {
  readonly kind: 'video' | 'audio';
  readonly codec: VideoCodec | 'opus';
  /** Packets received from ffmpeg (with a ladder, from all its encoders). */
  packetsIn = 0;
  /** Keyframes received from ffmpeg (with a ladder, from all its encoders). */
  keyframesIn = 0;
  /** Frames received from ffmpeg (packets with the marker bit; audio: packets; with a ladder, all its encoders'). */
  framesIn = 0;
  /** The renditions, best first (one, the encode settings, without a ladder). */
  readonly rungs: readonly VideoRung[];
  /** Per encoder: the one, or each an on-demand ladder started (some stopped since). */
  readonly #streams = new Map<number, StreamState>();
  /** The encoding ffmpeg; with an on-demand ladder the decoding one (null for the stamped pattern, drawn by Node). */
  readonly #proc: ChildProcess | null;
  readonly #sinks = new Set<SinkState>();
  /** On demand: what feeds the raw frames to the encoders, the rungs, how encoders start. */
  #fanout: FrameFanout | null = null;
  /**
   * How long a frame takes from being handed to its encoder to its first packet out, ms, averaged
   * over the last sixteen or so (null: not measured; a one-process source has no fan-out to tell).
   */
  #encodeDelayMs: number | null = null;
  #slots: RungSlot[] = [];
  #stopPump: (() => void) | null = null;
  #spawnEncoder: ((rung: number) => Promise<RungEncoder>) | null = null;
  /** On demand: encoders stopped and not yet exited. */
  readonly #stopping = new Set<RungEncoder>();
  #nextStream = 0;
  #inputFps = 0;
  #startTimeoutMs = 10_000;
  /** With a ladder: the directory (only this user's) of the Unix sockets its encoders read frames from. */
  #inputDir: string | null = null;
  #nextInput = 0;
  #heldMaxAgeMs = HELD_MAX_AGE_MS;
  #spareAfterMs = SPARE_AFTER_MS;
  /** Per rung: its last whole keyframe from any of its encoders, and when it came ({@link #preview}). */
  #lastKeyframes: ({ packets: Buffer[]; at: number } | null)[] = [];
  /**
   * Audio captured as it comes (a device): sends the packets at their timestamps' cadence. Null
   * for video, and for audio read ahead, which the Opus pump already sends at its times (a
   * packet the pump sent late after a stall of its thread would lift the clock's base for 2 s
   * and hold every packet after it as long).
   */
  readonly #clock: SendClock | null;
  /** Audio read ahead (a file, the tone): sends ffmpeg's Ogg at its pace to the socket. */
  #pump: OpusPump | null = null;
  #stderr = '';
  #closed = false;
  #closing: Promise<void> | null = null;
  readonly #exited: Promise<void>;

  private constructor(spec: MediaSourceSpec, sockets: dgram.Socket[], streams: readonly { rung: number }[], proc: ChildProcess | null) {
    super();
    this.kind = spec.kind;
    this.codec = spec.kind === 'video' ? spec.encode.codec : 'opus';
    this.#clock = spec.kind === 'audio' && !audioReadsAhead(spec.source) ? new SendClock(48_000) : null;
    this.rungs = spec.kind !== 'video' ? [] : spec.ladder?.length ? [...spec.ladder]
      : [{ width: spec.encode.width, height: spec.encode.height, fps: spec.encode.fps, kbps: spec.encode.bitrateKbps }];
    sockets.forEach((socket, i) => this.#streams.set(i, { ...streams[i]!, socket, encoder: null, keyframe: [], keyframeAt: -Infinity, current: [], currentTs: -1, currentKey: false }));
    this.#nextStream = sockets.length;
    this.#proc = proc;
    this.#exited = proc ? new Promise((resolve) => proc.once('exit', () => resolve())) : Promise.resolve();
    if (!proc) return;
    proc.on('error', () => { /* spawn failures are reported by start() */ });
    proc.stderr?.on('data', (d: Buffer) => { this.#stderr = (this.#stderr + d.toString()).slice(-4000); });
    this.#streams.forEach((r, i) => {
      r.socket.on('message', (msg) => this.#onPacket(i, msg));
      r.socket.on('error', (err) => this.emit('error', err));
    });
    proc.once('exit', (code, signal) => {
      if (this.#closed) return;
      this.emit('error', this.#ffmpegError(`ffmpeg (${this.kind}) exited with ${signal ?? code}`));
    });
  }

  /** Spawns ffmpeg for `spec` and resolves once its first RTP packet arrived. */
  static async start(spec: MediaSourceSpec, opts: MediaSourceOptions): Promise<MediaSource> {
    if (spec.kind === 'video' && spec.source.type === 'camera' && !existsSync(spec.source.device)) {
      throw peerError('CHZ_ERR_DEVICE_MISSING', `No camera at ${spec.source.device} (is it plugged in, and may this user open it?).`);
    }
    if (spec.source.type === 'file' && !existsSync(spec.source.path)) {
      throw peerError('CHZ_ERR_DEVICE_MISSING', `The ${spec.kind} file ${spec.source.path} does not exist.`);
    }
    if (spec.kind === 'video' && spec.ladder?.length) return MediaSource.#startOnDemand(spec, opts);
    const streams = [{ rung: 0 }];
    const sockets: dgram.Socket[] = [];
    try {
      for (let i = 0; i < streams.length; i++) sockets.push(await loopbackSocket());
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    const urls = sockets.map((s) => rtpOutputUrl(s.address().port));
    // Audio read ahead comes as Ogg on ffmpeg's stdout, for the Opus pump.
    const ahead = spec.kind === 'audio' && audioReadsAhead(spec.source);
    const args = spec.kind === 'audio' ? audioArgs(spec.source, ahead ? null : urls[0]!, spec.bitrateKbps)
      : videoArgs(spec.source, spec.encode, urls[0]!);
    let proc: ChildProcess;
    try {
      const stamped = spec.kind === 'video' && spec.source.type === 'stamped';
      proc = spawn(opts.ffmpegPath, args, { stdio: [stamped ? 'pipe' : 'ignore', ahead ? 'pipe' : 'ignore', 'pipe'] });
      lowerChild(proc.pid);
      if (stamped) pumpStampedFrames(proc.stdin!, spec.encode);
    } catch (err) {
      for (const s of sockets) s.close();
      throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${(err as Error).message}`, err);
    }
    const source = new MediaSource(spec, sockets, streams, proc);
    // In the same tick as the spawn: nothing of ffmpeg's stdout has been read yet.
    if (ahead) {
      source.#pump = new OpusPump(proc.stdout!, { port: sockets[0]!.address().port, payloadType: FFMPEG_PAYLOAD_TYPE.audio, onError: (err) => {
        // Not Ogg/Opus, or the pipe failed: no more audio; ffmpeg is stopped rather than left encoding.
        proc.kill('SIGKILL');
        source.emit('error', peerError('CHZ_ERR_FFMPEG_FAILED', `ffmpeg (audio): ${err.message}`, err));
      } });
    }
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(source.#ffmpegError(`ffmpeg (${spec.kind}) sent no RTP within ${opts.startTimeoutMs ?? 10_000} ms`)), opts.startTimeoutMs ?? 10_000);
      // RTP or RTCP on every output: ffmpeg is encoding each rung.
      void Promise.all(sockets.map((s) => new Promise((r) => s.once('message', r)))).then(() => { clearTimeout(timer); resolve(); });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${err.message}`, err));
      });
      // 'close' (not 'exit'): stderr is fully read by then, so the message carries ffmpeg's words.
      proc.once('close', (code, signal) => {
        clearTimeout(timer);
        reject(source.#ffmpegError(`ffmpeg (${spec.kind}) exited with ${signal ?? code} before sending media`));
      });
    });
    try {
      await started;
    } catch (err) {
      await source.close();
      throw err;
    }
    return source;
  }

  /**
   * A ladder on demand: raw frames from the stamped pump or a decoding ffmpeg into a fan-out, a
   * warmed-up spare encoder per rung; resolves once every spare is ready and the first frame made.
   */
  static async #startOnDemand(spec: Extract<MediaSourceSpec, { kind: 'video' }>, opts: MediaSourceOptions): Promise<MediaSource> {
    const enc = spec.encode;
    let proc: ChildProcess | null = null;
    if (spec.source.type !== 'stamped') {
      try {
        proc = spawn(opts.ffmpegPath, rawVideoArgs(spec.source, enc), { stdio: ['ignore', 'pipe', 'pipe'] });
        lowerChild(proc.pid);
      } catch (err) {
        throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${(err as Error).message}`, err);
      }
    }
    const source = new MediaSource(spec, [], [], proc);
    const fanout = new FrameFanout();
    source.#fanout = fanout;
    source.#slots = source.rungs.map(() => ({ active: null, pending: null, spare: null, wanted: null, lastRefreshAt: -Infinity, pendingTimer: null, replaceSpare: null, replaceTimer: null }));
    source.#lastKeyframes = source.rungs.map(() => null);
    source.#inputFps = enc.fps;
    source.#startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    source.#heldMaxAgeMs = opts.heldMaxAgeMs ?? HELD_MAX_AGE_MS;
    source.#spareAfterMs = opts.spareAfterMs ?? SPARE_AFTER_MS;
    source.#spawnEncoder = async (rung) => {
      const socket = await loopbackSocket();
      // Closed while the socket was bound (a spare replaced as the last partner left, then close()):
      // no ffmpeg that close() would not wait for.
      if (source.#closed) { socket.close(); throw new Error('the source is closed'); }
      source.#inputDir ??= mkdtempSync(path.join(inputDirBase(), 'chatzyo-frames-'));
      let server: net.Server;
      try {
        server = await listenUnix(path.join(source.#inputDir, `${source.#nextInput++}.sock`));
      } catch (err) {
        socket.close();
        throw err;
      }
      if (source.#closed) { socket.close(); server.close(); throw new Error('the source is closed'); }
      const encoder = new RungEncoder(Spawner.shared(), opts.ffmpegPath, enc, source.rungs[rung]!, rung, socket, server);
      fanout.withFrame((frame, at) => encoder.warm(frame, at));
      return encoder;
    };
    const timeoutMs = opts.startTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const firstFrame = new Promise<void>((resolve, reject) => {
        fanout.once('frame', () => resolve());
        if (!proc) return;
        proc.once('error', (err) => reject(peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${err.message}`, err)));
        // 'close' (not 'exit'): stderr is fully read by then, so the message carries ffmpeg's words.
        proc.once('close', (code, signal) => reject(source.#ffmpegError(`ffmpeg (video) exited with ${signal ?? code} before sending media`)));
      });
      if (proc) pipeRawFrames(proc.stdout!, rawFrameBytes(enc.width, enc.height), fanout);
      else source.#stopPump = pumpStampedFrames(fanout, enc);
      const spares = Promise.all(source.rungs.map(async (_, r) => {
        const spare = await source.#startSpare(r);
        await spare.ready;
      }));
      await Promise.race([
        Promise.all([firstFrame, spares]),
        new Promise((_, reject) => { timer = setTimeout(() => reject(source.#ffmpegError(`ffmpeg (video) sent no RTP within ${timeoutMs} ms`)), timeoutMs); }),
      ]);
    } catch (err) {
      await source.close();
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('CHZ_ERR_')) throw err;
      // An encoder that could not be spawned (the stamped pattern starts no decoder first).
      if (code === 'ENOENT' || code === 'EACCES') throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${(err as Error).message}`, err);
      throw peerError('CHZ_ERR_FFMPEG_FAILED', (err as Error).message, err);
    } finally {
      clearTimeout(timer);
    }
    return source;
  }

  /**
   * Starts rung `r`'s next spare encoder. A spare that fails to start, exits, or is not warmed up
   * within the start timeout kills the source (an `error` event): no keyframe could be made.
   */
  async #startSpare(r: number): Promise<RungEncoder> {
    const slot = this.#slots[r]!;
    const encoder = await this.#spawnEncoder!(r);
    if (this.#closed) { this.#closeEncoder(encoder); return encoder; }
    slot.spare = encoder;
    const fail = (why: string) => {
      if (this.#closed || encoder.state === 'closed') return;
      if (slot.spare === encoder) slot.spare = null;
      this.#closeEncoder(encoder);
      this.emit('error', peerError('CHZ_ERR_FFMPEG_FAILED', `ffmpeg (rung ${r} encoder) ${why}${encoder.stderrTail ? `:\n${encoder.stderrTail}` : ''}`));
    };
    // 'close' (not 'exit'): stderr is read by then, and a process that never started has no 'exit'.
    encoder.proc.once('close', (code, signal) => fail(`exited with ${signal ?? code}`));
    encoder.proc.on('error', (err) => fail(`could not be started: ${err.message}`));
    const timer = setTimeout(() => fail(`was not ready within ${this.#startTimeoutMs} ms`), this.#startTimeoutMs);
    encoder.ready.then(() => {
      clearTimeout(timer);
      if (slot.wanted && slot.spare === encoder && !this.#closed) {
        const held = slot.wanted === 'held';
        slot.wanted = null;
        this.#refresh(r, held);
      }
    }, () => clearTimeout(timer));
    return encoder;
  }

  /**
   * On demand: a keyframe of rung `r` is wanted. Its spare is fed (its first frame is one) unless
   * one is already on its way; a new spare starts. A fresh encoder whose keyframe has not come
   * within {@link PENDING_TIMEOUT_MS} (its first packet lost on loopback, say) is stopped and the
   * next spare fed. `held` (a new partner): the spare's held keyframe goes out at once, before
   * the fresh one, when it is no older than `heldMaxAgeMs` ({@link HELD_MAX_AGE_MS}) and no partner watches the
   * rung now (who would see the picture jump back).
   */
  #refresh(r: number, held = false): void {
    const slot = this.#slots[r];
    if (!slot || slot.pending !== null || this.#closed) return;
    const encoder = slot.spare;
    if (!encoder || encoder.state !== 'spare') {
      // Its replacement waits to start: wanted now, it starts now.
      slot.replaceSpare?.();
      slot.wanted = held && slot.wanted !== 'fresh' ? 'held' : 'fresh';
      if (held) this.#preview(r);
      return;
    }
    slot.spare = null;
    slot.wanted = null;
    const watched = this.#watched(r);
    const first = held && !watched && this.#heldMaxAgeMs > 0 ? encoder.takeKeyframe(this.#heldMaxAgeMs) : null;
    slot.lastRefreshAt = performance.now();
    const index = this.#nextStream++;
    this.#streams.set(index, { rung: r, socket: encoder.socket, encoder, keyframe: [], keyframeAt: -Infinity, current: [], currentTs: -1, currentKey: false });
    slot.pending = index;
    // The next spare starts a while after this one's fresh keyframe is out ({@link SPARE_AFTER_MS}),
    // not now: a starting ffmpeg takes CPU for a few hundred ms (and its fork a few ms of this
    // thread) while the keyframe a new partner waits for is written to the encoder and encoded.
    let replaced = false;
    let firstTs: number | null = null;
    const replace = () => {
      if (replaced || this.#closed) return;
      replaced = true;
      if (slot.replaceSpare === replace) slot.replaceSpare = null;
      if (slot.replaceTimer) { clearTimeout(slot.replaceTimer); slot.replaceTimer = null; }
      this.#startSpare(r).catch((err: Error) => { if (!this.#closed) this.emit('error', peerError('CHZ_ERR_FFMPEG_FAILED', err.message, err)); });
    };
    slot.replaceSpare = replace;
    encoder.onPacket = (msg) => {
      this.#onPacket(index, msg);
      // The marker bit ends a frame: the keyframe is out (or, its last packet lost, the next frame
      // came). Nothing more to look at once its replacement is timed or started.
      if (slot.replaceSpare !== replace || slot.replaceTimer !== null || msg.length < 12) return;
      const ts = msg.readUInt32BE(4);
      firstTs ??= ts;
      if ((msg[1]! & 0x80) !== 0 || ts !== firstTs) this.#replaceLater(slot, replace);
    };
    encoder.onDelay = (ms) => { this.#encodeDelayMs = this.#encodeDelayMs === null ? ms : this.#encodeDelayMs + (ms - this.#encodeDelayMs) / 16; };
    encoder.feed();
    // The held keyframe, as if it came now; the fresh one then follows as it comes.
    if (first) for (const p of first) this.#onPacket(index, p, true);
    this.#fanout!.add(encoder.input!, this.rungs[r]!.fps / this.#inputFps, () => encoder.noteFed(), { now: true });
    slot.pendingTimer = setTimeout(() => {
      slot.pendingTimer = null;
      if (slot.pending !== index) return;
      this.#retire(index);
      slot.pending = null;
      replace();
      this.#refresh(r);
    }, PENDING_TIMEOUT_MS);
  }

  /**
   * On demand: a keyframe of rung `r` for a partner's PLI, unless one is on its way or went out
   * less than {@link MIN_PLI_KEYFRAME_MS} ago (a PLI sent before that keyframe arrived; a
   * receiver still without a picture asks again).
   */
  #refreshForPli(r: number): void {
    const slot = this.#slots[r];
    if (!slot || slot.pending !== null || performance.now() - slot.lastRefreshAt < MIN_PLI_KEYFRAME_MS) return;
    this.#refresh(r);
  }

  /**
   * On demand: the slot's spare is replaced by `replace` `spareAfterMs` ({@link SPARE_AFTER_MS})
   * from now; nothing when it is timed already, started, or no longer the slot's (or null).
   */
  #replaceLater(slot: RungSlot, replace: (() => void) | null): void {
    if (!replace || slot.replaceSpare !== replace || slot.replaceTimer) return;
    slot.replaceTimer = setTimeout(replace, this.#spareAfterMs);
  }

  /** On demand: stops a stream's encoder (replaced, or its rung no longer followed) and forgets the stream. */
  #retire(stream: number | null): void {
    const st = stream === null ? undefined : this.#streams.get(stream);
    if (!st) return;
    this.#streams.delete(stream!);
    if (!st.encoder) return;
    if (st.encoder.input) this.#fanout?.remove(st.encoder.input);
    this.#closeEncoder(st.encoder);
    st.encoder = null;
  }

  /** Stops an encoder; {@link close} waits for every one stopped so. */
  #closeEncoder(encoder: RungEncoder): void {
    this.#stopping.add(encoder);
    void encoder.close().then(() => this.#stopping.delete(encoder));
  }

  /**
   * On demand: stops the encoders of every rung no track follows or is asked to follow (a paused
   * track counts for none: resuming asks for a fresh keyframe anyway).
   */
  #prune(): void {
    this.#slots.forEach((slot, r) => {
      if ([...this.#sinks].some((s) => !s.paused && (s.rung === r || s.targetRung === r))) return;
      this.#retire(slot.active);
      this.#retire(slot.pending);
      // The encoder retired may not have made its keyframe yet: its replacement starts all the same.
      this.#replaceLater(slot, slot.replaceSpare);
      if (slot.pendingTimer) clearTimeout(slot.pendingTimer);
      slot.active = null;
      slot.pending = null;
      slot.pendingTimer = null;
      slot.wanted = null;
    });
  }

  /** The ffmpeg process id: the encoder's, or with a ladder the decoder's (undefined for the stamped pattern, which Node draws). */
  get pid(): number | undefined { return this.#proc?.pid; }

  /** Its encoders: fed, spare, and stopping. */
  get #encoders(): RungEncoder[] {
    const all = [...[...this.#streams.values()].map((st) => st.encoder), ...this.#slots.map((sl) => sl.spare), ...this.#stopping];
    return [...new Set(all.filter((e): e is RungEncoder => e !== null))];
  }

  /** The processes of its encoders (those stopping too) and of its decoder. */
  get #procs(): (ChildProcess | SpawnedProcess)[] {
    return [...(this.#proc ? [this.#proc] : []), ...this.#encoders.map((e) => e.proc)];
  }

  /** With a ladder: whether rung `rung` has a warmed-up spare now (for tests and diagnostics). */
  spareReady(rung: number): boolean { return this.#slots[rung]?.spare?.state === 'spare'; }

  /** The process ids of its ffmpegs now (for tests and diagnostics). */
  get pids(): number[] { return this.#procs.map((p) => p.pid).filter((p): p is number => p !== undefined); }

  /** True once every ffmpeg of it has exited (and with a ladder on demand, after close). */
  get exited(): boolean {
    const gone = (p: ChildProcess | SpawnedProcess) => p.exitCode !== null || p.signalCode !== null;
    return this.#fanout ? this.#closed && this.#procs.every(gone) : gone(this.#proc!);
  }

  /**
   * Starts forwarding to `track`. Video with a ladder: from a fresh encoder's keyframe of `rung`;
   * without: the cached keyframe first, then live packets from the next keyframe. Sequence
   * numbers are rewritten per track so they stay contiguous.
   */
  attach(track: MediaStreamTrack, rung = 0): MediaSink {
    const r = this.#clampRung(rung);
    const sink: SinkState = {
      track, seq: Math.floor(Math.random() * 0x10000), live: this.kind === 'audio', paused: false, packetsSent: 0, framesSent: 0, bytesSent: 0,
      rung: r, targetRung: r, stream: 0, holding: false, switches: 0, keyframeRequests: 0, paddingBytes: 0, betweenFrames: false, pacer: this.kind === 'video' ? new Pacer() : null, tsOffset: Math.floor(Math.random() * 0x1_0000_0000), rebase: true, lastTs: 0, lastInTs: -1, lastTsAt: 0, pidOffset: 0, lastPid: -1, fec: false, fecMaxBytes: 0, fecPackets: 0, fecFrames: 0,
    };
    this.#sinks.add(sink);
    if (this.#fanout) this.#awaitKeyframe(sink, true);
    else if (this.kind === 'video') this.#replayKeyframe(sink);
    return sink;
  }

  /**
   * Asks `sink` to carry rung `rung` (clamped to the ladder): it switches when that rung's next
   * keyframe starts, and keeps the current rung until then. Returns the rung it will carry.
   * `hold` (a step down because the path is congested): send nothing of the current rung until
   * the switch, rather than pile up to a second more of a rendition the path cannot carry
   * behind the queue it already has (the viewer's picture lags behind that queue anyway).
   */
  setRung(sink: MediaSink, rung: number, opts: { hold?: boolean } = {}): number {
    const s = sink as SinkState;
    if (!this.#sinks.has(s)) return s.rung;
    const wasHolding = s.holding;
    s.targetRung = this.#clampRung(rung);
    s.holding = opts.hold === true && s.targetRung > s.rung;
    if (this.#fanout) {
      // Back to its own rung after holding it back: it skipped frames, so it needs a keyframe.
      if (wasHolding && s.targetRung === s.rung && s.live && !s.paused) this.#awaitKeyframe(s);
      else if (s.targetRung !== s.rung && !s.paused) this.#refresh(s.targetRung);
      this.#prune();
    }
    return s.targetRung;
  }

  /**
   * Sends about `bytes` of padding-only RTP packets (RFC 3550 section 5.1: the P bit, no payload,
   * at most 255 bytes of padding each) on a video sink, between two frames: the next sequence
   * numbers, the last frame's timestamp. A receiver counts them for sequence continuity and
   * transport-wide feedback and decodes nothing, so the sender can find out whether the path
   * carries more without sending a rendition it may not carry (libwebrtc probes with padding the
   * same way when it has no RTX). Sends nothing (returns 0) while the sink has nothing live, is
   * paused or held, or is in the middle of a frame. Returns the bytes sent.
   */
  sendPadding(sink: MediaSink, bytes: number): number {
    const s = sink as SinkState;
    if (this.kind !== 'video' || !this.#sinks.has(s) || !s.live || s.paused || s.holding || !s.betweenFrames || s.lastTsAt === 0) return 0;
    const pad = paddingPackets(bytes, s.seq, s.lastTs, FFMPEG_PAYLOAD_TYPE.video, 0);
    s.seq = pad.nextSeq;
    for (const p of pad.packets) this.#write(s, p, p.payload.length + 12);
    s.packetsSent += pad.packets.length;
    s.bytesSent += pad.bytes;
    s.paddingBytes += pad.bytes;
    return pad.bytes;
  }

  #clampRung(rung: number): number {
    return Math.max(0, Math.min(Math.max(0, this.rungs.length - 1), Math.round(rung)));
  }

  /** Stops forwarding to a sink. */
  detach(sink: MediaSink): void {
    (sink as SinkState).pacer?.stop();
    this.#sinks.delete(sink as SinkState);
    if (this.#fanout) this.#prune();
  }

  /**
   * Paces a video sink's packets at `kbps` (src/peer/pacer.ts), rather than in the bursts the
   * encoder writes; 0 sends at once. `burstMs`: that much time at the rate may go at once. The
   * adaptation sets both from the rung it carries and the path.
   */
  setPacing(sink: MediaSink, kbps: number, burstMs = 0): void {
    (sink as SinkState).pacer?.setRate(kbps, burstMs);
  }

  /**
   * Pauses a video sink: nothing is forwarded to it until {@link resume} (the partner's page is
   * hidden, so nobody watches; issue 14). The encoder runs on for the other sinks and the cache.
   */
  pause(sink: MediaSink): void {
    const s = sink as SinkState;
    if (this.kind !== 'video' || !this.#sinks.has(s)) return;
    s.paused = true;
    if (this.#fanout) this.#prune();
  }

  /**
   * Forwards to a paused video sink again, as to a new partner: with a ladder, from a fresh
   * encoder's keyframe; without, the cached keyframe at once (its timestamp placed now), then live
   * packets from the encoder's next keyframe.
   */
  resume(sink: MediaSink): void {
    const s = sink as SinkState;
    if (this.kind !== 'video' || !this.#sinks.has(s) || !s.paused) return;
    s.paused = false;
    if (this.#fanout) this.#awaitKeyframe(s);
    else this.#replayKeyframe(s);
  }

  /**
   * A partner asked for a keyframe (RTCP PLI, RFC 4585 section 6.3.1). With a ladder: nothing
   * more until a fresh encoder's keyframe, within a frame interval or so. Without: the cached one
   * and no deltas until the encoder's next keyframe. Ignored while already waiting for one,
   * while paused (resuming sends one), and while holding for a step down (the new rung's
   * keyframe is on its way; the old rung's, the largest frame of what the path could not
   * carry, would only deepen its queue).
   */
  requestKeyframe(sink: MediaSink): void {
    const s = sink as SinkState;
    if (this.kind !== 'video' || !this.#sinks.has(s)) return;
    s.keyframeRequests++;
    if (!s.live || s.paused || s.holding) return;
    // On demand the deltas go on until the fresh keyframe, which the rung's tracks carry on from.
    if (this.#fanout) this.#refreshForPli(s.rung);
    else this.#replayKeyframe(s);
  }

  /**
   * On demand: the sink sends nothing until its rung's next keyframe, which a fresh encoder
   * makes within a frame interval or so ({@link #refresh}); the rung it was asked to change to,
   * when that is another (the change's keyframe may have gone by while it was paused).
   */
  #awaitKeyframe(sink: SinkState, held = false): void {
    sink.live = false;
    sink.rebase = true;
    sink.stream = -1;
    this.#refresh(sink.targetRung, held);
  }

  /**
   * A new partner on rung `r` whose spare is still starting (the last partner's call took it a
   * moment ago, and a spare takes a few hundred ms to start and warm up) gets the rung's last
   * keyframe at once, as its first picture, as a held keyframe would be: otherwise its picture
   * waited for the spare. Under `bench:connect`, which presses Next at each first frame, one
   * call in two found the spare starting and showed its first frame 107 ms later at the median.
   * Not when someone watches the rung (kept as simple as the held keyframe's rule), not when
   * older than the held keyframe may be, nor with held keyframes off. The partner
   * then waits, as before, for the spare's keyframes; its timeline and picture ids go on from the
   * picture it has.
   */
  #preview(r: number): void {
    const last = this.#lastKeyframes[r];
    if (!last || this.#heldMaxAgeMs <= 0 || performance.now() - last.at > this.#heldMaxAgeMs) return;
    if (this.#watched(r)) return;
    for (const s of this.#sinks) {
      if (s.live || s.paused || s.rung !== r || s.targetRung !== r || s.framesSent > 0) continue;
      for (const p of last.packets) this.#send(s, p);
      s.rebase = true;
    }
  }

  /** Some partner watches rung `r` now (live on it, not paused). */
  #watched(r: number): boolean {
    for (const s of this.#sinks) if (s.live && !s.paused && s.rung === r) return true;
    return false;
  }

  /** The encoder of `rung` with the newest keyframe (its first without one yet). */
  #latestKeyframe(rung: number): number {
    let best = -1;
    this.#streams.forEach((st, i) => {
      if (st.rung === rung && (best < 0 || st.keyframeAt > this.#streams.get(best)!.keyframeAt)) best = i;
    });
    return Math.max(0, best);
  }

  /**
   * Sends the rung's newest keyframe again (its timestamp placed now: it is older than what
   * follows), then nothing until the next keyframe of any of the rung's encoders.
   */
  #replayKeyframe(sink: SinkState): void {
    sink.live = false;
    sink.rebase = true;
    sink.stream = this.#latestKeyframe(sink.rung);
    for (const p of this.#streams.get(sink.stream)?.keyframe ?? []) this.#send(sink, p);
  }

  /**
   * A packet from stream `stream`'s encoder. `held`: one of a spare's held keyframe, sent before
   * its fresh one: it starts the waiting sinks on the stream, but the stream stays pending (a
   * keyframe on its way) until the fresh keyframe comes, so a request meanwhile joins that one.
   */
  #onPacket(stream: number, msg: Buffer, held = false): void {
    if (this.#closed) return;
    // RTCP sender reports share the port (payload types 200-204 sit at 72-76 after the marker bit).
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) return;
    const h = parseRtp(msg);
    if (!h) return;
    const counted = stream === 0 || this.#fanout !== null;
    if (counted) this.packetsIn++;
    if (this.#clock) {
      this.framesIn++;
      this.#clock.push(h.timestamp, () => {
        for (const s of this.#sinks) this.#send(s, msg);
      });
      return;
    }
    const r = this.#streams.get(stream);
    if (!r) return;
    const rung = r.rung;
    const kind = payloadKind(this.codec as VideoCodec, msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength));
    if (h.timestamp !== r.currentTs) {
      r.current = [];
      r.currentTs = h.timestamp;
      r.currentKey = false;
    }
    const startsKeyframe = kind.keyframe && r.current.length === 0;
    // On demand: a fresh encoder's first keyframe takes over its rung from the encoder before it.
    let replaced: number | null = null;
    const slot = this.#slots[rung];
    if (startsKeyframe && !held && slot?.pending === stream) {
      replaced = slot.active;
      slot.active = stream;
      slot.pending = null;
      if (slot.pendingTimer) { clearTimeout(slot.pendingTimer); slot.pendingTimer = null; }
    }
    r.current.push(msg);
    if (kind.keyframe) r.currentKey = true;
    if (h.marker) {
      if (counted) this.framesIn++;
      if (r.currentKey) {
        if (counted) this.keyframesIn++;
        r.keyframe = r.current;
        r.keyframeAt = performance.now();
        // (Not a held one: its picture is as old as its spare's warm-up, not now.)
        if (this.#fanout && !held) this.#lastKeyframes[rung] = { packets: r.current, at: r.keyframeAt };
      }
    }
    let switched = false;
    for (const s of this.#sinks) {
      if (replaced !== null && s.stream === replaced) {
        s.stream = stream;
        s.rebase = true;
      }
      if (s.paused) continue;
      if (startsKeyframe && s.targetRung === rung && s.rung !== rung) {
        switched = true;
        // The rung it was asked for starts a keyframe: carry on from here.
        s.rung = rung;
        s.stream = stream;
        s.switches++;
        s.live = true;
        s.rebase = true;
        s.holding = false;
      } else if (startsKeyframe && !s.live && s.rung === rung && s.stream !== stream) {
        // Waiting for a keyframe (a new partner, a PLI): the first of any of the rung's encoders.
        s.stream = stream;
        s.rebase = true;
      }
      if (s.stream !== stream) continue;
      if (s.holding && s.targetRung !== s.rung) continue;
      if (!s.live && startsKeyframe) s.live = true;
      if (s.live) this.#send(s, msg, h);
    }
    if (replaced !== null) this.#retire(replaced);
    if ((switched || replaced !== null) && this.#fanout) this.#prune();
  }

  /** Forwards a copy of `packet` to `sink`; `h` is its parsed header when the caller has it. */
  #send(sink: SinkState, packet: Buffer, h?: RtpInfo): void {
    const copy = Buffer.from(packet);
    setRtpSequence(copy, sink.seq);
    sink.seq = (sink.seq + 1) & 0xffff;
    if (this.kind === 'video') this.#continueTimeline(sink, copy, h ?? parseRtp(copy));
    sink.packetsSent++;
    sink.bytesSent += copy.length;
    sink.betweenFrames = (copy[1]! & 0x80) !== 0;
    if (sink.betweenFrames) sink.framesSent++;
    this.#write(sink, copy, copy.length);
    if (this.kind !== 'video' || !sink.fec) return;
    sink.fecMaxBytes = Math.max(sink.fecMaxBytes, copy.length);
    sink.fecPackets++;
    if (sink.betweenFrames && fecAfterFrame(++sink.fecFrames, sink.fecPackets)) this.#writeFecSlot(sink);
  }

  /**
   * Protects the video sent to `sink` with FEC or stops: while on, each frame that makes four
   * packets since the last (else every second frame) is followed by a placeholder, a padding packet
   * with the next sequence number registered in fec.ts `fecSlots`, which the call's FEC hook
   * replaces with the ULPFEC packet of the packets since the last.
   */
  setFec(sink: MediaSink, on: boolean): void {
    if (this.kind !== 'video' || !this.#sinks.has(sink as SinkState)) return;
    const s = sink as SinkState;
    s.fec = on;
    s.fecMaxBytes = 0;
    s.fecPackets = 0;
    s.fecFrames = 0;
  }

  #writeFecSlot(sink: SinkState): void {
    const pad = paddingPackets(32, sink.seq, sink.lastTs, FFMPEG_PAYLOAD_TYPE.video, 0);
    const slot = pad.packets[0];
    if (!slot) return;
    sink.seq = pad.nextSeq;
    fecSlots.add(slot.header);
    // What the FEC packet will take: the longest packet's bytes after its fixed header, the
    // FEC and level headers (14), the RED header (1), and its own RTP header.
    const bytes = sink.fecMaxBytes + 15;
    sink.fecMaxBytes = 0;
    sink.fecPackets = 0;
    sink.fecFrames = 0;
    sink.packetsSent++;
    sink.bytesSent += bytes;
    this.#write(sink, slot, bytes);
  }

  /**
   * When each video timestamp sent to `sink` was captured, as near as we know: when its frame was
   * handed to the encoder. {@link #continueTimeline} stamps each frame with when it came from the
   * encoder (at 90 kHz), so a timestamp maps back linearly from the last one placed, less the
   * encoder's measured delay. Our Sender Reports carry it (werift-seam.ts stampSenderReports): a
   * partner's lip sync then sees the time the encoder, our pacer and the path's queue held the
   * video, as a browser's reports place a frame at its capture. Placed at the encoder's output
   * instead, our video looked that much younger to a Chromium viewer, which held it back to
   * match the audio. Null for audio, whose packets go out on their cadence ({@link SendClock}),
   * within a frame of when they came.
   */
  captureClock(sink: MediaSink): CaptureClock | null {
    if (this.kind !== 'video' || !this.#sinks.has(sink as SinkState)) return null;
    const s = sink as SinkState;
    return (timestamp) => s.lastTsAt + ((timestamp - s.lastTs) | 0) / 90 - (this.#encodeDelayMs ?? 0);
  }

  /** Hands a packet to the sink's track, through its pacer when it has one. */
  #write(sink: SinkState, packet: Buffer | RtpPacket, bytes: number): void {
    const out = () => {
      try {
        sink.track.writeRtp(packet);
      } catch {
        // The track was stopped between Next and detach: nothing to deliver to.
      }
    };
    if (sink.pacer) sink.pacer.push(bytes, out);
    else out();
  }

  /**
   * Rewrites a video packet onto the sink's timeline: each frame is stamped with the wall-clock
   * time its first packet came from the encoder (at 90 kHz, at least one tick after the last
   * frame), not with the encoder's own timestamp. The encoder's are the frames' nominal times,
   * and ffmpeg hands frames over up to tens of milliseconds off them (a keyframe takes longer to
   * encode, a loaded machine delays a process): a viewer's jitter buffer grows by that jitter, where
   * stamped on the way out it sees only the path's. The same placement continues the timeline
   * across a rung change or a replayed keyframe (each rung's encoder has its own random
   * timestamp base and its own VP8 picture ids, and the partner must see one stream).
   */
  #continueTimeline(sink: SinkState, packet: Buffer, h: RtpInfo | null): void {
    if (!h) return;
    const pidAt = this.codec === 'vp8' ? vp8PictureIdAt(packet, h.payloadOffset) : null;
    const pidIn = pidAt ? readVp8PictureId(packet, pidAt) : -1;
    if (sink.rebase || h.timestamp !== sink.lastInTs) {
      const now = performance.now();
      // The first packet ever keeps the random offset.
      if (sink.lastTsAt) sink.tsOffset = ((sink.lastTs + Math.max(1, Math.round((now - sink.lastTsAt) * 90))) - h.timestamp) >>> 0;
      if (sink.rebase && pidAt && sink.lastPid >= 0) sink.pidOffset = (sink.lastPid + 1 - pidIn + 0x8000) & 0x7fff;
      sink.rebase = false;
      sink.lastInTs = h.timestamp;
      sink.lastTsAt = now;
    }
    const out = (h.timestamp + sink.tsOffset) >>> 0;
    setRtpTimestamp(packet, out);
    sink.lastTs = out;
    if (pidAt) {
      const mod = pidAt.bits === 15 ? 0x8000 : 0x80;
      const pid = (pidIn + sink.pidOffset) % mod;
      writeVp8PictureId(packet, pidAt, pid);
      sink.lastPid = pid;
    }
  }

  #ffmpegError(headline: string): Error {
    const tail = this.#stderr.trim().split('\n').slice(-6).join('\n');
    if (/No such file or directory|Cannot open|Could not find|No such device|No such process|cannot open audio device|Input\/output error|Inappropriate ioctl|Unknown PCM|Connection refused/i.test(tail) && this.#isDeviceSource()) {
      return peerError('CHZ_ERR_DEVICE_MISSING', `${headline}:\n${tail}`);
    }
    return peerError('CHZ_ERR_FFMPEG_FAILED', tail ? `${headline}:\n${tail}` : headline);
  }

  #isDeviceSource(): boolean {
    const args = this.#proc?.spawnargs.join(' ') ?? '';
    return / -f (v4l2|pulse|alsa) /.test(args);
  }

  /** Kills ffmpeg (SIGTERM, then SIGKILL after 2 s) and closes the socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#clock?.stop();
    this.#pump?.stop();
    this.#stopPump?.();
    for (const s of this.#sinks) s.pacer?.stop();
    this.#sinks.clear();
    this.#fanout?.destroy();
    for (const slot of this.#slots) {
      if (slot.pendingTimer) clearTimeout(slot.pendingTimer);
      if (slot.replaceTimer) clearTimeout(slot.replaceTimer);
    }
    await Promise.all(this.#encoders.map((e) => e.close()));
    if (this.#inputDir) rmSync(this.#inputDir, { recursive: true, force: true });
    if (this.#fanout) this.#proc?.stdout?.destroy();
    if (this.#proc && this.#proc.exitCode === null && this.#proc.signalCode === null && this.#proc.pid !== undefined) {
      const proc = this.#proc;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await this.#exited;
      clearTimeout(t);
    }
    // An on-demand ladder's sockets are its encoders' (closed with them).
    await Promise.all((this.#fanout ? [] : [...this.#streams.values()]).map((r) => new Promise<void>((resolve) => {
      try { r.socket.close(() => resolve()); } catch { resolve(); }
    })));
  }
}

/**
 * Where the encoders' input sockets go: the temporary directory, unless its path is too long
 * for a Unix socket's (108 bytes with its end, cut short without an error by Node and ffmpeg
 * alike; ours add 22 for the directory and up to 13 for the socket's name), then /tmp.
 */
function inputDirBase(): string {
  const base = os.tmpdir();
  return Buffer.byteLength(base) <= 107 - 22 - 13 ? base : '/tmp';
}

/** A server listening on the Unix socket at `file`, for one encoder's input. */
function listenUnix(file: string): Promise<net.Server> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      // An accept that failed (out of descriptors, say): ffmpeg never connects, and the encoder
      // not ready in time reports it.
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/** A UDP socket on loopback for one ffmpeg RTP output. */
export async function loopbackSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => { /* reported through the instance once it exists */ });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve(); });
  });
  // A larger receive buffer keeps bursts of a big keyframe from being dropped.
  try { socket.setRecvBufferSize(1 << 20); } catch { /* not fatal */ }
  return socket;
}
