/**
 * The verdict: turns the checks' results into one sentence a person understands and a list of
 * concrete things to do. A pure function of the results, so every branch is unit tested.
 *
 * The reasoning follows RFC 8445 and RFC 4787: two peers connect directly when at least one
 * side's NAT keeps one mapping per local port (endpoint-independent mapping), since the other
 * side can then reach the address STUN saw; a symmetric NAT (address(-and-port)-dependent
 * mapping) hands a new port to every destination, so with a filtering NAT on the other side
 * only a TURN relay gets through.
 */
import { isSymmetric } from './nat-classify.js';
import type { FamilyReach, IceResult, IpResult, NatResult, SignalResult, StunResult, TurnResult, UplinkResult, Verdict } from './report.js';

/** What the verdict reads. */
export interface VerdictInput {
  /** The chatzyo server given with --server, if any. */
  server: string | null;
  stun: StunResult[];
  nat: NatResult;
  turn: TurnResult[];
  signal: SignalResult | null;
  ice: IceResult[];
  /** The TURN credentials came from the server's welcome (so a 401 means the server's secret is wrong). */
  turnCredentialsFromServer: boolean;
  /** IPv4 and IPv6 on their own (absent: not checked). */
  ip?: IpResult | null;
  /**
   * The uplink test (src/probe/upload-ramp.ts). Absent: not considered (no quality line); null
   * or a result that is not `measured`: the advice says the upload is unknown, and why.
   */
  uplink?: UplinkResult | null;
}

/** The verdict and the advice. */
export interface VerdictOutput { verdict: Verdict; advice: string[] }

const TESTED = (t: TurnResult) => t.status !== 'not-tested';

/** How to measure NAT filtering, for a sentence that says it is unknown. */
export const HOW_TO_MEASURE_FILTERING = 'probe a chatzyo server started with --stun-alt-address IP2 (RFC 5780) to measure it';

/**
 * What the verdict rules read, computed once from the results. Every field is a measurement or
 * says that it is not one (`unknown`, `none-configured`), so a rule cannot assume what was not
 * measured.
 */
export interface VerdictFacts {
  /** --server was given and its signaling check failed. */
  serverUnreachable: boolean;
  /** No STUN server answered over UDP (every one timed out) and no TURN allocation over UDP worked. */
  udpBlocked: boolean;
  /** The IPv4/IPv6 check ran and found no IPv4 address. */
  ipv6Only: boolean;
  /** `none-configured`: no TURN server was given or announced; `failed`: none allocated. */
  turn: 'ok' | 'failed' | 'none-configured';
  /** Transports (TCP, TLS) over which a TURN allocation worked. */
  turnOverStream: string[];
  /** Some TURN allocation handed out an IPv4 relay address. */
  turnIpv4Relay: boolean;
  /** The mapping, grouped: `unknown` when it could not be measured. */
  mapping: 'none' | 'endpoint-independent' | 'symmetric' | 'unknown';
  /** How far the filtering lets symmetric-NAT partners in: `unknown` when it could not be measured. */
  filtering: 'open' | 'ports-of-known-ips' | 'exact-replies' | 'unknown';
  filteringValue: NatResult['filtering'];
  /** Some STUN server answered. */
  stunReachable: boolean;
  /** A relay-only test call connected (empty: it did not, or did not run). */
  relayProven: string;
}

/** One verdict branch: the first rule whose `when` holds decides. */
interface VerdictRule {
  code: string;
  level: Verdict['level'];
  when: (f: VerdictFacts) => boolean;
  summary: (f: VerdictFacts, r: VerdictInput) => string;
}

const turnAbsent = (f: VerdictFacts, what = 'no TURN server works') => f.turn === 'none-configured' ? 'no TURN server is configured' : f.turn === 'failed' ? 'the TURN server did not work' : what;
const symmetricMapping = 'You are behind a symmetric NAT (a new public port for every destination)';
const ipv6OnlyWords = 'This network is IPv6-only (no interface has an IPv4 address): direct calls can reach only partners who have IPv6';

/**
 * What the filtering means for partners behind symmetric NATs, who reach you only if your
 * filtering lets in packets from a new port of an address you sent to (RFC 4787 section 5).
 */
