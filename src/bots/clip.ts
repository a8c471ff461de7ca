/**
 * The bots' pre-encoded clip: a few seconds of VP8 test pattern and Opus tone, encoded once by
 * ffmpeg into a cache directory and then replayed by every media bot, so a thousand bots cost
 * no encoder at all. The clip is kept as RTP payloads ready to send: VP8 frames cut into
 * RTP packets with the RFC 7741 payload descriptor, Opus packets as they are (RFC 7587).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lowerChild, resolveFfmpeg } from '../peer/index.js';
import { botError } from './errors.js';

/** How the clip is encoded. */
export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  /** Target video bitrate, kbit/s (libvpx CBR). */
  videoKbps: number;
  audioKbps: number;
  /** Clip length, seconds (it loops). */
  seconds: number;
  /** Seconds between keyframes. */
  keyframeIntervalS: number;
  /**
   * Also encode the lower rungs of {@link clipLadder} (same source, keyframes at the same
   * times) and let each call pick its rung from its bandwidth estimate; default true
   * (`bots --no-adapt` turns it off: every call replays the top rung, as before the ladder).
   */
  adapt?: boolean;
}

/** The default clip: small enough for 50 bot pairs on two cores, big enough to look like video. */
export const DEFAULT_CLIP: ClipSpec = { width: 320, height: 240, fps: 15, videoKbps: 300, audioKbps: 32, seconds: 10, keyframeIntervalS: 2 };

/**
 * The rungs of a clip's ladder, best first: the clip itself (so the top rung is the clip the
 * bots replayed before the ladder), three quarters of its size at half the bitrate, half its
 * size at a fifth, and a keep-alive of 3 frames a second at half the size, so a partner behind
 * a starved uplink still sees the bot move. Every rung has keyframes at the same clip times
 * (every `keyframeIntervalS`), which is what lets a player switch at a keyframe without a jump (a
 * step down jumps ahead to the lower rung's next keyframe: src/bots/clip-player.ts).
 */
export function clipLadder(spec: ClipSpec): ClipSpec[] {
  const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
  const half = { width: even(spec.width / 2), height: even(spec.height / 2) };
  const rungs: ClipSpec[] = [
    spec,
    { ...spec, width: even(spec.width * 0.75), height: even(spec.height * 0.75), videoKbps: Math.round(spec.videoKbps * 0.5) },
    { ...spec, ...half, videoKbps: Math.round(spec.videoKbps * 0.2) },
    { ...spec, ...half, fps: Math.min(3, spec.fps), videoKbps: Math.max(20, Math.round(spec.videoKbps * 0.08)) },
  ];
  // Keyframes at the same times need a whole number of frames between them at every rate.
  return rungs.filter((r, i) => (i === 0 || r.videoKbps < rungs[i - 1]!.videoKbps) && Number.isInteger(r.keyframeIntervalS * r.fps));
}

/** One video frame as RTP payloads. */
interface ClipFrame {
  /** Presentation time from the clip start, ms. */
  timeMs: number;
  key: boolean;
  /** RTP payloads (VP8 payload descriptor + data); the last one carries the marker bit. */
  payloads: Buffer[];
  /** Encoded size without descriptors, bytes. */
  bytes: number;
}

/** One Opus packet. */
interface ClipAudioPacket {
  durationMs: number;
  payload: Buffer;
}

/** A clip ready to replay. */
export interface Clip {
  spec: ClipSpec;
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  video: ClipFrame[];
  audio: ClipAudioPacket[];
  /** Indices of keyframes in `video`. */
  keyframes: number[];
  /** Measured bitrates of the encoded streams, kbit/s (payload only). */
  videoKbps: number;
  audioKbps: number;
  /** Where the encoded files are. */
  files: { video: string; audio: string };
  /**
   * The ladder, best first: `ladder[0]` is this clip; the lower rungs share its audio. Only the
   * clip itself when the spec says `adapt: false` (or the rungs could not be read).
   */
  ladder: ClipRung[];
}

/** One rung of a clip's ladder: its video (the audio is the clip's). */
export interface ClipRung {
  spec: ClipSpec;
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  video: ClipFrame[];
  keyframes: number[];
  videoKbps: number;
}

