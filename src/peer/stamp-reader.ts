/**
 * The viewer side of call-quality measurement: the partner's video RTP goes to an ffmpeg child
 * (RTP over loopback UDP, described by an SDP file) that decodes it like a receiver would and
 * writes each decoded frame, shrunk to 160x120 grey, to its stdout. Each frame's stamp
 * (src/quality/stamp.ts) is read when the frame comes out of the decoder: a readable stamp is
 * a rendered frame, and its send time against our clock is the glass-to-glass latency (the
 * sender runs on the same machine, so there is one clock). ffmpeg's RTP demuxer is the jitter
 * buffer: it reorders and waits up to 200 ms for a missing packet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MediaStreamTrack, RtpPacket } from 'werift';
import { readStamp, unwrapStampTime } from '../quality/stamp.js';
import { ViewerStats, type ViewerSummary } from '../quality/viewer-stats.js';
import type { Call } from './call.js';
import { lowerChild } from './thread-priority.js';

const OUT_W = 160;
const OUT_H = 120;

/** Options of {@link StampReader.start}. */
export interface StampReaderOptions {
  ffmpegPath: string;
  codec: 'vp8' | 'h264';
  /** RTP payload type of the partner's video. */
  payloadType: number;
  /** Called for each decoded frame (stamp null: unreadable, e.g. smeared after loss). */
  onFrame?: (f: { renderedAt: number; seq: number | null; latencyMs: number | null }) => void;
}

/** What a {@link StampReader} saw. */
export interface StampReaderSummary extends ViewerSummary {
  /** Frames out of the decoder whose stamp did not read (damaged pictures). */
  unreadable: number;
}

async function freeUdpPortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const a = dgram.createSocket('udp4');
    const port = await new Promise<number>((r) => a.bind(0, '127.0.0.1', () => r(a.address().port)));
    if (port % 2 === 1 || port > 65530) { a.close(); continue; }
    const b = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((r) => { b.once('error', () => r(false)); b.bind(port + 1, '127.0.0.1', () => r(true)); });
    a.close();
    b.close();
    if (ok) return port;
  }
  throw new Error('no free even/odd UDP port pair on loopback for the stamp reader');
}

/** Decodes one received video stream and reads its stamps. */
export class StampReader {
  readonly stats = new ViewerStats();
  unreadable = 0;
  readonly #proc: ChildProcess;
  readonly #socket: dgram.Socket;
  readonly #port: number;
  readonly #dir: string;
  readonly #exited: Promise<void>;
  #pending: Buffer = Buffer.alloc(0);
  #closed = false;

