/** The `connect` command's options and help; the action validates and calls {@link runConnect}. */
import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intArg, positiveArg, tagList } from './parsers.js';
import { runConnect, targetFor, type ConnectOptions } from './connect.js';
import { ChatzyoError } from '../protocol/index.js';
import { readCaFile } from '../peer/index.js';

function evenInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 16 || n > 3840 || n % 2 !== 0) throw new InvalidArgumentError(`${name} must be an even number of pixels from 16 to 3840.`);
    return n;
  };
}

/** Adds `chatzyo connect` to `program`. */
export function addConnectCommand(program: Command, io: CliIO & { in?: NodeJS.ReadableStream }) {
  return program
    .command('connect')
    .summary('meet someone from a terminal, as a headless peer')
    .description('Join a hub (or a private call) as a headless peer: stream a test pattern or a file, receive, chat.')
    .addOption(new Option('--server <url>', 'chatzyo server').default('http://localhost:8080').env('CHATZYO_SERVER'))
    .addOption(new Option('--room <hub>', 'hub to join, e.g. tamil'))
    .addOption(new Option('--private <code>', 'join a private call by its code (or its link)'))
    .addOption(new Option('--create-private', 'create a private call and print its code and link'))
    .addOption(new Option('--interests <tags>', 'comma-separated interest tags').argParser(tagList))
    .addOption(new Option('--video <source>', 'testsrc | FILE (looped) | camera[:/dev/videoN]').default('testsrc'))
    .addOption(new Option('--no-video', 'send no video'))
    .addOption(new Option('--audio <source>', 'sine | FILE (looped) | mic[:DEVICE] (PulseAudio) | alsa:DEVICE').default('sine'))
    .addOption(new Option('--no-audio', 'send no audio'))
    .addOption(new Option('--codec <codec>', 'video codec').choices(['vp8', 'h264'] as const).default('vp8' as const))
    .addOption(new Option('--width <px>', 'video width').default(640).argParser(evenInt('--width')))
    .addOption(new Option('--height <px>', 'video height').default(480).argParser(evenInt('--height')))
    .addOption(new Option('--fps <n>', 'video frame rate').default(15).argParser(intArg('--fps', 1, 60)))
    .addOption(new Option('--video-bitrate <kbps>', 'video bitrate of the best rendition, kbit/s').default(600).argParser(intArg('--video-bitrate', 1, 20_000)))
    .addOption(new Option('--audio-bitrate <kbps>', 'Opus bitrate, kbit/s').default(32).argParser(intArg('--audio-bitrate', 1, 510)))
    .addOption(new Option('--no-nearby', 'do not time the server\'s landmarks: be paired without regard to distance (default: send coarse round trips to them with join)'))
    .addOption(new Option('--no-adapt', 'send one rendition at --video-bitrate whatever the network (default: encode a ladder of 4 and follow the bandwidth estimate)'))
    .addOption(new Option('--keyframe-interval <seconds>', 'seconds between keyframes with --no-adapt (the ladder sends one when it starts, changes rendition or is asked: none on a timer)').default(1).argParser(positiveArg('--keyframe-interval')))
    .addOption(new Option('--record <file.webm>', 'record what the partner sends (partner 2 goes to FILE-2.webm, ...)'))
    .addOption(new Option('--say <text>', 'send this chat message to each partner once connected'))
    .addOption(new Option('--next-after <seconds>', 'press Next this long after each connection').argParser(positiveArg('--next-after')))
    .addOption(new Option('--duration <seconds>', 'end the run after this long').argParser(positiveArg('--duration')))
    .addOption(new Option('--max-partners <n>', 'end after this many partners').argParser(intArg('--max-partners', 1, 100_000)))
    .addOption(new Option('--relay-only', 'use TURN relay candidates only (the partner never sees your addresses)'))
    .addOption(new Option('-4, --ipv4', 'use IPv4 only: reach the server and gather candidates over IPv4').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'use IPv6 only: reach the server and gather candidates over IPv6').conflicts('ipv4'))
    .addOption(new Option('--connect-timeout <seconds>', 'fail when no call connects within this long of the start').argParser(positiveArg('--connect-timeout')))
    .addOption(new Option('--ca <file>', 'PEM file of CA certificates (or the server\'s own certificate) to trust for wss://, besides Node\'s roots and NODE_EXTRA_CA_CERTS'))
    .addOption(new Option('--cache-dir <dir>', 'where the server\'s anonymous token is kept between runs (default: $XDG_CACHE_HOME/chatzyo or ~/.cache/chatzyo)').env('CHATZYO_CACHE_DIR'))
    .addOption(new Option('--age-assertion <assertion>', 'over-18 assertion from the server\'s age verifier, for a server that requires one').env('CHATZYO_AGE_ASSERTION'))
    .addOption(new Option('--ffmpeg <path>', 'ffmpeg binary (default: CHATZYO_FFMPEG, ffmpeg-static, then PATH)'))
    .addOption(new Option('--json', 'print one JSON object per line (the default when stdout is not a TTY)').env('CHATZYO_JSON'))
    .addHelpText('after', `
At a TTY: n next, q quit, type and press Enter to chat (Enter on an empty line first to start a
message with n or q); /report REASON (nudity, harassment, minor, spam, other) reports the
stranger. With --json, stdin lines are chat messages; /next, /report REASON and /quit are commands.

JSON events: welcome, queued, private-created, matched, connected, safety, safety-problem,
chat-open, chat, chat-sent, stats (every second), partner-left, next, reported, gave-up, ice-restart,
disconnected, warning, server-error, error, closed.

Exit codes: 0 clean end, 1 other error, 2 usage, 3 server unreachable (or its TLS certificate
not accepted: CHZ_ERR_TLS_UNTRUSTED, with a hint), 4 ffmpeg missing, 5 camera/microphone/file
missing, 6 no connection within --connect-timeout.

Examples:
  $ chatzyo connect --room tamil
  $ chatzyo connect --server https://chat.example.com --ca ./chat-ca.pem --create-private --record partner.webm
  $ chatzyo connect --room usa --json --say "hi from a bot" --next-after 20 --max-partners 5`)
    .action(async (raw, cmd) => {
      // Typed by the option definitions above (commander's extra-typings): no casts.
      const o: ConnectOptions = {
        server: raw.server,
        room: raw.room,
        private: raw.private,
        createPrivate: !!raw.createPrivate,
        interests: raw.interests,
        video: raw.video,
        audio: raw.audio,
        codec: raw.codec,
        width: raw.width,
        height: raw.height,
        fps: raw.fps,
        videoBitrate: raw.videoBitrate,
        audioBitrate: raw.audioBitrate,
        keyframeInterval: raw.keyframeInterval,
        adapt: raw.adapt !== false,
        nearby: raw.nearby !== false,
        record: raw.record,
        say: raw.say,
        nextAfter: raw.nextAfter,
        duration: raw.duration,
        maxPartners: raw.maxPartners,
        relayOnly: !!raw.relayOnly,
        ipFamily: raw.ipv6 ? 6 : raw.ipv4 ? 4 : undefined,
        connectTimeout: raw.connectTimeout,
        ffmpeg: raw.ffmpeg,
        ca: raw.ca,
        cacheDir: raw.cacheDir,
        ageAssertion: raw.ageAssertion,
        json: !!raw.json,
      };
      // Usage errors print through commander (with the help hint) and exit 2.
      try {
        targetFor(o);
      } catch (err) {
        cmd.error(`error: ${(err as ChatzyoError).message}`, { exitCode: 2, code: 'commander.invalidArgument' });
      }
      if (o.ca) {
        try { readCaFile(o.ca); } catch (err) { cmd.error(`error: ${(err as ChatzyoError).message}`, { exitCode: 2, code: 'commander.invalidArgument' }); }
      }
      if (o.record && !/\.webm$/i.test(o.record)) {
        cmd.error('error: --record writes webm: give a file name ending in .webm.', { exitCode: 2, code: 'commander.invalidArgument' });
      }
      const tty = !o.json && !!(io.out as NodeJS.WriteStream).isTTY;
      await runConnect(o, { out: io.out, err: io.err, in: io.in ?? process.stdin, tty });
    });
}