/** Largest RTP payload we send (the headless peer uses 1100-byte packets too). */
export const MAX_RTP_PAYLOAD = 1100;

/** The cache directory: CHATZYO_CACHE_DIR, else $XDG_CACHE_HOME/chatzyo or ~/.cache/chatzyo, else the temp dir. */
function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.CHATZYO_CACHE_DIR,
    env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'chatzyo') : undefined,
    os.homedir() ? path.join(os.homedir(), '.cache', 'chatzyo') : undefined,
    path.join(os.tmpdir(), 'chatzyo-cache'),
  ].filter((d): d is string => !!d);
  for (const dir of candidates) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      // not writable: try the next one
    }
  }
  return os.tmpdir();
}

/** File names of a clip in the cache (they change with the spec, so an old clip is never reused). */
function clipFiles(spec: ClipSpec, dir: string): { video: string; audio: string } {
  const base = `bot-clip-v2-${spec.width}x${spec.height}-${spec.fps}fps-${spec.videoKbps}k-${spec.audioKbps}k-${spec.seconds}s-k${spec.keyframeIntervalS}`;
  return { video: path.join(dir, `${base}.ivf`), audio: path.join(dir, `${base}.ogg`) };
}

function run(ffmpeg: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    lowerChild(p.pid);
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}: ${err.trim()}`))));
  });
}

/** The ffmpeg arguments that encode the clip's video to IVF. */
function clipVideoArgs(spec: ClipSpec, out: string, caption: boolean): string[] {
  const gop = Math.max(1, Math.round(spec.keyframeIntervalS * spec.fps));
  const size = Math.max(10, Math.round(spec.height / 14));
  const filter = caption
    ? `drawtext=text='chatzyo bot %{n}':x=8:y=8:fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.6,format=yuv420p`
    : 'format=yuv420p';
  const rate = `${spec.videoKbps}k`;
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`, '-t', String(spec.seconds),
    '-vf', filter,
    // CBR, no alt-ref or lag (a live encoder's stream), error resilient like the headless peer's.
    '-c:v', 'libvpx', '-deadline', 'good', '-cpu-used', '4', '-b:v', rate, '-minrate', rate, '-maxrate', rate, '-bufsize', rate,
    '-g', String(gop), '-keyint_min', String(gop), '-auto-alt-ref', '0', '-lag-in-frames', '0', '-error-resilient', '1',
    '-f', 'ivf', out,
  ];
}

/** The ffmpeg arguments that encode the clip's audio to Ogg Opus (20 ms packets). */
function clipAudioArgs(spec: ClipSpec, out: string): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(spec.seconds),
    // Constrained VBR, as the CLI's (src/peer/ffmpeg.ts): unconstrained, the tone took 1.6 times its target.
    '-ac', '2', '-c:a', 'libopus', '-application', 'voip', '-frame_duration', '20', '-b:a', `${spec.audioKbps}k`, '-vbr', 'constrained',
    '-f', 'ogg', out,
  ];
}

/**
 * Makes the clip's files in the cache unless they are there already. Several processes may
 * race: each writes its own temporary files and renames them into place (rename is atomic).
 */
