/** Where a command's result goes; tests pass their own. */
export interface CliIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}
