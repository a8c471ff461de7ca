/**
 * Camera and microphone for the browser client. Permission is asked when the person presses
 * Start (or opens a private link); when it is refused, or there is no device, the call goes on
 * receive-only and the person is told why.
 */
import { text, type MessageKey, type Text } from './i18n/index.js';

/** Why there is no (or only partial) local media. */
type MediaProblem = 'denied' | 'no-device' | 'insecure' | 'failed';

/** The outcome of asking for camera and microphone. */
export interface LocalMedia {
  /** The local stream, or null when the call is receive-only. */
  stream: MediaStream | null;
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
  /** Set when audio or video (or both) are missing. */
  problem: MediaProblem | null;
}

/** Video asked for: modest, so a phone and a busy CPU both keep up (also when switching cameras). */
export const VIDEO_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30, max: 30 } };
const AUDIO: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true };

function problemOf(err: unknown): MediaProblem {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') return 'no-device';
  return 'failed';
}

function result(stream: MediaStream | null, problem: MediaProblem | null): LocalMedia {
  return {
    stream,
    audio: stream?.getAudioTracks()[0] ?? null,
    video: stream?.getVideoTracks()[0] ?? null,
    problem,
  };
}

/**
 * Asks for camera and microphone. Falls back to one of them when the other is missing or
 * broken, and to receive-only (`stream: null`) when permission is denied. Never throws.
 */
export async function acquireLocalMedia(md: MediaDevices | undefined = navigator.mediaDevices): Promise<LocalMedia> {
  // getUserMedia exists only in secure contexts (https: or http://localhost).
  if (!md?.getUserMedia) return result(null, 'insecure');
  try {
    const stream = await md.getUserMedia({ audio: AUDIO, video: VIDEO_CONSTRAINTS });
    performance.mark('chatzyo:camera');
    return result(stream, null);
  } catch (err) {
    const problem = problemOf(err);
    // A refusal covers both devices: asking again for one of them would only nag.
    if (problem === 'denied') return result(null, 'denied');
    for (const constraints of [{ video: VIDEO_CONSTRAINTS }, { audio: AUDIO }]) {
      try {
        return result(await md.getUserMedia(constraints), problem);
      } catch { /* try the other device */ }
    }
    return result(null, problem);
  }
}

const ALL_MISSING: Record<MediaProblem, MessageKey> = {
  denied: 'media.denied',
  'no-device': 'media.noDevice',
  insecure: 'media.insecure',
  failed: 'media.failed',
};

/** A sentence for the person about a media problem. */
export function describeMediaProblem(m: LocalMedia): Text | null {
  if (!m.problem) return null;
  if (!m.stream) return text(ALL_MISSING[m.problem], { receiveOnly: text('media.receiveOnly') });
  return text(m.video ? 'media.noMic' : 'media.noCamera');
}

/** Stops every track of a local stream (turns the camera light off). */
export function stopLocalMedia(m: LocalMedia | null): void {
  for (const t of m?.stream?.getTracks() ?? []) t.stop();
}
