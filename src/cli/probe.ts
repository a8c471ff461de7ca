/**
 * `chatzyo probe`: runs the network checks of src/probe and shows them: an ink screen that
 * fills in at a TTY, one JSON document with --json, plain text otherwise. Resolves with the
 * report; network failures are results, not errors. A bad URL is a usage error (exit 2).
 */
import { readFileSync } from 'node:fs';
import { ChatzyoError, displaySafe, jsonForTerminal } from '../protocol/index.js';
import { checkRequirement, Probe, ProbeUsageError, type ProbeOptions, type ProbeReport, type Requirement } from '../probe/index.js';
import { reportText } from './probe-text.js';
import { importLiveView } from './live-view.js';

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
  /** false: skip the uplink test (the relayed call ramping its rate). */
  uplink?: boolean;
  /** PEM file with extra CA certificates for wss:// and turns:. */
  ca?: string;
  json: boolean;
  /** --require: fail (exit 1, or 3 when it could not be measured) unless calls of this kind work. */
  require?: Requirement;
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
      throw new ChatzyoError('CHZ_ERR_USAGE', `--ca: cannot read ${o.ca} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  let probe: Probe;
  try {
    probe = new Probe({
      server: o.server, stun: o.stun, turn: o.turn, turnUser: o.turnUser, turnPass: o.turnPass,
      lifetimeMaxS: o.lifetime, ice: o.ice, ...(o.uplink === false ? { uplink: false } : {}), ca, ...deps.probe,
    });
  } catch (err) {
    if (err instanceof ProbeUsageError) throw new ChatzyoError('CHZ_ERR_USAGE', err.message);
    throw err;
  }
  probe.onListenerError = (event, error) => io.err.write(`chatzyo: a listener of "${event}" threw: ${(error as Error)?.stack ?? String(error)}\n`);

  const report = await show(probe, o, io);
  if (o.require) enforce(report, o.require, io);
  return report;
}

/** Runs the probe and prints the report the way `o` and `io` ask. */
async function show(probe: Probe, o: ProbeCliOptions, io: ProbeIO): Promise<ProbeReport> {
  if (o.json) {
    const report = await probe.run();
    io.out.write(jsonForTerminal(report, 2) + '\n');
    return report;
  }
  if (io.tty) {
    const { mountProbeView } = await importLiveView(() => import('./probe-view.js'));
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

/**
 * --require: says on stderr whether calls of that kind will work, and throws (exit 1, or 3 when
 * it could not be measured) when they will not. The report is printed first either way, so a CI
 * log shows why. A script that must be sure treats every non-zero code as a failure; one that
 * tolerates an unmeasured property allows 3.
 */
function enforce(report: ProbeReport, need: Requirement, io: ProbeIO): void {
  const r = checkRequirement(report, need);
  const what = need === 'any' ? 'calls (direct or relayed)' : need === 'direct' ? 'direct calls' : 'calls through a TURN relay';
  // The reason quotes servers and URLs: terminal-safe.
  const reason = displaySafe(r.reason);
  if (r.met) {
    io.err.write(`chatzyo: --require ${need}: ${what} will work here: ${reason}\n`);
    return;
  }
  if (r.met === false) {
    throw new ChatzyoError('CHZ_ERR_PROBE_REQUIREMENT_UNMET', `--require ${need}: ${what} will not work here: ${reason}`);
  }
  throw new ChatzyoError('CHZ_ERR_PROBE_REQUIREMENT_UNKNOWN', `--require ${need}: whether ${what} will work here could not be measured: ${reason}`);
}