  private constructor(proc: ChildProcess, socket: dgram.Socket, port: number, dir: string, opts: StampReaderOptions) {
    this.#proc = proc;
    this.#socket = socket;
    this.#port = port;
    this.#dir = dir;
    this.#exited = new Promise((r) => proc.once('exit', () => r()));
    proc.on('error', () => { /* reported as no frames */ });
    proc.stderr?.resume();
    proc.stdout!.on('data', (d: Buffer) => this.#onData(d, opts));
  }

  /** Starts the decoder. */
  static async start(opts: StampReaderOptions): Promise<StampReader> {
    const port = await freeUdpPortPair();
    const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-stamps-'));
    const sdpPath = path.join(dir, 'in.sdp');
    const rtpmap = opts.codec === 'vp8' ? 'VP8/90000' : 'H264/90000';
    const fmtp = opts.codec === 'h264' ? `a=fmtp:${opts.payloadType} packetization-mode=1\n` : '';
    writeFileSync(sdpPath, `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=stamps\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${port} RTP/AVP ${opts.payloadType}\na=rtpmap:${opts.payloadType} ${rtpmap}\n${fmtp}`);
    const proc = spawn(opts.ffmpegPath, [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-protocol_whitelist', 'file,udp,rtp', '-fflags', 'nobuffer', '-flags', 'low_delay',
      '-reorder_queue_size', '100', '-max_delay', '200000', '-analyzeduration', '0', '-probesize', '32',
      '-i', sdpPath,
      '-an', '-vf', `scale=${OUT_W}:${OUT_H}:flags=area`, '-pix_fmt', 'gray', '-fps_mode', 'passthrough', '-f', 'rawvideo', 'pipe:1',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    lowerChild(proc.pid);
    const socket = dgram.createSocket('udp4');
    socket.on('error', () => { /* the decoder went away */ });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return new StampReader(proc, socket, port, dir, opts);
  }

  /** One received RTP packet of the partner's video. */
  push(packet: Buffer): void {
    if (this.#closed) return;
    this.#socket.send(packet, this.#port, '127.0.0.1');
  }

  #onData(d: Buffer, opts: StampReaderOptions): void {
    const renderedAt = Date.now();
    this.#pending = this.#pending.length === 0 ? d : Buffer.concat([this.#pending, d]);
    const size = OUT_W * OUT_H;
    while (this.#pending.length >= size) {
      const frame = this.#pending.subarray(0, size);
      this.#pending = this.#pending.subarray(size);
      const stamp = readStamp(frame, OUT_W, OUT_H);
      if (!stamp) {
        this.unreadable++;
        opts.onFrame?.({ renderedAt, seq: null, latencyMs: null });
        continue;
      }
      const sentAt = unwrapStampTime(stamp.timeLow, renderedAt);
      this.stats.add({ seq: stamp.seq, sentAt, renderedAt });
      opts.onFrame?.({ renderedAt, seq: stamp.seq, latencyMs: renderedAt - sentAt });
    }
  }

  /** The numbers so far. */
  summary(): StampReaderSummary {
    return { ...this.stats.summary(), unreadable: this.unreadable };
  }

  /** Stops ffmpeg and frees the socket and the SDP file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#proc.exitCode === null && this.#proc.signalCode === null && this.#proc.pid !== undefined) {
      this.#proc.kill('SIGTERM');
      const t = setTimeout(() => this.#proc.kill('SIGKILL'), 2000);
      await this.#exited;
      clearTimeout(t);
    }
    await new Promise<void>((r) => { try { this.#socket.close(() => r()); } catch { r(); } });
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * Reads the stamps of a call's incoming video: the reader starts on the first video packet
 * (its payload type says the codec). Resolves to the reader once it started; `close()` it.
 */
export function watchCallVideo(call: Call, ffmpegPath: string, onFrame?: StampReaderOptions['onFrame']): { reader: () => StampReader | null; close: () => Promise<void> } {
  let reader: StampReader | null = null;
  let starting: Promise<StampReader> | null = null;
  let closed = false;
  const early: Buffer[] = [];
  const subs: (() => void)[] = [];
  // Its decoder may start mid-stream, after the call's first keyframe went by (a CLI sender makes
  // keyframes only on request): when no frame has decoded 500 ms after it started, ask for one,
  // as a browser's decoder does, and again until a frame decodes, twice as long apart each time
  // up to 4 s. (Not at once: the early packets it was handed usually start with the keyframe,
  // and an extra keyframe at the start of every lab call would be part of what is measured.)
  let decoded = false;
  let pliTimer: NodeJS.Timeout | null = null;
  const askForKeyframe = (waitMs: number) => {
    pliTimer = null;
    if (closed || decoded) return;
    call.requestKeyframe();
    pliTimer = setTimeout(() => askForKeyframe(Math.min(4000, waitMs * 2)), waitMs);
  };
  const seeFrame: NonNullable<StampReaderOptions['onFrame']> = (f) => {
    decoded = true;
    onFrame?.(f);
  };
  const attach = (track: MediaStreamTrack) => {
    const transceiver = call.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
    subs.push(track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      if (closed) return;
      const bytes = rtp.serialize();
      if (reader) { reader.push(bytes); return; }
      if (early.length < 500) early.push(bytes);
      if (starting) return;
      const name = transceiver?.codecs.find((c) => c.payloadType === rtp.header.payloadType)?.name.toLowerCase() ?? 'vp8';
      starting = StampReader.start({ ffmpegPath, codec: name === 'h264' ? 'h264' : 'vp8', payloadType: rtp.header.payloadType, onFrame: seeFrame });
      void starting.then((r) => {
        if (closed) { void r.close(); return; }
        reader = r;
        for (const b of early.splice(0)) r.push(b);
        pliTimer = setTimeout(() => askForKeyframe(500), 500);
      }, () => { /* no frames: the watcher's numbers say so */ });
    }).unSubscribe);
  };
  const seen = new Set<MediaStreamTrack>();
  const scan = () => {
    for (const t of call.pc.getTransceivers()) {
      if (t.kind !== 'video') continue;
      for (const track of t.receiver.tracks) if (!seen.has(track)) { seen.add(track); attach(track); }
    }
  };
  scan();
  subs.push(call.pc.onTrack.subscribe(() => scan()).unSubscribe);
  return {
    reader: () => reader,
    close: async () => {
      closed = true;
      if (pliTimer) clearTimeout(pliTimer);
      for (const s of subs.splice(0)) s();
      const r = reader ?? (starting ? await starting.catch(() => null) : null);
      await r?.close();
    },
  };
}
