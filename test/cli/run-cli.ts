// Runs the CLI from source (under tsx) exactly as bin/chatzyo.js runs dist/: main(argv) -> exit code.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
