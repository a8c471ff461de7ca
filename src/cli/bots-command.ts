/** The `bots` command's options and help; the action validates and calls {@link runBots}. */
import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { ChatzyoError } from '../protocol/index.js';
import { BOTS_DEFAULTS, DEFAULT_CLIP, validateBotsOptions } from '../bots/index.js';
import type { CliIO } from './io.js';
import { intArg, positiveArg, tagList } from './parsers.js';
import { runBots, type BotsCliOptions } from './bots.js';
import { readCaFile } from '../peer/index.js';
import { NETWORK_PROFILE_NAMES } from '../lab/index.js';

/** A share for `flag`: 0.05 or 5%. */
function shareArg(flag: string): (value: string) => number {
  return (value) => {
    const pct = value.trim().endsWith('%');
    const n = Number(pct ? value.trim().slice(0, -1) : value);
    const share = pct ? n / 100 : n;
    if (!Number.isFinite(share) || share < 0 || share > 1) throw new InvalidArgumentError(`${flag} is a share from 0 to 1, or a percentage such as 5%.`);
    return share;
  };
}

/** An estimated MOS, 1 to 4.5. */
function mosArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1 || n > 4.5) throw new InvalidArgumentError('--min-mos is a MOS from 1 to 4.5 (4.4: a perfect path; 3.5: fair).');
  return n;
}

