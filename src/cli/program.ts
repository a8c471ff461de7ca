/**
 * The commander program. `buildProgram()` returns a fresh Command each call so tests can
 * parse argument lists without touching process state; actions call plain `run*` functions.
 * Each command lives in its own file (NAME-command.ts): its options, help and action.
 */
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { addServeCommand } from './serve-command.js';
import { addConnectCommand } from './connect-command.js';
import { addProbeCommand } from './probe-command.js';
import { addBotsCommand } from './bots-command.js';

/** Builds the `chatzyo` command tree. */
export function buildProgram(io: CliIO = { out: process.stdout, err: process.stderr }): Command {
  const program = new Command('chatzyo')
    .description('Anonymous peer-to-peer random video chat: server, headless peer, network probe and load bots.')
    .version('0.1.0')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `
Run chatzyo COMMAND --help for a command's options and examples.

From a clone (README):
  $ npm install && npm start     # build, then serve the app on http://localhost:8080
  $ npm test                     # every test

Examples:
  $ chatzyo serve --demo-bots 2           # a server with two demo partners waiting
  $ chatzyo connect --room global         # meet someone from a terminal
  $ chatzyo probe --server http://localhost:8080`);

  addServeCommand(program, io);
  addConnectCommand(program, io);
  addProbeCommand(program, io);
  addBotsCommand(program, io);

  return program;
}
