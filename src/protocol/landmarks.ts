/**
 * Landmarks for pairing strangers who are near each other on the network, without GeoIP
 * (the way Valve's ping locations work): the server names a few STUN servers (`welcome`'s
 * `landmarks`), each client measures its round trip to every one when it connects and sends
 * the numbers, rounded to coarse buckets, with `join`. The server estimates the round trip
 * between two clients as the smallest sum over the landmarks both measured, and never passes
 * the numbers on (docs/protocol.md, "Landmarks").
 */
import { z } from 'zod';

/** A landmark's name: lower-case letters, digits and dashes (a region: `chennai`, `eu-west`). */
export const LandmarkName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'landmark names are 1-32 of a-z, 0-9 and -');
/** The most landmarks a server announces and a client reports. */
export const MAX_LANDMARKS = 16;
/** The largest round trip a client reports, ms; anything slower is reported as this. */
export const MAX_LANDMARK_RTT_MS = 2000;

/** One landmark: a name and the STUN URL to time (`stun:host:port`). */
export const Landmark = z.object({ name: LandmarkName, url: z.string().regex(/^stun:[^\s]{1,250}$/, 'a landmark is a stun: URL') });
export type Landmark = z.infer<typeof Landmark>;

/** A client's round trips to the landmarks it could reach, ms, each rounded by {@link rttBucket}. */
export const LandmarkRtts = z.record(LandmarkName, z.number().int().min(0).max(MAX_LANDMARK_RTT_MS))
  .refine((r) => Object.keys(r).length <= MAX_LANDMARKS, `at most ${MAX_LANDMARKS} landmarks`);
export type LandmarkRtts = z.infer<typeof LandmarkRtts>;

/**
 * Rounds a measured round trip up to a coarse bucket: 5 ms steps up to 20 ms, 10 ms up to
 * 100, 25 ms up to 300, 50 ms above, capped at {@link MAX_LANDMARK_RTT_MS}. Coarse on purpose:
 * enough to tell a neighbour from another continent, too coarse to place anyone.
 */
export function rttBucket(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) return MAX_LANDMARK_RTT_MS;
  const step = ms <= 20 ? 5 : ms <= 100 ? 10 : ms <= 300 ? 25 : 50;
  return Math.min(MAX_LANDMARK_RTT_MS, Math.max(step, Math.ceil(ms / step) * step));
}
