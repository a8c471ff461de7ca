/** The CLI entry: parses argv, runs the command, maps errors to exit codes. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { EXIT } from './errors.js';

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // A closed stdout pipe (the reader went away) must not crash a running server.
  process.stdout.on('error', () => {});
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const e = err as { code?: string; message?: string; exitCode?: number };
    process.stderr.write(`chatzyo: ${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ''}\n`);
    return typeof e.exitCode === 'number' ? e.exitCode : EXIT.failure;
  }
}