function filteringTail(f: VerdictFacts): string {
  const relay = f.turn === 'ok' ? `the TURN relay, which works here${f.relayProven}, covers them` : `that needs TURN, and ${turnAbsent(f)}`;
  switch (f.filtering) {
    case 'open':
      return '';
    case 'ports-of-known-ips':
      return ' People behind symmetric NATs can reach you too: your filtering lets in packets from new ports of addresses you sent to.';
    case 'exact-replies':
      return ` People behind symmetric NATs cannot reach you directly: ${relay}.`;
    case 'unknown':
      return ` Whether people behind symmetric NATs can reach you directly is unknown: NAT filtering was not measured (${HOW_TO_MEASURE_FILTERING}).${f.turn === 'ok' ? ` If they cannot, ${relay}.` : ` If they cannot, ${relay.replace(/^that/, 'they')}.`}`;
  }
}

const FILTERING_SENTENCE: Record<VerdictFacts['filtering'], string> = {
  open: 'nothing filters incoming UDP',
  'ports-of-known-ips': 'a firewall lets in packets only from addresses you sent to',
  'exact-replies': 'a firewall lets in only replies from exactly where you sent',
  unknown: 'whether a firewall filters incoming UDP is unknown',
};

/**
 * The verdict branches, in the order they are tried. Each one's summary states only what its
 * `when` measured. {@link VERDICT_CODES} lists them; the tests cover each one.
 */