/** A share: 0.01 or 1%. */
function parseRate(value: string): number {
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
export function addBotsCommand(program: Command, io: CliIO) {
  return program
    .command('bots')
    .summary('load-test a deployment with bots; pass or fail')
    .description('Put a load on a deployment with bots that join, match and call each other; report percentiles and pass or fail.')
    .addOption(new Option('--server <urls>', 'chatzyo server URL, or several separated by commas (bots are spread over them)').default(DEFAULT_SERVERS, 'http://localhost:8080').argParser(csv).env('CHATZYO_SERVER'))
    .addOption(new Option('-n, --count <n>', 'number of bots (use an even number: bots pair up)').default(10).argParser(intArg('--count', 1, 1_000_000)))
    .addOption(new Option('--mode <mode>', 'signal: WebSocket clients only (thousands per process); media: werift peers with video and audio').choices(['signal', 'media'] as const).default('signal' as const))
    .addOption(new Option('--rooms <hubs>', 'hubs to spread the pairs over').default(DEFAULT_ROOMS, 'global').argParser(csv))
    .addOption(new Option('--ramp <per-second>', `bots started per second (default ${BOTS_DEFAULTS.rampSignal} in signal mode, ${BOTS_DEFAULTS.rampMedia} in media mode)`).argParser(positiveArg('--ramp', ' of bots per second')))
    .addOption(new Option('--duration <seconds>', 'run this long (bots re-join after each partner); without it the run ends once every bot has connected or failed').argParser(positiveArg('--duration', ' of seconds')))
    .addOption(new Option('--next-every <seconds>', 'churn: each pair presses Next this long after connecting (needs --duration)').argParser(positiveArg('--next-every', ' of seconds')))
    .addOption(new Option('--interests <tags>', 'interest tags; each pair joins with one of them').argParser(tagList))
    .addOption(new Option('--private', 'pair by private call codes instead of hubs'))
    .addOption(new Option('--relay-only', 'media mode: TURN relay candidates only'))
    .addOption(new Option('-4, --ipv4', 'IPv4 only: reach the servers (and, in media mode, gather candidates) over IPv4').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'IPv6 only: reach the servers (and, in media mode, gather candidates) over IPv6').conflicts('ipv4'))
    .addOption(new Option('--match-timeout <seconds>', 'a bot waiting longer for a partner fails in the match phase').default(BOTS_DEFAULTS.matchTimeoutS).argParser(positiveArg('--match-timeout', ' of seconds')))
    .addOption(new Option('--connect-timeout <seconds>', 'a bot not connected (media: no video) this long after its match fails').default(BOTS_DEFAULTS.connectTimeoutS).argParser(positiveArg('--connect-timeout', ' of seconds')))
    .addOption(new Option('--hold <seconds>', 'media mode, without --duration: how long each bot measures the media it receives').default(BOTS_DEFAULTS.holdS).argParser(positiveArg('--hold', ' of seconds')))
    .addOption(new Option('--workers <n>', 'worker threads (default: one per core, at most one per 10 media pairs or 500 signal bots)').argParser(intArg('--workers', 1, 256)))
    .addOption(new Option('--source <source>', 'media mode: replay the pre-encoded clip, or run ffmpeg encoders per bot (to compare)').choices(['clip', 'ffmpeg'] as const).default('clip' as const))
    .addOption(new Option('--no-adapt', 'media mode: every call replays the top rung of the clip (320x240, 300 kbit/s) instead of picking a rung of the clip ladder from its bandwidth estimate'))
    .addOption(new Option('--ca <file>', 'PEM file of CA certificates (or the server\'s own certificate) to trust for wss://, besides Node\'s roots and NODE_EXTRA_CA_CERTS'))
    .addOption(new Option('--ffmpeg <path>', 'ffmpeg binary, used once to make the clip (default: CHATZYO_FFMPEG, ffmpeg-static, then PATH)'))
    .addOption(new Option('--max-fail-rate <share>', 'fail when more attempts than this failed (0.01 or 1%)').default(BOTS_DEFAULTS.maxFailRate).argParser(parseRate))
    .addOption(new Option('--max-p95-connect-ms <ms>', 'fail when the p95 time from match to connected is higher').argParser(positiveArg('--max-p95-connect-ms', ' of milliseconds')))
    .addOption(new Option('--max-p95-match-ms <ms>', 'fail when the p95 time from join to match is higher').argParser(positiveArg('--max-p95-match-ms', ' of milliseconds')))
    .addOption(new Option('--min-bitrate-kbps <kbps>', 'media mode: fail when the p5 of the per-bot receive bitrate is lower').argParser(positiveArg('--min-bitrate-kbps', ' of kbit/s')))
    .addOption(new Option('--network <profile>', `media mode: put every bot behind a lab network profile (${NETWORK_PROFILE_NAMES.join(', ')}, or custom:rtt=120ms,jitter=15ms,loss=2%,up=500kbit,down=2mbit); the server stays on the clean side, calls are relay-only through the server's TURN`))
    .addOption(new Option('--max-freeze-ratio <share>', 'media mode: fail when the p95 of the per-bot freeze ratio (time frozen over time with video) is higher (0.05 or 5%)').argParser(shareArg('--max-freeze-ratio')))
    .addOption(new Option('--max-p95-latency-ms <ms>', 'media mode: fail when the p95 of the per-bot p95 latency is higher').argParser(positiveArg('--max-p95-latency-ms', ' of milliseconds')))
    .addOption(new Option('--min-mos <mos>', 'media mode: fail when the p5 of the per-bot estimated MOS (1 to 4.5) is lower').argParser(mosArg))
    .addOption(new Option('--junit <file>', 'also write the result as JUnit XML (one testcase per threshold and per phase) for CI'))
    .addOption(new Option('--json', 'print one JSON document with the summary at the end').env('CHATZYO_JSON'))
    .addHelpText('after', `
Each bot times its phases: signal (WebSocket open to welcome), match (join to matched), then
in signal mode the offer/answer/candidates exchange, in media mode ice, dtls and the first
video packet. The summary has p50/p95/p99/max of each, failed attempts by phase, per-bot
receive bitrate and loss, server errors, and the bots' CPU and memory.

Media mode also measures what each bot's partner video looks like to a viewer: fps, freeze
ratio (WebRTC's freeze: a gap over max(3x the average, average + 150 ms)), latency and an
estimated MOS. Each media bot replays a pre-encoded clip ladder (320x240 at 300 kbit/s, 240x180
at 150, 160x120 at 60, 160x120 at 3 fps) and picks the rung for each call from a bandwidth
estimate of the partner's feedback, as \`chatzyo connect\` does; the summary says which rung
the bots ended on (--no-adapt: always the top rung). --network PROFILE puts every bot behind a lab profile (good, 4g, 3g, low-upload,
lossy-5, lossy-10, high-latency, satellite, custom:...) through the server's TURN, for example
--network 3g --max-freeze-ratio 5% --max-p95-latency-ms 800 --min-mos 3.5 --junit bots.xml
(--junit writes JUnit XML for CI: a testcase per threshold and per phase).

The server limits connections per address (--max-connections-per-address, default 20): start
it with a limit above --count when the bots run from one machine.

Before the run, each https:// server's certificate is checked with the trust the bots use: one
that is not accepted stops the run with CHZ_ERR_TLS_UNTRUSTED and a hint (--ca FILE,
NODE_EXTRA_CA_CERTS, or the name on the certificate).

Exit codes: 0 every threshold held, 1 one did not (printed), 2 bad arguments, 3 a server's TLS
certificate not accepted.

Examples:
  $ chatzyo bots --server http://localhost:8080 --count 200 --ramp 100
  $ chatzyo bots --mode media --count 4 --rooms tamil,usa --duration 8 --next-every 5
  $ chatzyo bots --server https://chat.example.com --ca ./chat-ca.pem --count 200 --json --max-p95-match-ms 2000   # a CI gate: exit 1 on a miss`)
    .action(async (raw, cmd) => {
      // Typed by the option definitions above (commander's extra-typings): no casts.
      const o: BotsCliOptions = {
        servers: raw.server,
        count: raw.count,
        mode: raw.mode,
        rooms: raw.rooms,
        rampPerSecond: raw.ramp,
        durationS: raw.duration,
        nextEveryS: raw.nextEvery,
        interests: raw.interests,
        private: !!raw.private,
        relayOnly: !!raw.relayOnly,
        ipFamily: raw.ipv6 ? 6 : raw.ipv4 ? 4 : undefined,
        matchTimeoutS: raw.matchTimeout,
        connectTimeoutS: raw.connectTimeout,
        holdS: raw.hold,
        workers: raw.workers,
        source: raw.source,
        ...(raw.adapt === false ? { clip: { ...DEFAULT_CLIP, adapt: false } } : {}),
        ffmpegPath: raw.ffmpeg,
        caFile: raw.ca,
        thresholds: {
          maxFailRate: raw.maxFailRate,
          maxP95ConnectMs: raw.maxP95ConnectMs,
          maxP95MatchMs: raw.maxP95MatchMs,
          minBitrateKbps: raw.minBitrateKbps,
          maxFreezeRatio: raw.maxFreezeRatio,
          maxP95LatencyMs: raw.maxP95LatencyMs,
          minMos: raw.minMos,
        },
        network: raw.network,
        junitFile: raw.junit,
        json: !!raw.json,
      };
      if (o.private && cmd.getOptionValueSource('rooms') !== 'default') {
        cmd.error('error: --private calls have no hub: drop --rooms.', { exitCode: 2, code: 'commander.invalidArgument' });
      }
      // Usage errors print through commander (with the help hint) and exit 2.
      try {
        if (o.caFile) readCaFile(o.caFile);
        validateBotsOptions(o);
      } catch (err) {
        cmd.error(`error: ${(err as ChatzyoError).message}`, { exitCode: 2, code: 'commander.invalidArgument' });
      }
      const tty = !o.json && !!(io.out as NodeJS.WriteStream).isTTY;
      await runBots(o, { out: io.out, err: io.err, tty });
    });
}
