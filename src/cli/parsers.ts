/** Option-argument parsers shared by every command: each throws commander's InvalidArgumentError. */
import { InvalidArgumentError } from '@commander-js/extra-typings';

/** An integer from `min` to `max`. */
export function intArg(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    return n;
  };
}

/** A positive number; `unit` completes the message (" of seconds", " of kbit/s"). */
export function positiveArg(name: string, unit = ' of seconds') {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number${unit}.`);
    return n;
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in ms from `500ms`, `30s`, `10m`, `1h`, `7d` or a bare number of ms. */
function parseDuration(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return null;
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!);
  return ms >= 1 && Number.isSafeInteger(ms) ? ms : null;
}

/** A duration (`90s`, `24h`, `7d`, or ms), returned in ms. */
export function durationArg(name: string) {
  return (value: string): number => {
    const ms = parseDuration(value);
    if (ms === null) throw new InvalidArgumentError(`${name} must be a duration such as 90s, 10m, 24h or 7d (or a number of ms).`);
    return ms;
  };
}

/** A comma-separated list of durations (`1h,24h,7d`), returned in ms. */
export function durationListArg(name: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
    const out = parts.map(parseDuration);
    if (!parts.length || out.some((ms) => ms === null)) throw new InvalidArgumentError(`${name} must be comma-separated durations such as 1h,24h,7d.`);
    return out as number[];
  };
}

/** Comma-separated interest tags, lower-cased; repeating the option adds to them. */
export function tagList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)];
}