const VERDICT_RULES: readonly VerdictRule[] = [
  {
    code: 'server-unreachable', level: 'poor', when: (f) => f.serverUnreachable,
    summary: (_f, r) => `Cannot reach the chatzyo server at ${r.server}: nobody can be matched until that works.`,
  },
  {
    code: 'udp-blocked-turn-tcp', level: 'fair', when: (f) => f.udpBlocked && f.turnOverStream.length > 0,
    summary: (f) => `UDP is blocked on this network, or every STUN server is down (none answered over UDP): calls can only go through the TURN server over ${f.turnOverStream.join(' and ')}${f.relayProven}, which adds delay.`,
  },
  {
    code: 'udp-blocked-turn-failed', level: 'poor', when: (f) => f.udpBlocked && f.turn !== 'none-configured',
    summary: () => 'UDP is blocked on this network, or every STUN server is down (none answered over UDP), and no TURN allocation over TCP or TLS worked: if UDP is blocked, calls will not connect.',
  },
  {
    code: 'udp-blocked-no-turn', level: 'poor', when: (f) => f.udpBlocked,
    summary: () => 'UDP is blocked on this network, or every STUN server is down (none answered over UDP), and no TURN server is configured: if UDP is blocked, calls will not connect.',
  },
  {
    code: 'ipv6-only-turn', level: 'fair', when: (f) => f.ipv6Only && f.turnIpv4Relay,
    summary: (f) => `${ipv6OnlyWords}; the TURN relay gives out IPv4 addresses${f.relayProven}, so calls with partners who have IPv4 only go through it.`,
  },
  {
    code: 'ipv6-only-no-relay', level: 'poor', when: (f) => f.ipv6Only && f.turn !== 'none-configured',
    summary: (f) => `${ipv6OnlyWords}, and the TURN server ${f.turn === 'ok' ? 'gave only IPv6 relay addresses' : 'gave no relay address'} here, so partners who have IPv4 only cannot be reached.`,
  },
  {
    code: 'ipv6-only', level: 'poor', when: (f) => f.ipv6Only,
    summary: () => `${ipv6OnlyWords}, and no TURN server is configured to reach those who have IPv4 only.`,
  },
  {
    code: 'symmetric-turn', level: 'fair', when: (f) => f.mapping === 'symmetric' && f.turn === 'ok',
    summary: (f) => `${symmetricMapping}: calls with most people will go through the TURN relay, which works here${f.relayProven}.`,
  },
  {
    code: 'symmetric-turn-failed', level: 'poor', when: (f) => f.mapping === 'symmetric' && f.turn === 'failed',
    summary: () => `${symmetricMapping}: calls with most people need TURN, and the TURN server did not work.`,
  },
  {
    code: 'symmetric-no-turn', level: 'poor', when: (f) => f.mapping === 'symmetric',
    summary: () => `${symmetricMapping}: calls with most people need TURN, and none is configured.`,
  },
  {
    code: 'open', level: 'good', when: (f) => f.mapping === 'none' && f.filtering === 'open',
    summary: () => 'No NAT and nothing filtering UDP: direct calls will work with everyone.',
  },
  {
    code: 'open-firewalled', level: 'good', when: (f) => f.mapping === 'none' && f.filtering !== 'unknown',
    summary: (f) => `Direct calls will work with most people: no NAT, but ${FILTERING_SENTENCE[f.filtering]}${f.filteringValue === 'address-dependent-or-looser' ? ' (or nothing filters: a server with one IP cannot tell)' : ''}.${filteringTail(f)}`,
  },
  {
    code: 'open-filtering-unknown', level: 'good', when: (f) => f.mapping === 'none',
    summary: (f) => `Direct calls will work with most people: no NAT.${filteringTail(f)}`,
  },
  {
    code: 'cone', level: 'good', when: (f) => f.mapping === 'endpoint-independent' && f.filtering !== 'unknown',
    summary: (f) => `Direct calls will work with most people: your NAT keeps one public port per local port.${filteringTail(f)}`,
  },
  {
    code: 'cone-filtering-unknown', level: 'good', when: (f) => f.mapping === 'endpoint-independent',
    summary: (f) => `Direct calls will work with most people: your NAT keeps one public port per local port.${filteringTail(f)}`,
  },
  {
    code: 'no-stun-turn', level: 'fair', when: (f) => !f.stunReachable && f.turn === 'ok',
    summary: (f) => `No STUN server could be used, so the NAT's type could not be measured and whether direct calls over the internet connect is unknown: calls will connect over the LAN or through the TURN relay, which works here${f.relayProven}.`,
  },
  {
    code: 'no-stun', level: 'poor', when: (f) => !f.stunReachable,
    summary: (f) => `No STUN server could be used, so the NAT's type could not be measured and whether direct calls over the internet connect is unknown, and ${turnAbsent(f)}: calls can be relied on only between people on the same network.`,
  },
  {
    code: 'nat-unknown-turn', level: 'fair', when: (f) => f.turn === 'ok',
    summary: (f) => `Your NAT's type could not be measured, so whether direct calls connect is unknown; calls that cannot connect directly go through the TURN relay, which works here${f.relayProven}.`,
  },
  {
    code: 'nat-unknown', level: 'fair', when: () => true,
    summary: (f) => `Your NAT's type could not be measured, so whether direct calls connect is unknown, and ${turnAbsent(f)} as a fallback.`,
  },
];

/** Every verdict code, in the order the branches are tried. */
export const VERDICT_CODES = VERDICT_RULES.map((rule) => rule.code);

/** The facts the rules read. */
export function verdictFacts(r: Omit<VerdictInput, 'turnCredentialsFromServer'>): VerdictFacts {
  const turnTested = r.turn.filter(TESTED);
  const turnOk = turnTested.filter((t) => t.status === 'ok');
  const relayIce = r.ice.find((i) => i.policy === 'relay');
  const m = r.nat.mapping;
  const fl = r.nat.filtering;
  return {
    serverUnreachable: !!(r.server && r.signal && !r.signal.ok),
    // A TURN allocation over UDP proves UDP gets out: then the STUN servers are what is down.
    udpBlocked: r.nat.udpBlocked && !turnOk.some((t) => t.transport === 'udp'),
    ipv6Only: !!r.ip?.ipv6Only,
    turn: turnOk.length ? 'ok' : turnTested.length ? 'failed' : 'none-configured',
    turnOverStream: [...new Set(turnOk.filter((t) => t.transport !== 'udp').map((t) => t.transport.toUpperCase()))],
    turnIpv4Relay: turnOk.some((t) => t.relayed && !t.relayed.address.includes(':')),
    mapping: m === 'none' || m === 'endpoint-independent' ? m : isSymmetric(m) ? 'symmetric' : 'unknown',
    filtering: fl === 'endpoint-independent' ? 'open'
      : fl === 'address-dependent' || fl === 'address-dependent-or-looser' ? 'ports-of-known-ips'
        : fl === 'address-and-port-dependent' ? 'exact-replies' : 'unknown',
    filteringValue: fl,
    stunReachable: r.stun.some((s) => s.reachable),
    relayProven: relayIce?.connected ? ' (a test call through it connected)' : '',
  };
}

