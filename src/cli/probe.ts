/**
 * `chatzyo probe`: runs the network checks of src/probe and shows them: an ink screen that
 * fills in at a TTY, one JSON document with --json, plain text otherwise. Resolves with the
 * report; network failures are results, not errors. A bad URL is a usage error (exit 2).
 */
import { readFileSync } from 'node:fs';
import { ChatzyoError } from '../protocol/index.js';
import { Probe, ProbeUsageError, type ProbeOptions, type ProbeReport } from '../probe/index.js';
import { reportText } from './probe-text.js';

/** Options of `chatzyo probe`, as plain values (the commander action builds them). */
export interface ProbeCliOptions {
  server?: string;
  stun?: string[];
  turn?: string[];
  turnUser?: string;
  turnPass?: string;
  /** Measure the mapping lifetime up to this many seconds. */
  lifetime?: number;
  /** false: skip the end-to-end calls. */
  ice?: boolean;
  /** PEM file with extra CA certificates for wss:// and turns:. */
  ca?: string;
  json: boolean;
}

/** Where `probe` writes. */
export interface ProbeIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Use the ink screen (stdout is a TTY and --json was not given). */
  tty: boolean;
}

/** Extra wiring for tests and embedding. */
export interface ProbeDeps {
  /** Overrides merged into the probe's options (timeouts, sample counts). */
  probe?: Partial<ProbeOptions>;
}

/** Runs `chatzyo probe` and resolves with the report it printed. */
export async function runProbe(o: ProbeCliOptions, io: ProbeIO, deps: ProbeDeps = {}): Promise<ProbeReport> {
  let ca: string | undefined;
  if (o.ca) {
    try {
      ca = readFileSync(o.ca, 'utf8');
    } catch (err) {
      throw new ChatzyoError('CHZ_ERR_USAGE', `--ca: cannot read ${o.ca} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { exitCode: 2 });
    }
  }
  let probe: Probe;
  try {
    probe = new Probe({
      server: o.server, stun: o.stun, turn: o.turn, turnUser: o.turnUser, turnPass: o.turnPass,
      lifetimeMaxS: o.lifetime, ice: o.ice, ca, ...deps.probe,
    });
  } catch (err) {
    if (err instanceof ProbeUsageError) throw new ChatzyoError('CHZ_ERR_USAGE', err.message, { exitCode: 2 });
    throw err;
  }
  probe.onListenerError = (event, error) => io.err.write(`chatzyo: a listener of "${event}" threw: ${(error as Error)?.stack ?? String(error)}\n`);

  if (o.json) {
    const report = await probe.run();
    io.out.write(JSON.stringify(report, null, 2) + '\n');
    return report;
  }
  if (io.tty) {
    const { mountProbeView } = await import('./probe-view.js');
    const unmount = mountProbeView(probe, io.out);
    try {
      return await probe.run();
    } finally {
      await unmount();
    }
  }
  const report = await probe.run();
  io.out.write(reportText(report, probe.progress));
  return report;
}
