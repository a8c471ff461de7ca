/** Exit codes of the chatzyo CLI. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;
