/**
 * One encoder per media source: an ffmpeg child writes RTP to a loopback UDP socket, and a
 * fan-out forwards each packet to the tracks attached now (the current partner's). Next
 * swaps the attached track without restarting the encoder. A newly attached video track
 * first gets the last keyframe again, then live packets from the next keyframe on, so the
 * partner's decoder starts on a keyframe at once (no waiting out a whole GOP).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import type { MediaStreamTrack } from 'werift';
import { TypedEmitter } from '../protocol/client/index.js';
import { peerError } from './errors.js';
import { audioArgs, rtpOutputUrl, videoArgs, type AudioSourceSpec, type VideoEncodeOptions, type VideoSourceSpec } from './ffmpeg.js';
import { parseRtp, payloadKind, setRtpSequence, type VideoCodec } from './rtp-frames.js';
import { pumpStampedFrames } from './stamped-frames.js';

/** How a media source is made. */
export type MediaSourceSpec =
  | { kind: 'video'; source: VideoSourceSpec; encode: VideoEncodeOptions }
  | { kind: 'audio'; source: AudioSourceSpec; bitrateKbps?: number };

/** Options of {@link MediaSource.start}. */
export interface MediaSourceOptions {
  ffmpegPath: string;
  /** How long to wait for ffmpeg's first RTP packet. */
  startTimeoutMs?: number;
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
}

interface SinkState extends MediaSink {
  seq: number;
  live: boolean;
}

/** A running ffmpeg encoder and its fan-out. */
export class MediaSource extends TypedEmitter<MediaSourceEvents> {
  readonly kind: 'video' | 'audio';
  readonly codec: VideoCodec | 'opus';
  /** Packets received from ffmpeg. */
  packetsIn = 0;
  /** Keyframes received from ffmpeg. */
  keyframesIn = 0;
  /** Frames received from ffmpeg (packets with the marker bit; audio: packets). */
  framesIn = 0;
  readonly #socket: dgram.Socket;
  readonly #proc: ChildProcess;
  readonly #sinks = new Set<SinkState>();
  #stderr = '';
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Packets of the last complete keyframe (video). */
  #keyframe: Buffer[] = [];
  /** Packets of the frame being received (video). */
  #current: Buffer[] = [];
  #currentTs = -1;
  #currentKey = false;
  readonly #exited: Promise<void>;

