/**
 * Settings of the video RTCRtpSender once a call starts: a bitrate cap that fits the camera's
 * size (a 640x480 camera gains little above ~900 kbit/s, and a cap leaves the rest of a shared
 * uplink to audio and to the person's other traffic) and `degradationPreference: 'balanced'`
 * (under congestion the encoder gives up some frame rate and some resolution rather than all of
 * one; W3C webrtc-extensions, RTCRtpSendParameters.degradationPreference). "Audio only" turns
 * the video encoding off (`active: false`): the track stays live for the preview, nothing is
 * encoded or sent, and turning it back on needs no renegotiation (W3C webrtc-pc, setParameters).
 *
 * {@link videoSendParameters} is pure; {@link applyVideoSenderSettings} applies it and never
 * throws: a browser that refuses a member (Firefox knows no degradationPreference) keeps the
 * rest.
 */

/** `degradationPreference` the client asks for. */
export const DEGRADATION_PREFERENCE = 'balanced';

/** Caps by picture size: the first row whose pixel count the picture does not exceed. */
const CAPS: readonly { pixels: number; bps: number }[] = [
  { pixels: 320 * 240, bps: 300_000 },
  { pixels: 480 * 360, bps: 500_000 },
  { pixels: 640 * 480, bps: 900_000 },
  { pixels: 1280 * 720, bps: 1_800_000 },
];
const LARGEST_BPS = 2_500_000;

/** The bitrate cap for a picture of `width`x`height`, bit/s (unknown size: the 640x480 cap). */
export function maxBitrateFor(width: number | undefined, height: number | undefined): number {
  if (!width || !height || width <= 0 || height <= 0) return 900_000;
  const pixels = width * height;
  return CAPS.find((c) => pixels <= c.pixels)?.bps ?? LARGEST_BPS;
}

/** What {@link videoSendParameters} changes. */
export interface VideoSendOptions {
  width?: number;
  height?: number;
  /** False: audio only (no video encoded or sent). */
  active: boolean;
  /** Set `degradationPreference` (false: leave it, after a browser refused it). */
  degradation: boolean;
}

/**
 * The parameters to set: `current` (from `getParameters()`, which carries the transaction id
 * setParameters needs) with every encoding capped, (de)activated, and the degradation preference.
 */
export function videoSendParameters<P extends { encodings: RTCRtpEncodingParameters[]; degradationPreference?: string }>(current: P, o: VideoSendOptions): P {
  const maxBitrate = maxBitrateFor(o.width, o.height);
  // Before negotiation Chromium may list no encodings; one entry describes the single stream.
  const encodings = (current.encodings.length ? current.encodings : [{}]).map((e) => ({ ...e, active: o.active, maxBitrate }));
  const out = { ...current, encodings };
  if (o.degradation) out.degradationPreference = DEGRADATION_PREFERENCE;
  return out;
}

/** What was applied, read back from the sender. */
export interface AppliedSenderSettings {
  maxBitrate: number | null;
  active: boolean | null;
  /** Null: the browser does not report one (unsupported). */
  degradationPreference: string | null;
}

/**
 * Applies {@link videoSendParameters} to `sender` (its track's size picks the cap). Returns
 * what the sender reports afterwards, or null when there is no video sender to set.
 */
export async function applyVideoSenderSettings(sender: RTCRtpSender, active: boolean): Promise<AppliedSenderSettings | null> {
  const track = sender.track;
  if (!track || track.kind !== 'video') return null;
  const { width, height } = track.getSettings();
  for (const degradation of [true, false]) {
    try {
      const params = videoSendParameters(sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string }, { width, height, active, degradation });
      await sender.setParameters(params);
      break;
    } catch {
      // Refused with the degradation preference: try once without it; refused without: keep the sender as it is.
    }
  }
  const after = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
  const e = after.encodings[0];
  return { maxBitrate: e?.maxBitrate ?? null, active: e?.active ?? null, degradationPreference: after.degradationPreference ?? null };
}
