/** The `probe` command's options and help; the action validates and calls {@link runProbe}. */
import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { runProbe } from './probe.js';
import { REQUIREMENTS } from '../probe/index.js';

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function lifetimeSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new InvalidArgumentError('--lifetime must be a whole number of seconds from 1 to 3600.');
  return n;
}

/** The longest wait of --lifetime given without a value. */
const DEFAULT_LIFETIME_S = 120;

/** Adds `chatzyo probe` to `program`. */
export function addProbeCommand(program: Command, io: CliIO) {
  return program
    .command('probe')
    .summary('test this network: will calls connect here?')
    .description('Test what this network allows (STUN, NAT type, TURN, signaling, a real call) and say whether calls will connect.')
    .addOption(new Option('--server <url>', 'chatzyo server: its STUN/TURN settings and TURN credentials are used, and signaling is measured').env('CHATZYO_SERVER'))
    .addOption(new Option('--stun <url>', 'a STUN server to test, e.g. stun:stun.example.com:3478 (repeatable)').argParser(repeat))
    .addOption(new Option('--turn <url>', 'a TURN server to test, e.g. turns:turn.example.com:443?transport=tcp (repeatable)').argParser(repeat))
    .addOption(new Option('--turn-user <name>', 'TURN username for --turn'))
    .addOption(new Option('--turn-pass <password>', 'TURN password for --turn').env('CHATZYO_TURN_PASS'))
    .addOption(new Option('--lifetime [seconds]', `also measure how long the NAT keeps an idle UDP mapping (waits up to this long; default ${DEFAULT_LIFETIME_S})`).argParser(lifetimeSeconds))
    .addOption(new Option('--no-ice', 'skip the end-to-end test calls (and the uplink test)'))
    .addOption(new Option('--no-uplink', 'skip the uplink test (a few seconds of video-sized packets at rising rates through TURN)'))
    .addOption(new Option('--ca <file>', 'PEM file of extra CA certificates to trust for wss:// and turns:'))
    .addOption(new Option('--json', 'print one JSON document (stun, nat, turn, signal, ice, verdict, advice, ...)').env('CHATZYO_JSON'))
    .addOption(new Option('--require <kind>', 'exit 1 (the reason on stderr) unless calls of this kind will work here: direct (peer to peer), relay (through TURN) or any').choices(REQUIREMENTS))
    .addHelpText('after', `
Checks: local interfaces and host candidates; IPv4 and IPv6 each on its own (addresses, the
server and STUN over each family; says when the network is IPv6-only); each STUN server (RTT,
public address); the NAT's mapping and filtering (RFC 5780 when the server supports it, e.g.
chatzyo serve --stun-alt-address; otherwise by comparing two servers), hairpinning, UDP
blocked; each TURN server per transport (allocation, bad credentials vs unreachable, RTT
through the relay); signaling connect time and RTT; two test peers calling each other,
normally and relay-only; then, with a TURN server, the uplink test: a relayed call that
ramps its rate (150 kbit/s up to 5 Mbit/s, about 5 s) to find the rate your connection
sustains up to the TURN server and back down (the smaller of your upload and download), with
its round trip, jitter, loss and estimated MOS.
Then a verdict in plain words, and advice. Every check has its own deadline.

Exit codes: 0 the probe ran (read the verdict), 2 usage error. With --require KIND:
0 calls of that kind will work here, 1 they will not, 3 it could not be measured (e.g. the
NAT type behind a NAT, with one STUN server that lacks RFC 5780); the reason goes to stderr.

Examples:
  $ chatzyo probe --server https://chat.example.com
  $ chatzyo probe --stun stun:stun.example.com:3478 --stun stun:stun2.example.com:3478 --json
  $ chatzyo probe --turn turns:turn.example.com:443?transport=tcp --turn-user alice --turn-pass s3cret`)
    .action(async (raw) => {
      // Typed by the option definitions above (commander's extra-typings): no casts.
      const json = !!raw.json;
      await runProbe({
        server: raw.server,
        stun: raw.stun,
        turn: raw.turn,
        turnUser: raw.turnUser,
        turnPass: raw.turnPass,
        lifetime: raw.lifetime === true ? DEFAULT_LIFETIME_S : raw.lifetime,
        ice: raw.ice !== false,
        uplink: raw.uplink !== false,
        ca: raw.ca,
        json,
        require: raw.require,
      }, { out: io.out, err: io.err, tty: !json && !!(io.out as NodeJS.WriteStream).isTTY });
    });
}
