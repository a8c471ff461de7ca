/**
 * Page side of the browser stamp helpers (bundled by esbuild in test/helpers/browser-stamps.ts
 * and injected with `page.addInitScript`, so it runs before the client's own scripts):
 *
 * - a stamped fake camera: `navigator.mediaDevices.getUserMedia` returns a canvas track on which
 *   this script draws {@link drawStampedFrame} frames (sequence number and `Date.now()` send
 *   time) at a fixed rate, plus an oscillator's audio track. A y4m file cannot carry the send
 *   time (Chromium loops it from its own start; Firefox cannot read y4m), so the picture is made
 *   here, in the page, on the same clock as the node side (one machine).
 * - a lab ICE patch: every RTCPeerConnection is relay-only; with a relay address, its UDP TURN
 *   URL is rewritten to the impairment relay (as src/lab/ice.ts does for werift).
 * - a reader of a `<video>` element: `requestVideoFrameCallback` draws each presented frame to
 *   a canvas at the video's size, takes its luma and reads the stamp (and the luma PSNR against
 *   the regenerated source frame when the size is the source's).
 *
 * Everything is exposed as `window.__labStamps` (see {@link LabStampsApi}).
 */
import { drawStampedFrame, readStamp } from '../../src/quality/stamp.js';

/** Configuration the node side prepends as `globalThis.__labStampsConfig`. */
export interface LabStampsConfig {
  /** Replace getUserMedia with the stamped camera. */
  camera: boolean;
  width: number;
  height: number;
  fps: number;
  /** Force `iceTransportPolicy: 'relay'` on every RTCPeerConnection. */
  forceRelay: boolean;
  /** Rewrite the first UDP TURN URL to this relay (and drop the other ICE servers); null: keep. */
  relay: { host: string; port: number } | null;
}

/** One frame the reader saw. */
export interface PageFrame {
  /** `Date.now()` in the frame callback. */
  renderedAt: number;
  /** Stamp, or null when it did not read (a smeared frame). */
  seq: number | null;
  timeLow: number | null;
  width: number;
  height: number;
  /** Luma mean squared error against the regenerated source frame (null: other size or no stamp). */
  mse: number | null;
  /** `presentedFrames` of the callback's metadata (frames the compositor showed so far). */
  presentedFrames: number;
  /** When the frame's last packet came (the metadata's `receiveTime`, on renderedAt's Date.now() clock), null when the browser does not say. */
  receivedAt?: number | null;
  /** The frame's RTP timestamp (the metadata's `rtpTimestamp`), null when the browser does not say. */
  rtpTimestamp?: number | null;
  /**
   * When the sender captured the frame as the viewer reckons it (the metadata's `captureTime`:
   * the frame's RTP timestamp through the sender's RTCP Sender Reports, the clock lip sync lines
   * streams up by), on renderedAt's Date.now() clock; null when the browser does not say.
   */
  capturedAt?: number | null;
}

/** `window.__labStamps`. */
export interface LabStampsApi {
  /** Frames the camera drew so far. */
  readonly framesSent: number;
  /** Starts reading the `<video>` with this `data-testid` (idempotent). False if it is missing or the browser lacks requestVideoFrameCallback. */
  startReader(testId: string): boolean;
  /** Removes and returns the frames read since the last call. */
  drain(): PageFrame[];
  /** TURN URLs the page's peer connections were given, before and after the rewrite. */
  readonly iceLog: { original: string[]; used: string[] }[];
}

declare global {
  var __labStampsConfig: LabStampsConfig | undefined;
  var __labStamps: LabStampsApi | undefined;
}

const config = globalThis.__labStampsConfig;
const frames: PageFrame[] = [];
const iceLog: { original: string[]; used: string[] }[] = [];
let framesSent = 0;

// ---------------------------------------------------------------- levels

/*
 * drawStampedFrame's values are luma (Y') in BT.601 studio range, 16..235: the CLI hands them
 * to its encoder as the Y plane as they are. The camera here paints gray RGB, which Chromium
 * converts to Y' = 16 + 219/255 x gray (BT.601, limited range) before encoding; painting
 * gray = (Y' - 16) x 255/219 makes the encoded Y plane the one the CLI would send. The reader
 * undoes the player's Y' -> RGB the same way, so stamps and PSNR are read on the Y plane, as
 * ffmpeg's psnr filter reads it, whichever sender it was.
 */
const STUDIO_TO_FULL = Uint8Array.from({ length: 256 }, (_, y) => Math.min(255, Math.max(0, Math.round(((y - 16) * 255) / 219))));
/** Y' of a gray-ish RGB pixel (BT.601 weights, limited range). */
function studioLuma(r: number, g: number, b: number): number {
  return Math.round(16 + (219 / 255) * (0.299 * r + 0.587 * g + 0.114 * b));
}

// ---------------------------------------------------------------- stamped camera

