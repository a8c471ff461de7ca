/** The `serve` command's options and help; the action calls {@link runServe}. */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { durationArg, durationListArg, intArg } from './parsers.js';
import { DEFAULT_OPTIONS, SCREENING_MODES } from '../signal/options.js';
import { PAIRING_MODES } from '../signal/pairing.js';
import { Landmark, LandmarkName } from '../protocol/index.js';
import { runServe, untilSignal } from './serve.js';

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
function envList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
/** A list option's value: repeated flags and comma-separated values (an env variable gives one string). */
function toList(v: string | string[] | undefined): string[] {
  return Array.isArray(v) ? v.flatMap((x) => envList(x)) : typeof v === 'string' ? envList(v) : [];
}

/** Adds `chatzyo serve` to `program`. */
export function addServeCommand(program: Command, io: CliIO) {
  const d = DEFAULT_OPTIONS;
  // The per-client limits get their own heading: a refused client's hint names one of them.
  const LIMITS = 'Limits per client (a refused client\'s hint names the one to raise):';
  const SAFETY = 'Safety (README "Safety"):';
  return program
    .command('serve')
    .summary('run the server: matchmaking, web app, STUN')
    .description('Run the signaling + matchmaking server, the browser client and the built-in STUN responder.')
    .addOption(new Option('--host <host>', 'address to listen on').default(d.host).env('CHATZYO_HOST'))
    .addOption(new Option('-p, --port <port>', 'HTTP/WebSocket port (0 = any free port)').default(d.port).env('CHATZYO_PORT').argParser(intArg('--port', 0, 65535)))
    .addOption(new Option('--hubs <list>', 'comma-separated hub names').default(d.hubs.join(',')).env('CHATZYO_HUBS'))
    .addOption(new Option('--stun-port <port>', 'UDP port of the built-in STUN responder (0 = any; left at the default, it yields to --turn\'s STUN or to a STUN server already on it)').default(d.stunPort).env('CHATZYO_STUN_PORT').argParser(intArg('--stun-port', 0, 65535)))
    .addOption(new Option('--stun-address <ip>', 'address the STUN responder binds (default: --host)').env('CHATZYO_STUN_ADDRESS'))
    .addOption(new Option('--stun-alt-address <ip>', 'second IP for RFC 5780 NAT behaviour discovery (CHANGE-REQUEST, OTHER-ADDRESS)').env('CHATZYO_STUN_ALT_ADDRESS'))
    .addOption(new Option('--stun-alt-port <port>', 'second UDP port for RFC 5780 (0 = any)').env('CHATZYO_STUN_ALT_PORT').argParser(intArg('--stun-alt-port', 0, 65535)))
    .addOption(new Option('--no-stun', 'disable the built-in STUN responder').env('CHATZYO_NO_STUN'))
    .addOption(new Option('--stun <url>', 'STUN URL to announce instead of the built-in one (repeatable)').argParser(repeat).env('CHATZYO_STUN'))
    .addOption(new Option('--turn <url>', 'TURN URL to announce, e.g. turn:turn.example.com:3478?transport=udp (repeatable)').argParser(repeat).env('CHATZYO_TURN'))
    .addOption(new Option('--turn-secret <secret>', "coturn's static-auth-secret (prefer the env variable or --turn-secret-file: ps shows command lines)").env('CHATZYO_TURN_SECRET'))
    .addOption(new Option('--turn-secret-file <file>', "read coturn's static-auth-secret from a file (first line)").env('CHATZYO_TURN_SECRET_FILE'))
    .addOption(new Option('--turn-ttl <seconds>', 'lifetime of minted TURN credentials (renewed while a call lives)').default(d.turnTtlSeconds).env('CHATZYO_TURN_TTL').argParser(intArg('--turn-ttl', 60, 86_400)))
    .addOption(new Option('--turn-mints-per-minute <n>', 'TURN credentials one address may be given per minute').default(d.turnMintsPerMinute).env('CHATZYO_TURN_MINTS_PER_MINUTE').argParser(intArg('--turn-mints-per-minute', 1)).helpGroup(LIMITS))
    .addOption(new Option('--interest-wait <ms>', 'how long interest tags are preferred before anyone matches').default(d.interestFallbackMs).env('CHATZYO_INTEREST_WAIT').argParser(intArg('--interest-wait')))
    .addOption(new Option('--pairing <mode>', 'nearby: prefer strangers near each other on the network (landmark round trips); random: arrival order').default(d.pairing).env('CHATZYO_PAIRING').choices(PAIRING_MODES))
    .addOption(new Option('--region <name>', 'name of this node\'s STUN responder as a pairing landmark').default(d.region).env('CHATZYO_REGION').argParser(landmarkNameArg('--region')))
    .addOption(new Option('--landmark <name=stun:host:port>', 'another STUN server clients time for nearby pairing, e.g. chennai=stun:stun.chennai.example.com:3478 (repeatable)').argParser(landmarkArg).env('CHATZYO_LANDMARK'))
    .addOption(new Option('--rematch-cooldown <ms>', 'no rematch with the same person within this time while others wait').default(d.rematchCooldownMs).env('CHATZYO_REMATCH_COOLDOWN').argParser(intArg('--rematch-cooldown')))
    .addOption(new Option('--private-ttl <ms>', 'unused private call codes expire after this').default(d.privateCodeTtlMs).env('CHATZYO_PRIVATE_TTL').argParser(intArg('--private-ttl', 1000)))
    .addOption(new Option('--heartbeat <ms>', 'WebSocket ping interval; dead clients go within two').default(d.heartbeatMs).env('CHATZYO_HEARTBEAT').argParser(intArg('--heartbeat', 100)))
    .addOption(new Option('--max-messages-per-second <n>', 'per-connection message rate').default(d.messagesPerSecond).env('CHATZYO_MAX_MESSAGES_PER_SECOND').argParser(intArg('--max-messages-per-second', 1)).helpGroup(LIMITS))
    .addOption(new Option('--max-bytes-per-second <n>', 'per-connection bytes per second sent to the server').default(d.bytesPerSecond).env('CHATZYO_MAX_BYTES_PER_SECOND').argParser(intArg('--max-bytes-per-second', 1024)).helpGroup(LIMITS))
    .addOption(new Option('--max-buffered-bytes <n>', 'bytes queued toward a client that stopped reading before it is dropped (close 4006)').default(d.maxBufferedBytes).env('CHATZYO_MAX_BUFFERED_BYTES').argParser(intArg('--max-buffered-bytes', 64 * 1024)).helpGroup(LIMITS))
    .addOption(new Option('--max-nexts-per-minute <n>', 'matches one connection may end per minute (Next, leave, report, disconnect; a reconnect inherits the count)').default(d.nextsPerMinute).env('CHATZYO_MAX_NEXTS_PER_MINUTE').argParser(intArg('--max-nexts-per-minute', 1)).helpGroup(LIMITS))
    .addOption(new Option('--max-connections-per-address <n>', 'simultaneous connections from one address').default(d.maxConnectionsPerAddress).env('CHATZYO_MAX_CONNECTIONS_PER_ADDRESS').argParser(intArg('--max-connections-per-address', 1)).helpGroup(LIMITS))
    .addOption(new Option('--redis <url>', 'share matchmaking with other nodes through Redis, e.g. redis://127.0.0.1:6379/0').env('CHATZYO_REDIS_URL'))
    .addOption(new Option('--node-id <id>', 'this node\'s id among the Redis-sharing nodes (default: random)').env('CHATZYO_NODE_ID'))
    .addOption(new Option('--node-ttl <ms>', 'a node silent this long is dead; its clients\' partners are told').default(d.nodeTtlMs).env('CHATZYO_NODE_TTL').argParser(intArg('--node-ttl', 500)))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve HTTPS and WSS').env('CHATZYO_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('CHATZYO_TLS_KEY'))
    .addOption(new Option('--trust-proxy [hops]', 'behind N reverse proxies (default 1): take the client address from the X-Forwarded-For entry the first of them appended').env('CHATZYO_TRUST_PROXY').argParser(hopsArg))
    .addOption(new Option('--metrics-port <port>', 'serve /metrics and /healthz on a separate listener (not on the app port)').env('CHATZYO_METRICS_PORT').argParser(intArg('--metrics-port', 0, 65535)))
    .addOption(new Option('--metrics-host <host>', 'address of the --metrics-port listener').default(d.metricsHost).env('CHATZYO_METRICS_HOST'))
    .addOption(new Option('--allowed-origin <origin>', 'pages that may open the WebSocket (repeatable); when set, only these (default: the server\'s own page)').argParser(repeat).env('CHATZYO_ALLOWED_ORIGIN'))
    .addOption(new Option('--log-level <level>', 'pino log level (logs go to stderr as JSON)').default(d.logLevel).env('CHATZYO_LOG_LEVEL').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const))
    .addOption(new Option('--screening <mode>', 'default on-device screening of the stranger\'s video, announced to browsers (users cannot go below flag-only)').default(d.screening).env('CHATZYO_SCREENING').choices(SCREENING_MODES).helpGroup(SAFETY))
    .addOption(new Option('--ban-after-reports <n>', 'distinct reporters (different tokens and addresses) within --ban-window that ban someone').default(d.banAfterReports).env('CHATZYO_BAN_AFTER_REPORTS').argParser(intArg('--ban-after-reports', 2, 1000)).helpGroup(SAFETY))
    .addOption(new Option('--ban-window <duration>', 'how long a report counts toward a ban').default(d.banWindowMs, '24h').env('CHATZYO_BAN_WINDOW').argParser(durationArg('--ban-window')).helpGroup(SAFETY))
    .addOption(new Option('--ban-durations <list>', 'length of the first, second, ... ban (the last repeats)').default(d.banDurationsMs, '1h,24h,7d').env('CHATZYO_BAN_DURATIONS').argParser(durationListArg('--ban-durations')).helpGroup(SAFETY))
    .addOption(new Option('--report-min-call <duration>', 'a report counts only after the reporter was this long in the call').default(d.reportMinCallMs, '5s').env('CHATZYO_REPORT_MIN_CALL').argParser(durationArg('--report-min-call')).helpGroup(SAFETY))
    .addOption(new Option('--max-reports <n>', 'reports one person (token, and address) may make per 10 minutes; more are not counted').default(d.maxReports).env('CHATZYO_MAX_REPORTS').argParser(intArg('--max-reports', 1, 1000)).helpGroup(SAFETY))
    .addOption(new Option('--safety-secret <secret>', 'signs anonymous tokens and keys address hashes (default: random, or shared through --redis and kept there); prefer the env variable').env('CHATZYO_SAFETY_SECRET').helpGroup(SAFETY))
    .addOption(new Option('--admin-token <token>', 'enable the admin API under /api/admin/ (Authorization: Bearer TOKEN; at least 16 characters); prefer the env variable').env('CHATZYO_ADMIN_TOKEN').helpGroup(SAFETY))
    .addOption(new Option('--age-verifier <url>', 'require an over-18 assertion in hello, checked by POSTing it to this URL (200 {"over18":true} admits)').env('CHATZYO_AGE_VERIFIER').helpGroup(SAFETY))
    .addOption(new Option('--demo-bots <n>', 'keep N media bots waiting in the hubs (one per hub) as partners that stream a test pattern and echo chat').env('CHATZYO_DEMO_BOTS').argParser(intArg('--demo-bots', 0, 20)))
    .addOption(new Option('--json', 'print machine-readable JSON lines on stdout').env('CHATZYO_JSON'))
    .addHelpText('after', `
Every option also reads an environment variable (shown as (env: ...)).

Examples:
  $ chatzyo serve --port 8080 --hubs global,tamil,usa
  $ chatzyo serve --demo-bots 2          # someone to meet at once in global and tamil
  $ chatzyo serve --turn turn:turn.example.com:3478 --turn-secret-file turn-secret.txt --max-connections-per-address 100`)
    .action(async (o, cmd) => {
      // Typed by the option definitions above (commander's extra-typings): no casts.
      const server = runServe({
        host: o.host,
        port: o.port,
        hubs: toList(o.hubs),
        // Left unset, the default port yields to coturn (--turn) or another node's responder (README "Scaling out").
        stunPort: o.stun === false ? null : cmd.getOptionValueSource('stunPort') === 'default' ? undefined : o.stunPort,
        stunAddress: o.stunAddress,
        stunAltAddress: o.stunAltAddress,
        stunAltPort: o.stunAltPort,
        stunUrls: toList(o.stun === false || o.stun === true ? undefined : o.stun),
        turnUrls: toList(o.turn),
        turnSecret: turnSecret(o.turnSecret, o.turnSecretFile),
        turnTtlSeconds: o.turnTtl,
        turnMintsPerMinute: o.turnMintsPerMinute,
        bytesPerSecond: o.maxBytesPerSecond,
        maxBufferedBytes: o.maxBufferedBytes,
        metricsPort: o.metricsPort,
        metricsHost: o.metricsHost,
        interestFallbackMs: o.interestWait,
        pairing: o.pairing,
        region: o.region,
        landmarks: o.landmark ?? [],
        rematchCooldownMs: o.rematchCooldown,
        privateCodeTtlMs: o.privateTtl,
        heartbeatMs: o.heartbeat,
        messagesPerSecond: o.maxMessagesPerSecond,
        nextsPerMinute: o.maxNextsPerMinute,
        maxConnectionsPerAddress: o.maxConnectionsPerAddress,
        redisUrl: o.redis,
        nodeId: o.nodeId,
        nodeTtlMs: o.nodeTtl,
        tlsCert: o.tlsCert,
        tlsKey: o.tlsKey,
        trustProxy: o.trustProxy === undefined ? 0 : o.trustProxy === true ? 1 : o.trustProxy,
        allowedOrigins: toList(o.allowedOrigin),
        logLevel: o.logLevel,
        screening: o.screening,
        banAfterReports: o.banAfterReports,
        banWindowMs: o.banWindow,
        banDurationsMs: o.banDurations,
        reportMinCallMs: o.reportMinCall,
        maxReports: o.maxReports,
        safetySecret: o.safetySecret,
        adminToken: o.adminToken,
        ageVerifier: o.ageVerifier,
        json: !!o.json,
        demoBots: o.demoBots,
      }, {}, io.out, io.err);
      // Signals are caught from before the listening line, so an early SIGTERM is a clean stop.
      await untilSignal(server, io.out, !!o.json);
    });

}

