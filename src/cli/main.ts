/** The CLI entry: parses argv, runs the command, maps errors to exit codes. */
import { CommanderError } from '@commander-js/extra-typings';
import { buildProgram } from './program.js';
import { displaySafe, EXIT_CODES, exitCodeOf } from '../protocol/index.js';
import { limitHintOf } from './errors.js';
import { raiseThisSession, raiseThisThread } from '../peer/index.js';

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // A closed stdout pipe (the reader went away) must not crash a running server.
  process.stdout.on('error', () => {});
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  // connect sends its call's media from this thread: raised, when the system lets it, as a
  // browser raises its WebRTC thread, and its session with it, where autogroups would otherwise
  // rank it only inside the session (src/peer/thread-priority.ts). Here in the process's entry,
  // not in runConnect, which tests call in their own process. (Not bots: their many calls on one
  // raised thread would take the CPU from the server they load-test on the same machine.)
  program.hook('preAction', (_program, action) => {
    if (action.name() !== 'connect') return;
    raiseThisThread();
    raiseThisSession();
  });
  try {
    await program.parseAsync(argv);
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    const e = err as { code?: string; message?: string };
    // The message may quote a server (a refusal, a close reason): terminal-safe.
    process.stderr.write(`chatzyo: ${displaySafe(e.message ?? String(err))}${e.code ? ` [${displaySafe(e.code)}]` : ''}\n`);
    // A limit's hint, or one the error carries (CHZ_ERR_TLS_UNTRUSTED: --ca, NODE_EXTRA_CA_CERTS, the name on the certificate).
    const hint = limitHintOf(err) ?? (typeof (err as { hint?: unknown }).hint === 'string' ? (err as { hint: string }).hint : null);
    if (hint) process.stderr.write(`chatzyo: hint: ${hint}\n`);
    return exitCodeOf(e.code); // the error table's, for every coded error (1 for any other)
  }
}
