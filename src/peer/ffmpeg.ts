/**
 * Finding ffmpeg and building its command lines. Order of resolution: an explicit path
 * (`--ffmpeg`), `CHATZYO_FFMPEG`, the binary of the optional `ffmpeg-static` package, then
 * `ffmpeg` on PATH. An explicit path that does not exist is an error (no silent fallback).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { peerError } from './errors.js';
import type { VideoCodec } from './rtp-frames.js';

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where ffmpeg was found. */
export interface FfmpegLocation {
  path: string;
  from: 'flag' | 'env' | 'ffmpeg-static' | 'PATH';
}

/**
 * Resolves the ffmpeg binary. Throws `CHZ_ERR_FFMPEG_MISSING` naming what was tried.
 * `env` and `loadStatic` are injectable for tests.
 */
export function resolveFfmpeg(opts: {
  explicit?: string;
  env?: NodeJS.ProcessEnv;
  loadStatic?: () => string | null;
} = {}): FfmpegLocation {
  const env = opts.env ?? process.env;
  if (opts.explicit) {
    if (isExecutable(opts.explicit)) return { path: opts.explicit, from: 'flag' };
    throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg not found at --ffmpeg ${opts.explicit}: no executable file there.`);
  }
  const fromEnv = env.CHATZYO_FFMPEG;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return { path: fromEnv, from: 'env' };
    throw peerError('CHZ_ERR_FFMPEG_MISSING', `ffmpeg not found at CHATZYO_FFMPEG=${fromEnv}: no executable file there.`);
  }
  const stat = (opts.loadStatic ?? loadFfmpegStatic)();
  if (stat && isExecutable(stat)) return { path: stat, from: 'ffmpeg-static' };
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg');
    if (isExecutable(candidate)) return { path: candidate, from: 'PATH' };
  }
  throw peerError('CHZ_ERR_FFMPEG_MISSING');
}

/** The path exported by the optional `ffmpeg-static` package, when it is installed. */
function loadFfmpegStatic(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const p = require('ffmpeg-static') as unknown;
    return typeof p === 'string' ? p : null;
  } catch {
    return null;
  }
}

/**
 * A video source: a synthetic pattern, a file (looped), a V4L2 camera, or frames stamped with
 * their sequence number and send time (src/quality/stamp.ts) that we write to ffmpeg's stdin,
 * so a receiver can measure freezes and glass-to-glass latency.
 */
export type VideoSourceSpec = { type: 'testsrc' } | { type: 'stamped' } | { type: 'file'; path: string } | { type: 'camera'; device: string };
/** An audio source: a sine tone, a file (looped) or a microphone (PulseAudio or ALSA). */
export type AudioSourceSpec = { type: 'sine' } | { type: 'file'; path: string } | { type: 'mic'; device: string; api: 'pulse' | 'alsa' };

/** Parses `--video` (testsrc, stamped, camera, camera:/dev/videoN, FILE). */
export function parseVideoSource(value: string): VideoSourceSpec {
  if (value === 'testsrc') return { type: 'testsrc' };
  if (value === 'stamped') return { type: 'stamped' };
  if (value === 'camera') return { type: 'camera', device: '/dev/video0' };
  if (value.startsWith('camera:')) return { type: 'camera', device: value.slice('camera:'.length) || '/dev/video0' };
  return { type: 'file', path: value };
}

/** Parses `--audio` (sine, mic, mic:DEVICE, alsa:DEVICE, FILE). */
export function parseAudioSource(value: string): AudioSourceSpec {
  if (value === 'sine') return { type: 'sine' };
  if (value === 'mic') return { type: 'mic', device: 'default', api: 'pulse' };
  if (value.startsWith('mic:')) return { type: 'mic', device: value.slice(4) || 'default', api: 'pulse' };
  if (value.startsWith('alsa:')) return { type: 'mic', device: value.slice(5) || 'default', api: 'alsa' };
  return { type: 'file', path: value };
}

/** Encoding settings of the video source. */
export interface VideoEncodeOptions {
  codec: VideoCodec;
  width: number;
  height: number;
  fps: number;
  /** Target bitrate, kbit/s. */
  bitrateKbps: number;
  /** Keyframe interval, seconds. */
  keyframeIntervalS: number;
}

/** Default video settings: small enough for two peers and a browser on two cores. */
export const DEFAULT_VIDEO: VideoEncodeOptions = { codec: 'vp8', width: 640, height: 480, fps: 15, bitrateKbps: 600, keyframeIntervalS: 1 };

/** Payload types ffmpeg stamps on its RTP; the peer rewrites them to the negotiated ones. */
export const FFMPEG_PAYLOAD_TYPE = { video: 96, audio: 111 } as const;

const RTP_PACKET_SIZE = 1100;

/**
 * The RTP output URL. `connect=1` makes ffmpeg exit on the first "connection refused" once our
 * socket is gone, so an encoder never outlives a peer that was killed (even with SIGKILL);
 * RTCP goes to the same port (we drop it) instead of a stranger's port+1.
 */
export function rtpOutputUrl(port: number): string {
  return `rtp://127.0.0.1:${port}?pkt_size=${RTP_PACKET_SIZE}&connect=1&rtcpport=${port}`;
}

/**
 * One rendition of a video ladder: each rung a call follows has an encoder of its own, fed the
 * one input's frames (src/peer/rung-encoders.ts), and the sender picks one per partner
 * (src/peer/ladder.ts).
 */
export interface VideoRung {
  width: number;
  height: number;
  fps: number;
  /** Target bitrate, kbit/s. */
  kbps: number;
}

/** The input arguments and the filter that turns the source into `enc`'s size and frame rate. */
function videoInput(src: VideoSourceSpec, enc: VideoEncodeOptions): { input: string[]; filter: string } {
  const { width: w, height: h, fps } = enc;
  const input: string[] = [];
  let filter = `scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,fps=${fps},format=yuv420p`;
  if (src.type === 'testsrc') {
    input.push('-re', '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${fps}`);
    // A running clock, so a viewer sees at a glance that the picture is live.
    const size = Math.max(10, Math.round(h / 16));
    filter = `drawtext=text='%{localtime} #%{n}':x=8:y=8:fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.6,format=yuv420p`;
  } else if (src.type === 'stamped') {
    // Raw frames at the encode size from our stdin, paced by the writer (src/peer/stamped-frames.ts).
    // No probing: ffmpeg would otherwise read frames ahead before encoding and keep that lag.
    input.push('-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${w}x${h}`, '-framerate', String(fps), '-i', 'pipe:0');
    filter = 'format=yuv420p';
  } else if (src.type === 'file') {
    input.push('-re', '-stream_loop', '-1', '-i', src.path);
  } else {
    input.push('-f', 'v4l2', '-framerate', String(fps), '-video_size', `${w}x${h}`, '-i', src.device);
  }
  return { input, filter };
}

/**
 * Encoder arguments for one output at `kbps` with a keyframe every `gop` frames, or, given
 * `forced` (an ffmpeg -force_key_frames expression), where it says, with `gop` only as the
 * longest distance (libvpx keeps a fixed interval counted from the first frame when its shortest
 * distance equals it, and would put its own keyframes among the forced ones).
 */
function encoderArgs(codec: VideoCodec, kbps: number, gop: number, forced?: string): string[] {
  const rate = `${kbps}k`;
  const force = forced ? ['-force_key_frames', forced] : [];
  return codec === 'vp8'
    // One thread per encoder: libvpx's worker threads, one per core by default, spin while they
    // wait for a frame paced in real time. The four rungs' encoders cost 4.1 s of CPU for 10 s
    // of video on an idle 2-core machine against 1.5 with one thread each, the same bitstream
    // (npm run bench:encoder); on a loaded one a whole core, and they fell behind real time
    // (12.1 s for 10 s). One thread encodes a 640x480 frame in about 3 ms.
    ? ['-c:v', 'libvpx', '-threads', '1', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0',
      '-error-resilient', '1', '-b:v', rate, '-maxrate', rate, '-bufsize', rate, '-g', String(gop), ...(forced ? force : ['-keyint_min', String(gop)]),
      // A keyframe at most three frames' worth (libwebrtc caps it the same way): uncapped they
      // were 2-3 times that, a burst that queues at a narrow uplink and is more likely to lose a
      // packet to wait for.
      '-max-intra-rate', '300']
    // Constrained baseline (profile-level-id 42e01f), in-band SPS/PPS before every IDR,
    // FU-A fragmentation (packetization-mode 1), no B-frames.
    : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-level', '3.1',
      '-x264-params', `repeat-headers=1:keyint=${gop}:min-keyint=${gop}:scenecut=0`, '-b:v', rate, '-maxrate', rate, '-bufsize', rate, '-bf', '0', ...force];
}

const RTP_OUT = (url: string) => ['-f', 'rtp', '-payload_type', String(FFMPEG_PAYLOAD_TYPE.video), url];

/** The ffmpeg arguments that encode a video source to RTP at `rtpUrl` (see {@link rtpOutputUrl}). */
export function videoArgs(src: VideoSourceSpec, enc: VideoEncodeOptions, rtpUrl: string): string[] {
  const { input, filter } = videoInput(src, enc);
  const gop = Math.max(1, Math.round(enc.keyframeIntervalS * enc.fps));
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...input,
    '-an', '-vf', filter,
    ...encoderArgs(enc.codec, enc.bitrateKbps, gop),
    ...RTP_OUT(rtpUrl),
  ];
}

/**
 * How many encoders each rung below the best one ran in the phased ladder ({@link ladderArgs}),
 * their keyframes a second apart: one of them had a keyframe every second for a sender to switch
 * to. Measured behind a 300 kbit/s uplink with one fixed 320x240 rendition to a Chromium viewer
 * (bench:quality low-upload, median of 2): a keyframe every second, glass-to-glass p50/p95
 * 193/303 ms; every 4 s, 162/205 ms (each keyframe queues the frames behind it). The CLI now
 * makes keyframes on demand instead (src/peer/rung-encoders.ts).
 */
export const KEYFRAME_PHASES = 3;

/** One encoder of a ladder: of rung `rung`, its keyframes at phase `phase` of `phases` seconds. */
export interface LadderStream { rung: number; phase: number; phases: number }

/** The encoders of a ladder, rung by rung (the best rung one, each other rung `phases`). */
export function ladderStreams(rungs: readonly VideoRung[], phases = KEYFRAME_PHASES): LadderStream[] {
  return rungs.flatMap((_, rung) => {
    const n = rung === 0 ? 1 : Math.max(1, Math.round(phases));
    return Array.from({ length: n }, (_, phase) => ({ rung, phase, phases: n }));
  });
}

/**
 * The phased ladder that `chatzyo connect` ran before its keyframes came on demand, kept as
 * bench:encoder's baseline (src/peer/media-source.ts no longer uses it).
 *
 * The ffmpeg arguments that encode every rung of a ladder from one input, encoder `i` of
 * `streams` ({@link ladderStreams}) to `rtpUrls[i]`: one decode, one `split`, a scale (and
 * frame-rate cut) per rung, then a `split` into the rung's encoders. A rung's keyframes come
 * every `enc.keyframeIntervalS` (at most a second) from one or another of its encoders, so a
 * sender can switch rungs at the next one without restarting anything; an encoder of a rung with
 * several has its own every that many times as long, placed by frame count (the first frame
 * is always one), its phase offset apart from the next.
 */
export function ladderArgs(src: VideoSourceSpec, enc: VideoEncodeOptions, rungs: readonly VideoRung[], rtpUrls: readonly string[], streams: readonly LadderStream[] = ladderStreams(rungs)): string[] {
  if (streams.length !== rtpUrls.length || rungs.length === 0) throw new Error(`ladderArgs: ${streams.length} encoders for ${rtpUrls.length} outputs`);
  if (rungs.some((_, i) => !streams.some((st) => st.rung === i)) || streams.some((st) => !rungs[st.rung])) throw new Error('ladderArgs: every rung needs an encoder, and every encoder a rung');
  const { input, filter } = videoInput(src, enc);
  const labels = rungs.map((_, i) => `r${i}`);
  const graph = [`[0:v]${filter},split=${rungs.length}${labels.map((l) => `[${l}]`).join('')}`];
  const outputs: string[] = [];
  rungs.forEach((r, i) => {
    const chain: string[] = [];
    if (r.width !== enc.width || r.height !== enc.height) chain.push(`scale=${r.width}:${r.height}`);
    if (r.fps !== enc.fps) chain.push(`fps=${r.fps}`);
    const outs = streams.flatMap((st, k) => (st.rung === i ? [`o${k}`] : []));
    if (outs.length > 1) chain.push(`split=${outs.length}`);
    graph.push(`[${labels[i]}]${chain.length ? chain.join(',') : 'null'}${outs.map((o) => `[${o}]`).join('')}`);
  });
  streams.forEach((st, k) => {
    const r = rungs[st.rung]!;
    const gop = Math.max(1, Math.round(Math.min(enc.keyframeIntervalS, 1) * r.fps));
    if (st.phases === 1) {
      outputs.push('-map', `[o${k}]`, ...encoderArgs(enc.codec, r.kbps, gop), ...RTP_OUT(rtpUrls[k]!));
      return;
    }
    // Forced at frames phase*gop, then every phases*gop; the encoder's own limit a second later.
    const every = gop * st.phases;
    outputs.push('-map', `[o${k}]`, ...encoderArgs(enc.codec, r.kbps, every + gop, `expr:gte(n,n_forced*${every}+${st.phase * gop})`), ...RTP_OUT(rtpUrls[k]!));
  });
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...input,
    '-filter_complex', graph.join(';'),
    ...outputs,
  ];
}