/** Decides the verdict and collects advice. */
export function decideVerdict(r: VerdictInput): VerdictOutput {
  const advice: string[] = [];
  const f = verdictFacts(r);
  const turnTested = r.turn.filter(TESTED);
  const turnOk = turnTested.filter((t) => t.status === 'ok');
  const relayIce = r.ice.find((i) => i.policy === 'relay');
  const directIce = r.ice.find((i) => i.policy === 'all');
  const nat = r.nat;

  adviseTurn(r, turnTested, advice);
  if (r.uplink !== undefined) advice.push(uplinkAdvice(r.uplink));
  if (relayIce && !relayIce.connected && turnOk.length) {
    advice.push(turnOk.some((t) => t.transport === 'udp')
      ? 'TURN allocations succeed but a test call relayed through TURN did not connect: check the TURN server\'s relay port range in the firewall and its denied-peer-ip rules.'
      : 'TURN allocations over TCP/TLS succeed but the probe\'s test call relayed over them did not connect. The probe\'s own peers (werift) relay over TCP/TLS less reliably than browsers do: confirm with a browser call before changing the server.');
  }

  const rule = VERDICT_RULES.find((x) => x.when(f))!;
  const verdict = v(rule.level, rule.code, rule.summary(f, r));
  switch (rule.code) {
    case 'server-unreachable':
      advice.unshift(r.signal?.error?.code === 'CHZ_ERR_SERVER_REJECTED'
        ? `The server refused the probe (${r.signal.error.message}); update chatzyo or wait if it limits connections per address.`
        : 'Check the --server URL and that `chatzyo serve` runs there; a proxy or firewall in between must allow WebSocket upgrades (HTTP 101).');
      break;
    case 'udp-blocked-turn-tcp': case 'udp-blocked-turn-failed': case 'udp-blocked-no-turn':
      advice.push('No STUN server answered over UDP: check that the STUN server runs; on a network you control, allow outgoing UDP; otherwise TURN over TCP or TLS (turns: on port 443) is the only way through.');
      break;
    case 'ipv6-only': case 'ipv6-only-no-relay':
      advice.push('Announce a TURN server that this network reaches over IPv6 and that relays to IPv4 (coturn listening on an IPv6 and an IPv4 address), so partners who have IPv4 only can be called through it.');
      break;
    case 'symmetric-no-turn':
      advice.push('Configure a TURN server (coturn) and announce it: chatzyo serve --turn turn:turn.example.com:3478 --turn-secret "$SECRET" (coturn with use-auth-secret and the same static-auth-secret).');
      break;
    case 'no-stun': case 'no-stun-turn':
      if (!r.stun.length) advice.push('Announce a STUN server (chatzyo serve runs one on UDP 3478 unless --no-stun) or pass --stun stun:HOST:PORT.');
      break;
    case 'nat-unknown': case 'nat-unknown-turn':
      advice.push('To classify the NAT, probe a chatzyo server started with --stun-alt-address IP2 (RFC 5780), or give two --stun servers at different addresses.');
      break;
    default:
      break;
  }
  if (!f.serverUnreachable && !f.udpBlocked && !f.ipv6Only && (f.mapping === 'none' || f.mapping === 'endpoint-independent') && f.filtering === 'unknown') {
    const why = nat.method === 'two-server' ? 'comparing what two servers saw shows the mapping only'
      : nat.method === 'rfc5780' || nat.method === 'rfc5780-port-only' ? 'the RFC 5780 filtering tests gave no clear answer'
        : 'the STUN server does not support RFC 5780, so it cannot answer from a second address';
    advice.push(`NAT filtering is unknown (${why}): ${HOW_TO_MEASURE_FILTERING}.`);
  }
  if (f.mapping === 'endpoint-independent' && nat.confidence === 'low') {
    advice.push('The mapping was measured toward a second port of one server IP only, so address-dependent (symmetric) mapping is not ruled out: probe a chatzyo server started with --stun-alt-address IP2 (a second IP) to be sure.');
  }
  if (nat.mapping === 'endpoint-independent' && nat.hairpinning === false) {
    advice.push('Your NAT does not hairpin: two people behind this same NAT reach each other over the LAN (host candidates) or TURN, not over the public address.');
  }
  if (r.ip === null && !f.serverUnreachable) {
    advice.push('Whether this network has IPv4 and IPv6 is unknown: the IPv4/IPv6 check did not finish in time. Run the probe again to learn whether partners who have only one of them can be reached.');
  }

  if (directIce && !directIce.connected && verdict.level !== 'poor' && !f.serverUnreachable) {
    advice.push(`Two test peers on this machine did not connect (${directIce.error?.message ?? 'no reason given'}): something local (a firewall on this host, or no usable interface) blocks WebRTC.`);
  }
  for (const s of r.stun) {
    if (!s.reachable && s.error && !f.udpBlocked && s.error.code !== 'CHZ_ERR_STUN_UNSUPPORTED') {
      advice.push(`STUN server ${s.url} did not work (${s.error.message}): fix it or stop announcing it.`);
    }
    if (s.rttMs && s.rttMs.median > 250) advice.push(`STUN server ${s.url} is ${Math.round(s.rttMs.median)} ms away: servers nearer your users make calls start faster.`);
  }
  if (r.signal?.rttMs && r.signal.rttMs.p95 > 500) {
    advice.push(`Signaling round trips reach ${Math.round(r.signal.rttMs.p95)} ms (p95): matching and call setup will feel slow.`);
  }
  if (r.ip) adviseIpFamilies(r.ip, advice);
  const life = nat.lifetime;
  if (life?.goneAfterS !== null && life?.goneAfterS !== undefined && life.goneAfterS <= 30 && nat.mapping !== 'none') {
    advice.push(`Your NAT forgets an idle UDP mapping within ${life.goneAfterS} s: calls stay up (ICE consent checks every few seconds), but an idle call with no media longer than that may drop.`);
  }
  return { verdict, advice: [...new Set(advice)] };
}