  private constructor(spec: MediaSourceSpec, socket: dgram.Socket, proc: ChildProcess) {
    super();
    this.kind = spec.kind;
    this.codec = spec.kind === 'video' ? spec.encode.codec : 'opus';
    this.#socket = socket;
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('error', () => { /* spawn failures are reported by start() */ });
    proc.stderr?.on('data', (d: Buffer) => { this.#stderr = (this.#stderr + d.toString()).slice(-4000); });
    socket.on('message', (msg) => this.#onPacket(msg));
    socket.on('error', (err) => this.emit('error', err));
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
    const socket = dgram.createSocket('udp4');
    socket.on('error', () => { /* reported through the instance once it exists */ });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve(); });
    });
    // A larger receive buffer keeps bursts of a big keyframe from being dropped.
    try { socket.setRecvBufferSize(1 << 20); } catch { /* not fatal */ }
    const url = rtpOutputUrl(socket.address().port);
    const args = spec.kind === 'video' ? videoArgs(spec.source, spec.encode, url) : audioArgs(spec.source, url, spec.bitrateKbps);
    let proc: ChildProcess;
    try {
      const stamped = spec.kind === 'video' && spec.source.type === 'stamped';
      proc = spawn(opts.ffmpegPath, args, { stdio: [stamped ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
      if (stamped) pumpStampedFrames(proc.stdin!, spec.encode);
    } catch (err) {
      socket.close();
      throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg could not be started from ${opts.ffmpegPath}: ${(err as Error).message}`, err);
    }
    const source = new MediaSource(spec, socket, proc);
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(source.#ffmpegError(`ffmpeg (${spec.kind}) sent no RTP within ${opts.startTimeoutMs ?? 10_000} ms`)), opts.startTimeoutMs ?? 10_000);
      socket.once('message', () => { clearTimeout(timer); resolve(); }); // RTP or RTCP: ffmpeg is encoding
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

  /** The ffmpeg process id (for tests and diagnostics). */
  get pid(): number | undefined { return this.#proc.pid; }

  /** True once ffmpeg has exited. */
  get exited(): boolean { return this.#proc.exitCode !== null || this.#proc.signalCode !== null; }

  /**
   * Starts forwarding to `track`. Video: the cached keyframe goes out first, then live packets
   * from the next keyframe. Sequence numbers are rewritten per track so they stay contiguous.
   */
  attach(track: MediaStreamTrack): MediaSink {
    const sink: SinkState = { track, seq: Math.floor(Math.random() * 0x10000), live: this.kind === 'audio', packetsSent: 0, framesSent: 0, bytesSent: 0 };
    this.#sinks.add(sink);
    if (this.kind === 'video') this.#replayKeyframe(sink);
    return sink;
  }

  /** Stops forwarding to a sink. */
  detach(sink: MediaSink): void {
    this.#sinks.delete(sink as SinkState);
  }

  /**
   * A partner asked for a keyframe (RTCP PLI, RFC 4585 section 6.3.1): send it the cached one
   * and hold deltas until the encoder's next keyframe. Ignored while already waiting for one.
   */
  requestKeyframe(sink: MediaSink): void {
    const s = sink as SinkState;
    if (this.kind !== 'video' || !this.#sinks.has(s) || !s.live) return;
    this.#replayKeyframe(s);
  }

  #replayKeyframe(sink: SinkState): void {
    sink.live = false;
    for (const p of this.#keyframe) this.#send(sink, p);
  }

  #onPacket(msg: Buffer): void {
    if (this.#closed) return;
    // RTCP sender reports share the port (payload types 200-204 sit at 72-76 after the marker bit).
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) return;
    const h = parseRtp(msg);
    if (!h) return;
    this.packetsIn++;
    if (this.kind === 'audio') {
      this.framesIn++;
      for (const s of this.#sinks) this.#send(s, msg);
      return;
    }
    const kind = payloadKind(this.codec as VideoCodec, msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength));
    if (h.timestamp !== this.#currentTs) {
      this.#current = [];
      this.#currentTs = h.timestamp;
      this.#currentKey = false;
    }
    const startsKeyframe = kind.keyframe && this.#current.length === 0;
    this.#current.push(msg);
    if (kind.keyframe) this.#currentKey = true;
    if (h.marker) {
      this.framesIn++;
      if (this.#currentKey) {
        this.keyframesIn++;
        this.#keyframe = this.#current;
      }
    }
    for (const s of this.#sinks) {
      if (!s.live && startsKeyframe) s.live = true;
      if (s.live) this.#send(s, msg);
    }
  }

  #send(sink: SinkState, packet: Buffer): void {
    const copy = Buffer.from(packet);
    setRtpSequence(copy, sink.seq);
    sink.seq = (sink.seq + 1) & 0xffff;
    sink.packetsSent++;
    sink.bytesSent += copy.length;
    if (copy[1]! & 0x80) sink.framesSent++;
    try {
      sink.track.writeRtp(copy);
    } catch {
      // The track was stopped between Next and detach: nothing to deliver to.
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
    const args = this.#proc.spawnargs.join(' ');
    return / -f (v4l2|pulse|alsa) /.test(args);
  }

  /** Kills ffmpeg (SIGTERM, then SIGKILL after 2 s) and closes the socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#sinks.clear();
    if (this.#proc.exitCode === null && this.#proc.signalCode === null && this.#proc.pid !== undefined) {
      this.#proc.kill('SIGTERM');
      const t = setTimeout(() => this.#proc.kill('SIGKILL'), 2000);
      await this.#exited;
      clearTimeout(t);
    }
    await new Promise<void>((resolve) => {
      try { this.#socket.close(() => resolve()); } catch { resolve(); }
    });
  }
}