/**
 * The ffmpeg arguments that turn a video source into raw yuv420p frames of `enc`'s size and
 * frame rate on stdout, for the encoders of an on-demand ladder (src/peer/rung-encoders.ts),
 * which Node hands each frame to. Not for the stamped pattern: Node draws that itself.
 */
export function rawVideoArgs(src: Exclude<VideoSourceSpec, { type: 'stamped' }>, enc: VideoEncodeOptions): string[] {
  const { input, filter } = videoInput(src, enc);
  return ['-hide_banner', '-nostdin', '-loglevel', 'error', ...input, '-an', '-vf', filter, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'];
}

/**
 * An encoder of an on-demand ladder never sends a keyframe of its own (one every 100,000
 * frames, nearly two hours at 15 fps): the sender asks for one by starting a fresh encoder
 * (src/peer/rung-encoders.ts), as libwebrtc's single encoder sends one per call and one per
 * keyframe request.
 */
const ON_DEMAND_GOP = 100_000;

/**
 * The ffmpeg arguments of one encoder of an on-demand ladder: raw yuv420p frames of `input`'s
 * size from `inputUrl` (a `unix:` socket Node listens on) at `rung.fps` (Node hands it every
 * frame, or a rung's share of them), scaled to the rung, encoded at its bitrate, RTP to `rtpUrl`.
 * The first `preroll` frames warm the encoder up (the last one's keyframe is held for a new
 * partner); frame `preroll` is a keyframe again, and no other is.
 *
 * No `-fflags nobuffer` on the input: with it ffmpeg 5.1 held each frame until the next had come,
 * a frame interval (66 ms at 15 fps) on every frame of an encoder with `-vf` (measured: a frame
 * out 75 ms after it was written, 10 ms without).
 */
export function rungEncoderArgs(input: Pick<VideoEncodeOptions, 'codec' | 'width' | 'height'>, rung: VideoRung, inputUrl: string, rtpUrl: string, preroll: number): string[] {
  const scale = rung.width !== input.width || rung.height !== input.height ? `scale=${rung.width}:${rung.height}` : 'null';
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-probesize', '32', '-analyzeduration', '0', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${input.width}x${input.height}`, '-framerate', String(rung.fps), '-i', inputUrl,
    '-an', '-vf', scale,
    ...encoderArgs(input.codec, rung.kbps, ON_DEMAND_GOP, `expr:eq(n,${preroll})`),
    ...RTP_OUT(rtpUrl),
  ];
}

