/**
 * The commander program. `buildProgram()` returns a fresh Command each call so tests can
 * parse argument lists without touching process state; actions call plain `run*` functions.
 */
import { Command, Option } from 'commander';
import { intArg } from './parsers.js';
import { DEFAULT_OPTIONS } from '../signal/options.js';
import { runServe, untilSignal } from './serve.js';
import { addConnectCommand } from './connect-command.js';
import { addProbeCommand } from './probe-command.js';
import { addBotsCommand } from './bots-command.js';

/** Where a command's result goes; tests pass their own. */
export interface CliIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
function envList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Builds the `chatzyo` command tree. */
export function buildProgram(io: CliIO = { out: process.stdout, err: process.stderr }): Command {
  const program = new Command('chatzyo')
    .description('Anonymous peer-to-peer random video chat: server, headless peer, network probe and load bots.')
    .version('0.1.0')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  const d = DEFAULT_OPTIONS;
  program
    .command('serve')
    .description('Run the signaling + matchmaking server, the browser client and the built-in STUN responder.')
    .addOption(new Option('--host <host>', 'address to listen on').default(d.host).env('CHATZYO_HOST'))
    .addOption(new Option('-p, --port <port>', 'HTTP/WebSocket port (0 = any free port)').default(d.port).env('CHATZYO_PORT').argParser(intArg('--port', 0, 65535)))
    .addOption(new Option('--hubs <list>', 'comma-separated hub names').default(d.hubs.join(',')).env('CHATZYO_HUBS'))
    .addOption(new Option('--stun-port <port>', 'UDP port of the built-in STUN responder (0 = any)').default(d.stunPort).env('CHATZYO_STUN_PORT').argParser(intArg('--stun-port', 0, 65535)))
    .addOption(new Option('--stun-address <ip>', 'address the STUN responder binds (default: --host)').env('CHATZYO_STUN_ADDRESS'))
    .addOption(new Option('--stun-alt-address <ip>', 'second IP for RFC 5780 NAT behaviour discovery (CHANGE-REQUEST, OTHER-ADDRESS)').env('CHATZYO_STUN_ALT_ADDRESS'))
    .addOption(new Option('--stun-alt-port <port>', 'second UDP port for RFC 5780 (0 = any)').env('CHATZYO_STUN_ALT_PORT').argParser(intArg('--stun-alt-port', 0, 65535)))
    .addOption(new Option('--no-stun', 'disable the built-in STUN responder').env('CHATZYO_NO_STUN'))
    .addOption(new Option('--stun <url>', 'STUN URL to announce instead of the built-in one (repeatable)').argParser(repeat).env('CHATZYO_STUN'))
    .addOption(new Option('--turn <url>', 'TURN URL to announce, e.g. turn:turn.example.com:3478?transport=udp (repeatable)').argParser(repeat).env('CHATZYO_TURN'))
    .addOption(new Option('--turn-secret <secret>', "coturn's static-auth-secret, for per-session credentials").env('CHATZYO_TURN_SECRET'))
    .addOption(new Option('--turn-ttl <seconds>', 'lifetime of TURN credentials').default(d.turnTtlSeconds).env('CHATZYO_TURN_TTL').argParser(intArg('--turn-ttl', 60)))
    .addOption(new Option('--interest-wait <ms>', 'how long interest tags are preferred before anyone matches').default(d.interestFallbackMs).env('CHATZYO_INTEREST_WAIT').argParser(intArg('--interest-wait')))
    .addOption(new Option('--rematch-cooldown <ms>', 'no rematch with the same person within this time while others wait').default(d.rematchCooldownMs).env('CHATZYO_REMATCH_COOLDOWN').argParser(intArg('--rematch-cooldown')))
    .addOption(new Option('--private-ttl <ms>', 'unused private call codes expire after this').default(d.privateCodeTtlMs).env('CHATZYO_PRIVATE_TTL').argParser(intArg('--private-ttl', 1000)))
    .addOption(new Option('--heartbeat <ms>', 'WebSocket ping interval; dead clients go within two').default(d.heartbeatMs).env('CHATZYO_HEARTBEAT').argParser(intArg('--heartbeat', 100)))
    .addOption(new Option('--max-messages-per-second <n>', 'per-connection message rate').default(d.messagesPerSecond).env('CHATZYO_MAX_MESSAGES_PER_SECOND').argParser(intArg('--max-messages-per-second', 1)))
    .addOption(new Option('--max-nexts-per-minute <n>', 'per-connection Next rate').default(d.nextsPerMinute).env('CHATZYO_MAX_NEXTS_PER_MINUTE').argParser(intArg('--max-nexts-per-minute', 1)))
    .addOption(new Option('--max-connections-per-address <n>', 'simultaneous connections from one address').default(d.maxConnectionsPerAddress).env('CHATZYO_MAX_CONNECTIONS_PER_ADDRESS').argParser(intArg('--max-connections-per-address', 1)))
    .addOption(new Option('--redis <url>', 'share matchmaking with other nodes through Redis, e.g. redis://127.0.0.1:6379/0').env('CHATZYO_REDIS_URL'))
    .addOption(new Option('--node-id <id>', 'this node\'s id among the Redis-sharing nodes (default: random)').env('CHATZYO_NODE_ID'))
    .addOption(new Option('--node-ttl <ms>', 'a node silent this long is dead; its clients\' partners are told').default(d.nodeTtlMs).env('CHATZYO_NODE_TTL').argParser(intArg('--node-ttl', 500)))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve HTTPS and WSS').env('CHATZYO_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('CHATZYO_TLS_KEY'))
    .addOption(new Option('--trust-proxy', 'take client addresses from X-Forwarded-For (behind a reverse proxy)').env('CHATZYO_TRUST_PROXY'))
    .addOption(new Option('--allowed-origin <origin>', 'only pages from this origin may open the WebSocket (repeatable)').argParser(repeat).env('CHATZYO_ALLOWED_ORIGIN'))
    .addOption(new Option('--log-level <level>', 'pino log level (logs go to stderr as JSON)').default(d.logLevel).env('CHATZYO_LOG_LEVEL').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .addOption(new Option('--demo-bots <n>', 'keep N media bots waiting in the hubs (one per hub) as partners that stream a test pattern and echo chat').env('CHATZYO_DEMO_BOTS').argParser(intArg('--demo-bots', 0, 20)))
    .addOption(new Option('--json', 'print machine-readable JSON lines on stdout').env('CHATZYO_JSON'))
    .addHelpText('after', `
Every option also reads an environment variable (shown as (env: ...)).

Example:
  $ chatzyo serve --port 8080 --hubs global,tamil,usa
  $ chatzyo serve --demo-bots 2          # someone to meet at once in global and tamil
  $ chatzyo serve --turn turn:turn.example.com:3478 --turn-secret "$SECRET" --tls-cert cert.pem --tls-key key.pem`)
    .action(async (o: Record<string, unknown>) => {
      const toList = (v: unknown) => (Array.isArray(v) ? v.flatMap((x) => envList(String(x))) : typeof v === 'string' ? envList(v) : []);
      const server = await runServe({
        host: o.host as string,
        port: o.port as number,
        hubs: toList(o.hubs),
        stunPort: o.stun === false ? null : (o.stunPort as number),
        stunAddress: o.stunAddress as string | undefined,
        stunAltAddress: o.stunAltAddress as string | undefined,
        stunAltPort: o.stunAltPort as number | undefined,
        stunUrls: toList(o.stun === false || o.stun === true ? undefined : o.stun),
        turnUrls: toList(o.turn),
        turnSecret: o.turnSecret as string | undefined,
        turnTtlSeconds: o.turnTtl as number,
        interestFallbackMs: o.interestWait as number,
        rematchCooldownMs: o.rematchCooldown as number,
        privateCodeTtlMs: o.privateTtl as number,
        heartbeatMs: o.heartbeat as number,
        messagesPerSecond: o.maxMessagesPerSecond as number,
        nextsPerMinute: o.maxNextsPerMinute as number,
        maxConnectionsPerAddress: o.maxConnectionsPerAddress as number,
        redisUrl: o.redis as string | undefined,
        nodeId: o.nodeId as string | undefined,
        nodeTtlMs: o.nodeTtl as number,
        tlsCert: o.tlsCert as string | undefined,
        tlsKey: o.tlsKey as string | undefined,
        trustProxy: !!o.trustProxy,
        allowedOrigins: toList(o.allowedOrigin),
        logLevel: o.logLevel as string,
        json: !!o.json,
        demoBots: o.demoBots as number | undefined,
      }, {}, io.out, io.err);
      await untilSignal(server, io.out, !!o.json);
    });

  addConnectCommand(program, io);
  addProbeCommand(program, io);
  addBotsCommand(program, io);

  return program;
}