function stampedStream(c: LabStampsConfig): MediaStream {
  const canvas = document.createElement('canvas');
  canvas.width = c.width;
  canvas.height = c.height;
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(c.width, c.height);
  const luma = new Uint8Array(c.width * c.height);
  const stream = canvas.captureStream(0);
  const track = stream.getVideoTracks()[0] as CanvasCaptureMediaStreamTrack;
  let seq = 0;
  const draw = (): void => {
    drawStampedFrame(luma, c.width, c.height, seq, Date.now());
    seq = (seq + 1) & 0xffff;
    framesSent++;
    const px = image.data;
    for (let i = 0, j = 0; i < luma.length; i++, j += 4) {
      const v = STUDIO_TO_FULL[luma[i]!]!;
      px[j] = v; px[j + 1] = v; px[j + 2] = v; px[j + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    // captureStream(0): a frame exactly when one is drawn, so each frame's stamp is its capture time.
    track.requestFrame();
  };
  draw();
  const timer = setInterval(draw, 1000 / c.fps);
  track.addEventListener('ended', () => clearInterval(timer));
  // Audio: a quiet 440 Hz tone, so the call negotiates and sends Opus as with a real microphone.
  try {
    const audio = new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.1;
    const dest = audio.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    for (const t of dest.stream.getAudioTracks()) stream.addTrack(t);
  } catch { /* video only: the call still measures the picture */ }
  return stream;
}

if (config?.camera && navigator.mediaDevices) {
  const md = navigator.mediaDevices;
  let shared: MediaStream | null = null;
  md.getUserMedia = async (constraints?: MediaStreamConstraints): Promise<MediaStream> => {
    shared ??= stampedStream(config);
    // Clones: the client stops its tracks on Stop, and a later Start must get live ones again
    // (the canvas keeps drawing into the shared source).
    const out = new MediaStream();
    if (constraints?.video) for (const t of shared.getVideoTracks()) out.addTrack(t.clone());
    if (constraints?.audio) for (const t of shared.getAudioTracks()) out.addTrack(t.clone());
    return out;
  };
}

// ---------------------------------------------------------------- ICE through the lab

function udpTurn(url: string): boolean {
  return /^turn:[^?]+(\?(.*&)?transport=udp(&.*)?)?$/i.test(url.trim()) || /^turn:[^?]+$/i.test(url.trim());
}

function labConfiguration(c: LabStampsConfig, cfg: RTCConfiguration | undefined): RTCConfiguration {
  const out: RTCConfiguration = { ...(cfg ?? {}) };
  if (c.forceRelay) out.iceTransportPolicy = 'relay';
  const servers = cfg?.iceServers ?? [];
  const original = servers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
  if (c.relay) {
    const host = c.relay.host.includes(':') ? `[${c.relay.host}]` : c.relay.host;
    const s = servers.find((x) => (Array.isArray(x.urls) ? x.urls : [x.urls]).some(udpTurn));
    // No UDP TURN: no server at all, so the call fails visibly rather than bypassing the relay.
    out.iceServers = s ? [{ urls: `turn:${host}:${c.relay.port}?transport=udp`, username: s.username!, credential: s.credential! }] : [];
  }
  iceLog.push({ original, used: (out.iceServers ?? []).flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls])) });
  return out;
}

if (config && (config.forceRelay || config.relay) && typeof RTCPeerConnection === 'function') {
  const c = config;
  const Native = RTCPeerConnection;
  const setConfiguration = Native.prototype.setConfiguration;
  class LabPeerConnection extends Native {
    constructor(cfg?: RTCConfiguration) {
      super(labConfiguration(c, cfg));
    }
  }
  // Renewed TURN credentials arrive through setConfiguration: they go through the same rewrite.
  LabPeerConnection.prototype.setConfiguration = function (this: RTCPeerConnection, cfg?: RTCConfiguration) {
    return setConfiguration.call(this, labConfiguration(c, cfg));
  };
  globalThis.RTCPeerConnection = LabPeerConnection;
}

// ---------------------------------------------------------------- reader

const readers = new Set<string>();

function read(video: HTMLVideoElement, c: LabStampsConfig | undefined): void {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  let luma = new Uint8Array(0);
  let source = new Uint8Array(0);
  const onFrame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
    const renderedAt = Date.now();
    const w = meta.width;
    const h = meta.height;
    if (w > 0 && h > 0) {
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      ctx.drawImage(video, 0, 0, w, h);
      const px = ctx.getImageData(0, 0, w, h).data;
      if (luma.length !== w * h) luma = new Uint8Array(w * h);
      // Back to the decoded Y plane (see "levels" above): readStamp's 16/235 levels and the PSNR's reference.
      for (let i = 0, j = 0; i < luma.length; i++, j += 4) luma[i] = studioLuma(px[j]!, px[j + 1]!, px[j + 2]!);
      const stamp = readStamp(luma, w, h);
      let mse: number | null = null;
      if (stamp && c && w === c.width && h === c.height) {
        if (source.length !== w * h) source = new Uint8Array(w * h);
        drawStampedFrame(source, w, h, stamp.seq, stamp.timeLow);
        let sum = 0;
        for (let i = 0; i < luma.length; i++) { const d = luma[i]! - source[i]!; sum += d * d; }
        mse = sum / luma.length;
      }
      frames.push({ renderedAt, seq: stamp?.seq ?? null, timeLow: stamp?.timeLow ?? null, width: w, height: h, mse, presentedFrames: meta.presentedFrames, receivedAt: meta.receiveTime === undefined ? null : renderedAt - (performance.now() - meta.receiveTime), rtpTimestamp: meta.rtpTimestamp ?? null, capturedAt: meta.captureTime === undefined ? null : renderedAt - (performance.now() - meta.captureTime) });
      // Bounded: the node side drains every few hundred ms; a stalled one loses the oldest.
      if (frames.length > 20_000) frames.shift();
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

globalThis.__labStamps = {
  get framesSent() { return framesSent; },
  get iceLog() { return iceLog; },
  startReader(testId: string): boolean {
    const video = document.querySelector<HTMLVideoElement>(`video[data-testid="${CSS.escape(testId)}"]`);
    if (!video || typeof video.requestVideoFrameCallback !== 'function') return false;
    if (readers.has(testId)) return true;
    readers.add(testId);
    // A remote video that autoplay held back (no sound allowed without a gesture) plays muted.
    if (video.paused) { video.muted = true; void video.play().catch(() => { /* frames then never come: the node side times out */ }); }
    read(video, config);
    return true;
  },
  drain(): PageFrame[] { return frames.splice(0); },
};