/** Whether an audio source is read ahead of real time (a file, the tone) rather than captured as it comes. */
export function audioReadsAhead(src: AudioSourceSpec): boolean {
  return src.type === 'sine' || src.type === 'file';
}

/**
 * The ffmpeg arguments that encode an audio source to Opus: RTP at `rtpUrl` as it is made (a
 * device as captured; a file or the tone at its pace, `-re`), or with `rtpUrl` null (a source
 * read ahead, {@link audioReadsAhead}) Ogg on stdout as fast as the pipe takes it, which
 * src/peer/opus-pump.ts sends at its own pace.
 */
export function audioArgs(src: AudioSourceSpec, rtpUrl: string | null, bitrateKbps = 32): string[] {
  const input: string[] = [];
  const re = rtpUrl === null ? [] : ['-re'];
  if (src.type === 'sine') input.push(...re, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:samples_per_frame=960');
  else if (src.type === 'file') input.push(...re, '-stream_loop', '-1', '-i', src.path);
  else input.push('-f', src.api, '-i', src.device);
  const output = rtpUrl === null ? ['-f', 'ogg', '-page_duration', '20000', 'pipe:1'] : ['-f', 'rtp', '-payload_type', String(FFMPEG_PAYLOAD_TYPE.audio), rtpUrl];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...input,
    '-vn', '-ac', '2', '-ar', '48000',
    // Constrained VBR: libopus's default VBR spent 51 kbit/s on the test tone at a 32 kbit/s target
    // (a fifth of a 300 kbit/s uplink), where the rung choice budgets the audio at its target.
    '-c:a', 'libopus', '-application', 'voip', '-frame_duration', '20', '-b:a', `${bitrateKbps}k`, '-vbr', 'constrained',
    ...output,
  ];
}
