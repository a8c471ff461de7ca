/**
 * Switching between the device's cameras (front and back on a phone, a built-in and a USB one on
 * a laptop): which cameras there are, which one comes next, and opening it. The call swaps the
 * track with `replaceTrack`, so switching needs no renegotiation (peer-call.ts).
 */
import { VIDEO_CONSTRAINTS } from './local-media.js';

/** One video input, as `enumerateDevices()` lists it. */
interface VideoInput {
  deviceId: string;
  label: string;
}

/**
 * The device's video inputs. Before camera permission the ids may be empty (and a browser may
 * list one placeholder for several cameras), so ask again once a camera is in use. Never throws:
 * a browser without the API has none to switch between.
 */
export async function listVideoInputs(md: MediaDevices | undefined = navigator.mediaDevices): Promise<VideoInput[]> {
  if (!md?.enumerateDevices) return [];
  try {
    return (await md.enumerateDevices())
      .filter((d) => d.kind === 'videoinput')
      .map((d) => ({ deviceId: d.deviceId, label: d.label }));
  } catch {
    return [];
  }
}

/**
 * The camera after `currentId` in `inputs`, wrapping around; the first one when the current
 * camera is not listed (its id unknown). Null when there is nothing to switch to: fewer than two
 * inputs, or none with an id.
 */
export function nextVideoInput(inputs: readonly VideoInput[], currentId: string | null): VideoInput | null {
  const usable = inputs.filter((d) => d.deviceId !== '');
  if (usable.length < 2) return null;
  const i = currentId === null ? -1 : usable.findIndex((d) => d.deviceId === currentId);
  return usable[(i + 1) % usable.length]!;
}

/** Opens the camera `deviceId` with the client's usual video constraints (may throw, as getUserMedia does). */
export async function openVideoInput(deviceId: string, md: MediaDevices = navigator.mediaDevices): Promise<MediaStreamTrack> {
  const stream = await md.getUserMedia({ video: { ...VIDEO_CONSTRAINTS, deviceId: { exact: deviceId } } });
  const track = stream.getVideoTracks()[0];
  if (!track) throw new Error('the camera gave no video track');
  return track;
}
