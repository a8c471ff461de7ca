/**
 * `chatzyo connect`: a full chatzyo peer in a terminal. Builds a {@link PeerSession} from the
 * options, drives it (--say, --next-after, --duration, --max-partners, chat lines from stdin,
 * SIGINT/SIGTERM) and shows what happens: an ink screen at a TTY, one JSON object per line
 * with --json or when stdout is not a TTY. Resolves on a clean end; throws a ChatzyoError whose
 * exitCode tells why otherwise.
 */
import readline from 'node:readline';
import { ChatzyoError, exitCodeOf, HubName, PrivateCode, jsonForTerminal, limitHint } from '../protocol/index.js';
import {
  PeerSession, parseAudioSource, parseVideoSource, readCaFile, signalUrl, thisSessionPriority, thisThreadPriority, tlsTrustError, trustedCas, type PeerSessionEvents, type PeerSessionOptions, type PeerTarget,
} from '../peer/index.js';
import { parseReportCommand } from './chat-input.js';
import { limitHintOf } from './errors.js';
import { importLiveView } from './live-view.js';
import { cacheDirFor, readToken, writeToken } from './token-store.js';

/** Options of `chatzyo connect`, as plain values (the commander action builds them). */
export interface ConnectOptions {
  server: string;
  room?: string;
  private?: string;
  createPrivate?: boolean;
  interests?: string[];
  /** testsrc | FILE | camera[:/dev/videoN]; false = --no-video. */
  video: string | false;
  /** sine | FILE | mic[:DEVICE] | alsa:DEVICE; false = --no-audio. */
  audio: string | false;
  codec: 'vp8' | 'h264';
  width: number;
  height: number;
  fps: number;
  /** kbit/s */
  videoBitrate: number;
  audioBitrate: number;
  /** seconds */
  keyframeInterval: number;
  /** Send landmark round trips with join for nearby pairing (default true; --no-nearby: none). */
  nearby?: boolean;
  /** Follow the network with a ladder of renditions (default true; --no-adapt: one rendition). */
  adapt?: boolean;
  record?: string;
  say?: string;
  nextAfter?: number;
  duration?: number;
  maxPartners?: number;
  relayOnly?: boolean;
  /** -4 / -6: one IP family only, for the server connection and the call (default: both). */
  ipFamily?: 4 | 6;
  /** seconds */
  connectTimeout?: number;
  ffmpeg?: string;
  /** --ca FILE: PEM certificates trusted for wss:// besides Node's roots and NODE_EXTRA_CA_CERTS. */
  ca?: string;
  /** Where the server's anonymous token is kept between runs (default: the user's cache dir, see token-store.ts). */
  cacheDir?: string;
  /** --age-assertion: a signed over-18 assertion for a server with an age verifier. */
  ageAssertion?: string;
  json: boolean;
}

/** Where `connect` reads and writes. */
export interface ConnectIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Chat lines (and /next, /quit) in JSON mode; keys at a TTY. */
  in?: NodeJS.ReadableStream;
  /** Use the ink screen (stdout is a TTY and --json was not given). */
  tty: boolean;
}

/** Extra wiring for tests and embedding. */
export interface ConnectDeps {
  env?: NodeJS.ProcessEnv;
  /** Extra PeerSession settings (tests: port ranges, candidate filters, short timeouts). */
  session?: Partial<PeerSessionOptions>;
  /** Called with the session once it exists. */
  onSession?: (s: PeerSession) => void;
  /** Listen for SIGINT/SIGTERM (default true). */
  signals?: boolean;
}

/** The PeerSession target for the options; throws a usage-style error for a bad combination. */
export function targetFor(o: Pick<ConnectOptions, 'room' | 'private' | 'createPrivate' | 'interests'>): PeerTarget {
  const given = [o.room !== undefined, o.private !== undefined, !!o.createPrivate].filter(Boolean).length;
  if (given !== 1) throw new ChatzyoError('CHZ_ERR_USAGE', 'Give exactly one of --room HUB, --private CODE or --create-private.');
  if (o.room !== undefined) {
    if (!HubName.safeParse(o.room).success) throw new ChatzyoError('CHZ_ERR_USAGE', `"${o.room}" is not a hub name (1-32 of a-z, 0-9 and -).`);
    return { kind: 'hub', hub: o.room, interests: o.interests };
  }
  if (o.private !== undefined) {
    // Accept the whole link as well as the bare code.
    const m = /#\/call\/([^/?#]+)$/.exec(o.private);
    const code = m ? decodeURIComponent(m[1]!) : o.private;
    if (!PrivateCode.safeParse(code).success) throw new ChatzyoError('CHZ_ERR_USAGE', 'That is not a private call code or link.');
    return { kind: 'private-join', code };
  }
  return { kind: 'private-create' };
}

