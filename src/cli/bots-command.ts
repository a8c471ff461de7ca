/** The `bots` command's options and help; the action validates and calls {@link runBots}. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ChatzyoError } from '../protocol/index.js';
import { BOTS_DEFAULTS, validateBotsOptions, type BotsOptions } from '../bots/index.js';
import type { CliIO } from './program.js';
import { intArg, positiveArg, tagList } from './parsers.js';
import { runBots } from './bots.js';

/** A share: 0.01 or 1%. */
export function parseRate(value: string): number {
  const pct = value.trim().endsWith('%');
  const n = Number(pct ? value.trim().slice(0, -1) : value);
  const share = pct ? n / 100 : n;
  if (!Number.isFinite(share) || share < 0 || share > 1) throw new InvalidArgumentError('--max-fail-rate is a share from 0 to 1, or a percentage such as 1%.');
  return share;
}
const DEFAULT_SERVERS = ['http://localhost:8080'];
const DEFAULT_ROOMS: string[] = [...BOTS_DEFAULTS.rooms];
/** A comma list; repeating the option adds to it, and a given list replaces the default. */
function csv(value: string, previous: string[] | undefined): string[] {
  const base = previous === DEFAULT_SERVERS || previous === DEFAULT_ROOMS ? [] : previous ?? [];
  return [...base, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** Adds `chatzyo bots` to `program`. */
export function addBotsCommand(program: Command, io: CliIO): Command {
  return program
    .command('bots')
    .description('Put a load on a deployment with bots that join, match and call each other; report percentiles and pass or fail.')
    .addOption(new Option('--server <urls>', 'chatzyo server URL, or several separated by commas (bots are spread over them)').default(DEFAULT_SERVERS, 'http://localhost:8080').argParser(csv).env('CHATZYO_SERVER'))
    .addOption(new Option('-n, --count <n>', 'number of bots (use an even number: bots pair up)').default(10).argParser(intArg('--count', 1, 1_000_000)))
    .addOption(new Option('--mode <mode>', 'signal: WebSocket clients only (thousands per process); media: werift peers with video and audio').choices(['signal', 'media']).default('signal'))
    .addOption(new Option('--rooms <hubs>', 'hubs to spread the pairs over').default(DEFAULT_ROOMS, 'global').argParser(csv))
    .addOption(new Option('--ramp <per-second>', `bots started per second (default ${BOTS_DEFAULTS.rampSignal} in signal mode, ${BOTS_DEFAULTS.rampMedia} in media mode)`).argParser(positiveArg('--ramp', ' of bots per second')))
    .addOption(new Option('--duration <seconds>', 'run this long (bots re-join after each partner); without it the run ends once every bot has connected or failed').argParser(positiveArg('--duration', ' of seconds')))
    .addOption(new Option('--next-every <seconds>', 'churn: each pair presses Next this long after connecting (needs --duration)').argParser(positiveArg('--next-every', ' of seconds')))
    .addOption(new Option('--interests <tags>', 'interest tags; each pair joins with one of them').argParser(tagList))
    .addOption(new Option('--private', 'pair by private call codes instead of hubs'))
    .addOption(new Option('--relay-only', 'media mode: TURN relay candidates only'))
    .addOption(new Option('--match-timeout <seconds>', 'a bot waiting longer for a partner fails in the match phase').default(BOTS_DEFAULTS.matchTimeoutS).argParser(positiveArg('--match-timeout', ' of seconds')))
    .addOption(new Option('--connect-timeout <seconds>', 'a bot not connected (media: no video) this long after its match fails').default(BOTS_DEFAULTS.connectTimeoutS).argParser(positiveArg('--connect-timeout', ' of seconds')))
    .addOption(new Option('--hold <seconds>', 'media mode, without --duration: how long each bot measures the media it receives').default(BOTS_DEFAULTS.holdS).argParser(positiveArg('--hold', ' of seconds')))
    .addOption(new Option('--workers <n>', 'worker threads (default: one per core, at most one per 10 media pairs or 500 signal bots)').argParser(intArg('--workers', 1, 256)))
    .addOption(new Option('--source <source>', 'media mode: replay the pre-encoded clip, or run ffmpeg encoders per bot (to compare)').choices(['clip', 'ffmpeg']).default('clip'))
    .addOption(new Option('--ffmpeg <path>', 'ffmpeg binary, used once to make the clip (default: CHATZYO_FFMPEG, ffmpeg-static, then PATH)'))
    .addOption(new Option('--max-fail-rate <share>', 'fail when more attempts than this failed (0.01 or 1%)').default(BOTS_DEFAULTS.maxFailRate).argParser(parseRate))
    .addOption(new Option('--max-p95-connect-ms <ms>', 'fail when the p95 time from match to connected is higher').argParser(positiveArg('--max-p95-connect-ms', ' of milliseconds')))
    .addOption(new Option('--max-p95-match-ms <ms>', 'fail when the p95 time from join to match is higher').argParser(positiveArg('--max-p95-match-ms', ' of milliseconds')))
    .addOption(new Option('--min-bitrate-kbps <kbps>', 'media mode: fail when the p5 of the per-bot receive bitrate is lower').argParser(positiveArg('--min-bitrate-kbps', ' of kbit/s')))
    .addOption(new Option('--json', 'print one JSON document with the summary at the end').env('CHATZYO_JSON'))
    .addHelpText('after', `
Each bot times its phases: signal (WebSocket open to welcome), match (join to matched), then
in signal mode the offer/answer/candidates exchange, in media mode ice, dtls and the first
video packet. The summary has p50/p95/p99/max of each, failed attempts by phase, per-bot
receive bitrate and loss, server errors, and the bots' CPU and memory.

The server limits connections per address (--max-connections-per-address, default 20): start
it with a limit above --count when the bots run from one machine.

Exit codes: 0 every threshold held, 1 one did not (printed), 2 bad arguments.

Examples:
  $ chatzyo bots --server http://localhost:8080 --count 1000 --ramp 200
  $ chatzyo bots --mode media --count 40 --rooms tamil,usa --duration 60 --next-every 20
  $ chatzyo bots --mode media --count 20 --json --max-p95-connect-ms 3000 --min-bitrate-kbps 250`)
    .action(async (raw: Record<string, unknown>, cmd: Command) => {
      const o: BotsOptions & { json: boolean } = {
        servers: raw.server as string[],
        count: raw.count as number,
        mode: raw.mode as 'signal' | 'media',
        rooms: raw.rooms as string[],
        rampPerSecond: raw.ramp as number | undefined,
        durationS: raw.duration as number | undefined,
        nextEveryS: raw.nextEvery as number | undefined,
        interests: raw.interests as string[] | undefined,
        private: !!raw.private,
        relayOnly: !!raw.relayOnly,
        matchTimeoutS: raw.matchTimeout as number,
        connectTimeoutS: raw.connectTimeout as number,
        holdS: raw.hold as number,
        workers: raw.workers as number | undefined,
        source: raw.source as 'clip' | 'ffmpeg',
        ffmpegPath: raw.ffmpeg as string | undefined,
        thresholds: {
          maxFailRate: raw.maxFailRate as number,
          maxP95ConnectMs: raw.maxP95ConnectMs as number | undefined,
          maxP95MatchMs: raw.maxP95MatchMs as number | undefined,
          minBitrateKbps: raw.minBitrateKbps as number | undefined,
        },
        json: !!raw.json,
      };
      if (o.private && cmd.getOptionValueSource('rooms') !== 'default') {
        cmd.error('error: --private calls have no hub: drop --rooms.', { exitCode: 2, code: 'commander.invalidArgument' });
      }
      // Usage errors print through commander (with the help hint) and exit 2.
      try {
        validateBotsOptions(o);
      } catch (err) {
        cmd.error(`error: ${(err as ChatzyoError).message}`, { exitCode: 2, code: 'commander.invalidArgument' });
      }
      const tty = !o.json && !!(io.out as NodeJS.WriteStream).isTTY;
      await runBots(o, { out: io.out, err: io.err, tty });
    });
}