/** `[v6]` or `v4`, for a sentence. */
function addr(a: string | null): string {
  return a === null ? '?' : a.includes(':') ? `[${a}]` : a;
}

/** Advice from reaching the server and STUN over each family on its own. */
function adviseIpFamilies(ip: IpResult, advice: string[]): void {
  const pairs: [FamilyReach, FamilyReach, string, string][] = [
    [ip.ipv4.signal, ip.ipv6.signal, 'IPv4', 'IPv6'],
    [ip.ipv6.signal, ip.ipv4.signal, 'IPv6', 'IPv4'],
  ];
  for (const [ok, failed, good, bad] of pairs) {
    if (ok.status !== 'ok' || failed.status !== 'failed') continue;
    advice.push(`The server answers over ${good} but not over ${bad} (${addr(failed.address)}: ${failed.error?.message ?? 'no answer'}): people who have ${bad} only cannot use it. `
      + `Run chatzyo serve on :: (--host ::, both families) and let ${bad} through its firewall, or remove the server's ${bad === 'IPv6' ? 'AAAA' : 'A'} record.`);
  }
  if (ip.ipv6.signal.status === 'no-address') {
    advice.push(`The server's name has no IPv6 address (no AAAA record): people on IPv6-only networks cannot reach it${ip.ipv6Only ? ', and this is one' : ''}.`);
  }
  for (const f of [ip.ipv4, ip.ipv6]) {
    if (f.signal.status === 'ok' && f.stun.status === 'failed') {
      advice.push(`The server answers over IPv${f.family} but the STUN server ${f.stun.url} did not (${addr(f.stun.address)}: ${f.stun.error?.message ?? 'no answer'}): let UDP to its port through for IPv${f.family} too.`);
    }
  }
}

