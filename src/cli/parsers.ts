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

/** Comma-separated interest tags, lower-cased; repeating the option adds to them. */
export function tagList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)];
}