/** The session options for the CLI options. */
export function sessionOptions(o: ConnectOptions, deps: ConnectDeps = {}): PeerSessionOptions {
  return {
    server: o.server,
    target: targetFor(o),
    video: o.video === false ? null : parseVideoSource(o.video),
    audio: o.audio === false ? null : parseAudioSource(o.audio),
    encode: { codec: o.codec, width: o.width, height: o.height, fps: o.fps, bitrateKbps: o.videoBitrate, keyframeIntervalS: o.keyframeInterval },
    audioBitrateKbps: o.audioBitrate,
    adapt: o.adapt !== false,
    nearby: o.nearby !== false,
    relayOnly: !!o.relayOnly,
    ipFamily: o.ipFamily,
    recordPath: o.record,
    ffmpegPath: o.ffmpeg,
    env: deps.env,
    ...(o.ca ? { ca: trustedCas(readCaFile(o.ca), deps.env) } : {}),
    maxPartners: o.maxPartners,
    connectTimeoutMs: o.connectTimeout ? o.connectTimeout * 1000 : undefined,
    clientName: 'chatzyo-cli/0.1',
    ...(o.ageAssertion !== undefined ? { ageAssertion: o.ageAssertion } : {}),
    ...deps.session,
  };
}

/** The JSON line for one observer event (null: not printed). */
export function jsonLine<K extends keyof PeerSessionEvents>(type: K, data: PeerSessionEvents[K][0], serverUrl: string): Record<string, unknown> | null {
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'state':
    case 'remote-media':
      return null;
    case 'private-created':
      return { event: 'private-created', code: d.code, link: `${serverUrl.replace(/\/$/, '')}/#/call/${encodeURIComponent(String(d.code))}`, expiresAt: d.expiresAt };
    case 'chat':
      return { event: 'chat', from: 'partner', text: d.text, matchId: d.matchId };
    case 'welcome': {
      // The sending thread's priority and its session's, when the process's entry asked for them (src/cli/main.ts).
      const priority = thisThreadPriority();
      const session = thisSessionPriority();
      return { event: 'welcome', ...d, ...(priority ? { sendingPriority: priority } : {}), ...(session ? { sessionPriority: session } : {}) };
    }
    case 'ended':
      return null; // `closed` is printed by runConnect with the exit code
    case 'server-error': {
      // A refusal by a server limit (skips, message rate) says which option raises it.
      const hint = limitHint(String(d.code));
      return { event: 'server-error', ...d, ...(hint ? { hint } : {}) };
    }
    case 'disconnected':
      return { event: 'disconnected', code: d.code, willReconnect: d.willReconnect, retryInMs: d.delayMs, attempt: d.attempt };
    default:
      return { event: type, ...d };
  }
}