function adviseTurn(r: VerdictInput, tested: TurnResult[], advice: string[]): void {
  for (const t of tested) {
    const where = `${t.host}:${t.port} over ${t.transport.toUpperCase()}`;
    switch (t.status) {
      case 'auth-failed':
        advice.push(r.turnCredentialsFromServer
          ? `TURN at ${where} refused the credentials the chatzyo server handed out: --turn-secret must equal coturn's static-auth-secret (use-auth-secret), and both clocks must be right.`
          : `TURN at ${where} refused the credentials: check --turn-user and --turn-pass.`);
        break;
      case 'unreachable':
        advice.push(`TURN at ${where} did not answer (${t.error?.message ?? 'no answer'}): check that it runs and that its port is open in the firewall.`);
        break;
      case 'tls-error':
        advice.push(`TURN at ${where}: ${t.error?.message ?? 'TLS failed'}. Browsers will reject it too: use a certificate from a public CA for that host name.`);
        break;
      case 'refused':
        advice.push(`TURN at ${where} refused the allocation (${t.error?.message ?? 'refused'}): check its quotas and relay settings.`);
        break;
      default:
        break;
    }
  }
  if (tested.length && !r.turn.some((t) => t.transport === 'tls' && t.status === 'ok')) {
    advice.push('Add a turns: URL (TURN over TLS, ideally on port 443) so that people on networks that only allow HTTPS can still call.');
  }
}

/**
 * What each sustained rate is good for, lowest first: the first band whose `belowKbps` the rate
 * is under applies. A chatzyo peer sends 640x480 VP8 at 600 kbit/s plus 32 kbit/s of Opus
 * (src/peer/ffmpeg.ts); browsers adapt between about 150 kbit/s and 2.5 Mbit/s.
 */
export const UPLINK_BANDS = [
  { belowKbps: 150, code: 'audio-only', expect: 'expect audio only, or video so small and slow it is barely usable', why: 'audio needs about 40 kbit/s and even small video about 150' },
  { belowKbps: 400, code: 'low', expect: 'expect low-resolution video', why: 'video stays at about 320x240 below 400 kbit/s' },
  { belowKbps: 1000, code: 'standard', expect: 'expect standard-definition video', why: '640x480 needs about 600 kbit/s, and HD about 1 Mbit/s or more' },
  { belowKbps: Infinity, code: 'hd', expect: 'enough for HD video', why: 'HD needs about 1 Mbit/s' },
] as const;

/** The band of a sustained rate. */
export function uplinkBand(kbps: number): (typeof UPLINK_BANDS)[number] {
  return UPLINK_BANDS.find((b) => kbps < b.belowKbps)!;
}

/**
 * The quality line of the uplink test: the rate the path sustains, what video it allows and
 * why, and what to do; plus the round trip, jitter, loss and MOS of the same call. When the
 * test did not measure, the line says the upload is unknown and why.
 */
export function uplinkAdvice(u: UplinkResult | null): string {
  if (!u || u.status !== 'measured' || u.upKbps === null) {
    const why = u?.error?.message ?? u?.note ?? 'the uplink test did not run';
    return `Upload speed for video: unknown (not measured: ${why}).`;
  }
  const band = uplinkBand(u.upKbps);
  const rate = `${u.atLeast ? 'at least' : 'about'} ${u.upKbps} kbit/s`;
  const what = `Your upload sustains ${rate} (measured up to the TURN server and back down, so the smaller of your upload and download)`;
  // "At least": the ramp ran out of steps or time before it found a limit, so there is nothing to fix.
  const todo = band.code === 'hd' || u.atLeast ? '' : band.code === 'standard' ? '; close other uploads for HD' : '; close other uploads (backups, file sharing, other calls) or move closer to the Wi-Fi access point';
  const call = u.rttMs !== null && u.mos !== null
    ? ` On that call: round trip ${Math.round(u.rttMs)} ms, jitter ${u.jitterMs ?? '?'} ms, ${u.lossPercent ?? '?'}% lost: estimated call MOS ${u.mos.toFixed(1)}.`
    : '';
  return `${what}: ${band.expect} (${band.why})${todo}.${call}`;
}

function v(level: Verdict['level'], code: string, summary: string): Verdict {
  return { level, code, summary };
}