export async function ensureClipFiles(spec: ClipSpec = DEFAULT_CLIP, opts: { dir?: string; ffmpegPath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ video: string; audio: string }> {
  const dir = opts.dir ?? cacheDir(opts.env);
  const files = await ensureOneClip(spec, dir, opts, true);
  // The lower rungs' video sits next to the clip's (their own cache keys); readClip finds it there.
  if (spec.adapt !== false) for (const r of clipLadder(spec).slice(1)) await ensureOneClip(r, dir, opts, false);
  return files;
}

/** Makes one rung's files (video, and the audio for the top rung) unless they are cached. */
async function ensureOneClip(spec: ClipSpec, dir: string, opts: { ffmpegPath?: string; env?: NodeJS.ProcessEnv }, withAudio: boolean): Promise<{ video: string; audio: string }> {
  const files = clipFiles(spec, dir);
  if (existsSync(files.video) && (!withAudio || existsSync(files.audio))) return files;
  let ffmpeg: string;
  try {
    ffmpeg = resolveFfmpeg({ explicit: opts.ffmpegPath, env: opts.env }).path;
  } catch (err) {
    throw botError('CHZ_ERR_BOT_CLIP', `The bot clip is not in ${dir} and ffmpeg is needed once to make it: ${(err as Error).message}`, err);
  }
  const tag = `.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`;
  const tmp = { video: `${files.video}${tag}`, audio: `${files.audio}${tag}` };
  try {
    await run(ffmpeg, clipVideoArgs(spec, tmp.video, true)).catch(async (err: Error) => {
      // drawtext needs a font; a build without fontconfig still makes a clip, without the caption.
      if (!/drawtext|font/i.test(err.message)) throw err;
      await run(ffmpeg, clipVideoArgs(spec, tmp.video, false));
    });
    if (withAudio) await run(ffmpeg, clipAudioArgs(spec, tmp.audio));
    renameSync(tmp.video, files.video);
    if (withAudio) renameSync(tmp.audio, files.audio);
  } catch (err) {
    throw botError('CHZ_ERR_BOT_CLIP', `Could not encode the bot clip with ${ffmpeg}: ${(err as Error).message}`, err);
  } finally {
    rmSync(tmp.video, { force: true });
    rmSync(tmp.audio, { force: true });
  }
  return files;
}

/** An IVF frame (the container libvpx writes: a 32-byte header, then 12-byte frame headers). */
interface IvfFrame { timeMs: number; data: Buffer }

/** Parses an IVF file (VP8). */
function parseIvf(buf: Buffer): { width: number; height: number; fourcc: string; frames: IvfFrame[] } {
  if (buf.length < 32 || buf.toString('latin1', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const headerSize = buf.readUInt16LE(6);
  const fourcc = buf.toString('latin1', 8, 12);
  const width = buf.readUInt16LE(12);
  const height = buf.readUInt16LE(14);
  const rate = buf.readUInt32LE(16);
  const scale = buf.readUInt32LE(20) || 1;
  const frames: IvfFrame[] = [];
  for (let off = headerSize; off + 12 <= buf.length;) {
    const size = buf.readUInt32LE(off);
    const pts = Number(buf.readBigUInt64LE(off + 4));
    if (off + 12 + size > buf.length) break; // a truncated last frame
    frames.push({ timeMs: (pts * 1000 * scale) / rate, data: buf.subarray(off + 12, off + 12 + size) });
    off += 12 + size;
  }
  return { width, height, fourcc, frames };
}

/** A VP8 frame is a keyframe when bit 0 of its first byte (the P bit of the frame tag) is 0 (RFC 6386 section 9.1). */
function isVp8Keyframe(frame: Uint8Array): boolean {
  return frame.length > 0 && (frame[0]! & 0x01) === 0;
}

/**
 * Cuts a VP8 frame into RTP payloads (RFC 7741 section 4): a one-byte payload descriptor
 * (S=1, PID=0 on the first packet), the frame split into near-equal parts of at most
 * `max` bytes, so the last packet is not a tiny one.
 */
export function packetizeVp8(frame: Buffer, max = MAX_RTP_PAYLOAD): Buffer[] {
  const room = max - 1;
  const n = Math.max(1, Math.ceil(frame.length / room));
  const part = Math.ceil(frame.length / n);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const chunk = frame.subarray(i * part, Math.min(frame.length, (i + 1) * part));
    out.push(Buffer.concat([Buffer.from([i === 0 ? 0x10 : 0x00]), chunk]));
  }
  return out;
}

/** Parses the packets of an Ogg stream (RFC 3533): segments joined by the lacing values. */
function parseOggPackets(buf: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let pending: Buffer[] = [];
  for (let off = 0; off + 27 <= buf.length;) {
    if (buf.toString('latin1', off, off + 4) !== 'OggS') throw new Error(`not an Ogg page at byte ${off}`);
    const nsegs = buf[off + 26]!;
    const table = buf.subarray(off + 27, off + 27 + nsegs);
    let data = off + 27 + nsegs;
    for (const lacing of table) {
      pending.push(buf.subarray(data, data + lacing));
      data += lacing;
      if (lacing < 255) {
        packets.push(Buffer.concat(pending));
        pending = [];
      }
    }
    off = data;
  }
  return packets;
}

/** The duration of an Opus packet from its TOC byte (RFC 6716 section 3.1), ms. */
export function opusPacketMs(p: Uint8Array): number {
  if (p.length < 1) return 0;
  const config = p[0]! >> 3;
  const frameMs = config < 12 ? [10, 20, 40, 60][config % 4]! : config < 16 ? [10, 20][config % 2]! : [2.5, 5, 10, 20][config % 4]!;
  const c = p[0]! & 0x03;
  const frames = c === 0 ? 1 : c === 3 ? (p.length > 1 ? p[1]! & 0x3f : 0) : 2;
  return frameMs * frames;
}

/** Reads one rung's IVF file into RTP payloads. */
function readRung(file: string, spec: ClipSpec): ClipRung {
  let ivf: ReturnType<typeof parseIvf>;
  try {
    ivf = parseIvf(readFileSync(file));
  } catch (err) {
    throw botError('CHZ_ERR_BOT_CLIP', `Cannot read the bot clip (${file}): ${(err as Error).message}; delete it to have it made again.`, err);
  }
  if (ivf.fourcc !== 'VP80' || ivf.frames.length === 0) throw botError('CHZ_ERR_BOT_CLIP', `${file} is not a VP8 clip.`);
  const video: ClipFrame[] = ivf.frames.map((f) => ({ timeMs: f.timeMs, key: isVp8Keyframe(f.data), payloads: packetizeVp8(f.data), bytes: f.data.length }));
  if (!video[0]!.key) throw botError('CHZ_ERR_BOT_CLIP', `${file} does not start with a keyframe.`);
  const durationMs = (video.length * 1000) / spec.fps;
  const videoBytes = video.reduce((n, f) => n + f.bytes, 0);
  return {
    spec,
    width: ivf.width,
    height: ivf.height,
    fps: spec.fps,
    durationMs,
    video,
    keyframes: video.flatMap((f, i) => (f.key ? [i] : [])),
    videoKbps: Math.round((videoBytes * 8) / durationMs),
  };
}

/**
 * Reads the clip's files into RTP payloads, and its ladder's lower rungs from the same
 * directory unless the spec says `adapt: false`. A rung is kept only when it lasts as long as
 * the clip and has its keyframes at the same times (so a switch lands where the clip is).
 */
export function readClip(files: { video: string; audio: string }, spec: ClipSpec = DEFAULT_CLIP): Clip {
  const top = readRung(files.video, spec);
  let ogg: Buffer[];
  try {
    ogg = parseOggPackets(readFileSync(files.audio));
  } catch (err) {
    throw botError('CHZ_ERR_BOT_CLIP', `Cannot read the bot clip (${files.audio}): ${(err as Error).message}; delete it to have it made again.`, err);
  }
  const audio: ClipAudioPacket[] = ogg
    .filter((p) => !(p.length >= 8 && (p.toString('latin1', 0, 8) === 'OpusHead' || p.toString('latin1', 0, 8) === 'OpusTags')))
    .filter((p) => p.length > 0)
    .map((p) => ({ durationMs: opusPacketMs(p), payload: p }));
  const audioMs = audio.reduce((n, a) => n + a.durationMs, 0);
  const audioBytes = audio.reduce((n, a) => n + a.payload.length, 0);
  const ladder: ClipRung[] = [top];
  if (spec.adapt !== false) {
    const dir = path.dirname(files.video);
    const keyTimes = (r: ClipRung) => r.keyframes.map((k) => Math.round((k * 1000) / r.fps)).join(',');
    for (const rs of clipLadder(spec).slice(1)) {
      const file = clipFiles(rs, dir).video;
      if (!existsSync(file)) break; // made by an older version without the ladder: replay the top rung only
      const r = readRung(file, rs);
      if (Math.abs(r.durationMs - top.durationMs) > 1 || keyTimes(r) !== keyTimes(top)) break;
      ladder.push(r);
    }
  }
  return {
    ...top,
    audio,
    audioKbps: audioMs > 0 ? Math.round((audioBytes * 8) / audioMs) : 0,
    files,
    ladder,
  };
}

/** Makes the clip if needed and reads it. */
export async function loadClip(spec: ClipSpec = DEFAULT_CLIP, opts: { dir?: string; ffmpegPath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Clip> {
  return readClip(await ensureClipFiles(spec, opts), spec);
}