/** Runs `chatzyo connect` until it ends. */
export async function runConnect(o: ConnectOptions, io: ConnectIO, deps: ConnectDeps = {}): Promise<void> {
  const json = o.json || !io.tty;
  // jsonForTerminal: a partner's chat in a JSON line stays exact, yet a terminal showing it acts on nothing.
  const print = (obj: Record<string, unknown>) => { if (json) io.out.write(jsonForTerminal(obj) + '\n'); };
  // The anonymous token from the last run against this server, so reports and bans follow this client as they follow a browser.
  const tokenDir = cacheDirFor(o.cacheDir, deps.env ?? process.env);
  const storedToken = readToken(tokenDir, o.server);
  const session = new PeerSession({ ...(storedToken !== undefined ? { token: storedToken } : {}), ...sessionOptions(o, deps) });
  session.onListenerError = (event, error) => io.err.write(`chatzyo: a listener of "${event}" threw: ${(error as Error)?.stack ?? String(error)}\n`);
  deps.onSession?.(session);

  const cleanups: (() => void)[] = [
    session.on('welcome', () => {
      const token = session.token;
      if (token !== undefined) writeToken(tokenDir, o.server, token);
    }),
  ];
  let stopView: (() => void) | null = null;

  if (json) {
    const names: (keyof PeerSessionEvents)[] = [
      'welcome', 'queued', 'private-created', 'matched', 'connected', 'safety', 'safety-problem', 'chat-open', 'chat', 'chat-sent', 'partner-left',
      'next', 'reported', 'gave-up', 'ice-restart', 'stats', 'disconnected', 'server-error', 'warning',
    ];
    for (const n of names) {
      cleanups.push(session.on(n, ((data: never) => { const line = jsonLine(n, data, o.server); if (line) print(line); }) as never));
    }
    if (io.in && !(io.in as NodeJS.ReadStream).isTTY) {
      const rl = readline.createInterface({ input: io.in, crlfDelay: Infinity, terminal: false });
      rl.on('line', (line) => handleLine(session, line, print));
      cleanups.push(() => rl.close());
    }
  } else {
    const { mountConnectView } = await importLiveView(() => import('./connect-view.js'));
    stopView = mountConnectView(session, { where: whereLabel(o), serverUrl: o.server, stdout: io.out, stdin: io.in });
  }

  // --say: one message to each partner once the chat channel opens.
  if (o.say) {
    const say = o.say;
    cleanups.push(session.on('chat-open', () => { try { session.sendChat(say); } catch { /* the call ended meanwhile */ } }));
  }
  // --next-after: press Next this long after each connection.
  let nextTimer: NodeJS.Timeout | null = null;
  if (o.nextAfter) {
    const ms = o.nextAfter * 1000;
    cleanups.push(session.on('connected', ({ matchId, reconnected }) => {
      if (reconnected) return;
      if (nextTimer) clearTimeout(nextTimer);
      nextTimer = setTimeout(() => {
        nextTimer = null;
        if (session.call?.matchId === matchId && (session.state === 'connected' || session.state === 'negotiating')) session.next();
      }, ms);
    }));
    cleanups.push(() => { if (nextTimer) clearTimeout(nextTimer); });
  }
  // --duration: end the run.
  let durationTimer: NodeJS.Timeout | null = null;
  if (o.duration) {
    durationTimer = setTimeout(() => void session.close('duration'), o.duration * 1000);
    cleanups.push(() => { if (durationTimer) clearTimeout(durationTimer); });
  }
  if (deps.signals ?? true) {
    const onSignal = () => void session.close('closed');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
  }

  let error: (Error & { code?: string }) | undefined;
  try {
    await session.start();
  } catch (err) {
    error = err as Error & { code?: string };
  }
  const result = await session.done;
  error ??= result.error;
  // An untrusted certificate is its own error, with a hint (--ca, NODE_EXTRA_CA_CERTS, the name on it).
  if (error) error = tlsTrustError(error, signalUrl(o.server)) ?? error;
  for (const c of cleanups.splice(0)) c();
  stopView?.();
  if (error) {
    const exitCode = exitCodeOf(error.code);
    const hint = limitHintOf(error) ?? (error as { hint?: string }).hint;
    print({ event: 'error', code: error.code ?? 'CHZ_ERR_INTERNAL', message: error.message, ...(hint ? { hint } : {}) });
    print({ event: 'closed', reason: 'error', partners: session.partners, exitCode });
    // A coded error ends the run as it is (main() exits with its code's exit code, as printed above).
    throw error.code !== undefined ? error : new ChatzyoError('CHZ_ERR_INTERNAL', error.message, { cause: error });
  }
  print({ event: 'closed', reason: result.reason, partners: session.partners, exitCode: 0 });
}

function whereLabel(o: ConnectOptions): string {
  if (o.room) return `hub ${o.room}`;
  return 'private call';
}

/** A line typed in JSON mode: `/next`, `/report REASON`, `/quit`, or chat text. */
function handleLine(session: PeerSession, line: string, print: (o: Record<string, unknown>) => void): void {
  const text = line.trim();
  if (!text) return;
  try {
    if (text === '/quit') { void session.close('closed'); return; }
    if (text === '/next') { session.next(); return; }
    const report = parseReportCommand(text);
    if (report) {
      if ('error' in report) print({ event: 'warning', message: report.error });
      else session.report(report.reason);
      return;
    }
    if (!session.sendChat(text)) print({ event: 'warning', message: 'The chat is not open yet; message not sent.' });
  } catch (err) {
    print({ event: 'warning', message: (err as Error).message });
  }
}