/** `--region NAME`: a landmark name. */
function landmarkNameArg(flag: string) {
  return (value: string): string => {
    const r = LandmarkName.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)}: landmark names are 1-32 of a-z, 0-9 and -, starting with a letter or digit.`);
    return r.data;
  };
}

/** `--landmark NAME=stun:host:port` (repeatable). */
function landmarkArg(value: string, previous: Landmark[] | undefined): Landmark[] {
  const eq = value.indexOf('=');
  const bad = () => new InvalidArgumentError(`--landmark ${JSON.stringify(value)}: give NAME=stun:host:port, e.g. chennai=stun:stun.example.com:3478.`);
  if (eq <= 0) throw bad();
  const name = landmarkNameArg('--landmark')(value.slice(0, eq));
  const r = Landmark.safeParse({ name, url: value.slice(eq + 1) });
  if (!r.success) throw new InvalidArgumentError(`--landmark ${JSON.stringify(value)}: give NAME=stun:host:port, e.g. chennai=stun:stun.example.com:3478.`);
  if (previous?.some((l) => l.name === name)) throw new InvalidArgumentError(`--landmark ${name}: given twice.`);
  return [...(previous ?? []), r.data];
}

/** `--trust-proxy [hops]`: no value (or "true") is one proxy; "false"/"0" none. */
function hopsArg(value: string): number {
  if (value === 'true') return 1;
  if (value === 'false') return 0;
  return intArg('--trust-proxy', 0, 10)(value);
}

/** The TURN secret from the option/env or from a file; both at once is a mistake. */
function turnSecret(secret: string | undefined, file: string | undefined): string | undefined {
  if (secret && file) throw new InvalidArgumentError('--turn-secret and --turn-secret-file: give one.');
  if (!file) return secret;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`--turn-secret-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  const first = text.split(/\r?\n/)[0]!.trim();
  if (!first) throw new InvalidArgumentError(`--turn-secret-file: ${file} is empty.`);
  return first;
}
