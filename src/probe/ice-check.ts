/**
 * End-to-end check: two headless peers ({@link Call}s from src/peer, the same code a real
 * `chatzyo connect` call runs) call each other with the server's ICE settings, exchanging
 * their offer, answer and trickled candidates in-process. Policy `all` is a normal call;
 * policy `relay` uses TURN relay candidates only, which is what two people behind symmetric
 * NATs end up using. Both peers run on this machine, so `all` normally connects over host
 * candidates: it proves the STUN/TURN configuration and the DTLS/SCTP stack, while the NAT
 * tests tell how far people on other networks get.
 */
import { WorkerJob, workerEntry } from './worker-host.js';
import type { IceServer, SignalData } from '../protocol/index.js';
import { Call, type CallOptions } from '../peer/call.js';
import { checkError } from './errors.js';
import { parseCandidate, withStunPlaceholder } from './candidates.js';
import type { IceResult } from './report.js';
import { ms } from './stats.js';

/** Settings of the ICE check. */
export interface IceCheckOptions {
  policy: 'all' | 'relay';
  iceServers: IceServer[];
  timeoutMs: number;
  /** Extra werift settings (tests). */
  peerConfig?: CallOptions['peerConfig'];
  /** Wait for both peers to close before resolving (default true; the worker does not wait, it is terminated). */
  awaitClose?: boolean;
}

/** Runs one call between two local peers. Never throws. */
export async function checkIce(opts: IceCheckOptions): Promise<IceResult> {
  const result: IceResult = { policy: opts.policy, connected: false, ms: null, localCandidateType: null, remoteCandidateType: null, gathered: {} };
  const started = Date.now();
  const calls: Call[] = [];
  const matchId = `probe-${opts.policy}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    const iceServers = withStunPlaceholder(opts.iceServers);
    const make = (role: 'offerer' | 'answerer', deliver: (d: SignalData) => void) => new Call({
      matchId, role, iceServers, relayOnly: opts.policy === 'relay', videoCodec: 'vp8', sendVideo: false, sendAudio: false,
      // Delivered on a later tick, as from a server, so neither side sees its partner's signals re-entrantly.
      sendSignal: (d) => {
        if (d.kind === 'candidate' && role === 'offerer') {
          const c = parseCandidate(d.candidate.candidate);
          if (c) result.gathered[c.type] = (result.gathered[c.type] ?? 0) + 1;
        }
        setImmediate(() => deliver(d));
      },
      matchedAt: started,
      gatherTimeoutMs: Math.min(opts.timeoutMs, 5000),
      restartTimeoutMs: opts.timeoutMs,
      peerConfig: opts.peerConfig,
    });
    const offerer: Call = make('offerer', (d) => answerer.handleSignal(d));
    const answerer: Call = make('answerer', (d) => offerer.handleSignal(d));
    calls.push(offerer, answerer);
    const outcome = await new Promise<{ ok: true; local: string | null; remote: string | null; family: 4 | 6 | null } | { ok: false; why: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, why: `no connection within ${opts.timeoutMs} ms` }), opts.timeoutMs);
      offerer.once('connected', (c) => { clearTimeout(timer); resolve({ ok: true, local: c.localCandidateType, remote: c.candidateType, family: c.ipFamily }); });
      for (const call of calls) call.once('failed', (why) => { clearTimeout(timer); resolve({ ok: false, why }); });
      answerer.start();
      offerer.start();
    });
    if (outcome.ok) {
      result.connected = true;
      result.ms = ms(Date.now() - started);
      result.localCandidateType = outcome.local;
      result.remoteCandidateType = outcome.remote;
      result.ipFamily = outcome.family;
    } else {
      const relayHint = opts.policy === 'relay' && !((result.gathered.relay ?? 0) > 0) ? ' (no relay candidate was gathered: the TURN allocation failed)' : '';
      result.error = checkError('CHZ_ERR_ICE_FAILED', `the two test peers did not connect: ${outcome.why}${relayHint}`);
    }
  } catch (err) {
    result.error = checkError('CHZ_ERR_ICE_FAILED', `the test peers could not start: ${(err as Error).message}`);
  } finally {
    const closed = Promise.all(calls.map((c) => c.close().catch(() => {})));
    if (opts.awaitClose !== false) await closed;
  }
  return result;
}

/**
 * The end-to-end check in a worker thread, terminated afterwards (see ice-worker.ts and
 * worker-host.ts for why). Spawn it early: loading werift then overlaps the signaling check.
 */
export class IceWorker {
  readonly #job = new WorkerJob<IceCheckOptions[], IceResult[]>({ entry: workerEntry(import.meta.url, 'ice-worker'), name: 'the test peers' });

  /** Runs the calls (at once) in the worker; resolves with their results (never rejects), then ends the worker. */
  async run(calls: Omit<IceCheckOptions, 'peerConfig' | 'awaitClose'>[]): Promise<IceResult[]> {
    const limit = Math.max(...calls.map((c) => c.timeoutMs)) + 3000;
    const r = await this.#job.run(calls.map((c) => ({ ...c, awaitClose: false } satisfies IceCheckOptions)), limit);
    if ('reply' in r) return r.reply;
    return calls.map((c) => ({
      policy: c.policy, connected: false, ms: null, localCandidateType: null, remoteCandidateType: null, gathered: {},
      error: checkError('CHZ_ERR_ICE_FAILED', r.why),
    }));
  }

  /** Ends the worker (and any timer werift left in it). Idempotent. */
  terminate(): Promise<void> {
    return this.#job.terminate();
  }
}
