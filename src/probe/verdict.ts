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
import type { IceResult, NatResult, SignalResult, StunResult, TurnResult, Verdict } from './report.js';

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
}

/** The verdict and the advice. */
export interface VerdictOutput { verdict: Verdict; advice: string[] }

const TESTED = (t: TurnResult) => t.status !== 'not-tested';

/** Decides the verdict and collects advice. */
export function decideVerdict(r: VerdictInput): VerdictOutput {
  const advice: string[] = [];
  const turnTested = r.turn.filter(TESTED);
  const turnOk = turnTested.filter((t) => t.status === 'ok');
  const turnOverStreamOk = turnOk.filter((t) => t.transport !== 'udp');
  const turnConfigured = turnTested.length > 0;
  const relayIce = r.ice.find((i) => i.policy === 'relay');
  const directIce = r.ice.find((i) => i.policy === 'all');
  const relayProven = relayIce?.connected ? ' (a test call through it connected)' : '';
  const nat = r.nat;

  adviseTurn(r, turnTested, advice);
  if (relayIce && !relayIce.connected && turnOk.length) {
    advice.push(turnOk.some((t) => t.transport === 'udp')
      ? 'TURN allocations succeed but a test call relayed through TURN did not connect: check the TURN server\'s relay port range in the firewall and its denied-peer-ip rules.'
      : 'TURN allocations over TCP/TLS succeed but the probe\'s test call relayed over them did not connect. The probe\'s own peers (werift) relay over TCP/TLS less reliably than browsers do: confirm with a browser call before changing the server.');
  }

  let verdict: Verdict;
  if (r.server && r.signal && !r.signal.ok) {
    verdict = v('poor', 'server-unreachable', `Cannot reach the chatzyo server at ${r.server}: nobody can be matched until that works.`);
    advice.unshift(r.signal.error?.code === 'CHZ_ERR_SERVER_REJECTED'
      ? `The server refused the probe (${r.signal.error.message}); update chatzyo or wait if it limits connections per address.`
      : 'Check the --server URL and that `chatzyo serve` runs there; a proxy or firewall in between must allow WebSocket upgrades (HTTP 101).');
  } else if (nat.udpBlocked) {
    if (turnOverStreamOk.length) {
      const how = [...new Set(turnOverStreamOk.map((t) => t.transport.toUpperCase()))].join(' and ');
      verdict = v('fair', 'udp-blocked-turn-tcp', `UDP is blocked on this network: calls can only go through the TURN server over ${how}${relayProven}, which adds delay.`);
    } else if (turnConfigured) {
      verdict = v('poor', 'udp-blocked-turn-failed', 'UDP is blocked on this network and TURN over TCP/TLS did not work: calls will not connect.');
    } else {
      verdict = v('poor', 'udp-blocked-no-turn', 'UDP is blocked on this network and no TURN server is configured: calls will not connect.');
    }
    advice.push('UDP is blocked here (no STUN server answered): on a network you control, allow outgoing UDP; otherwise TURN over TCP or TLS (turns: on port 443) is the only way through.');
  } else if (isSymmetric(nat.mapping)) {
    const words = 'You are behind a symmetric NAT (a new public port for every destination)';
    if (turnOk.length) {
      verdict = v('fair', 'symmetric-turn', `${words}: calls with most people will go through the TURN relay, which works here${relayProven}.`);
    } else if (turnConfigured) {
      verdict = v('poor', 'symmetric-turn-failed', `${words}: calls need TURN, and the TURN server did not work.`);
    } else {
      verdict = v('poor', 'symmetric-no-turn', `${words}: calls need TURN, and none is configured. Only people on open networks can reach you.`);
      advice.push('Configure a TURN server (coturn) and announce it: chatzyo serve --turn turn:turn.example.com:3478 --turn-secret "$SECRET" (coturn with use-auth-secret and the same static-auth-secret).');
    }
  } else if (nat.mapping === 'none' || nat.mapping === 'endpoint-independent') {
    const strictFilter = nat.filtering === 'address-dependent' || nat.filtering === 'address-and-port-dependent' || nat.filtering === 'unknown';
    const tail = turnOk.length ? ' TURN covers the rest.' : strictFilter ? ' People behind symmetric NATs will not reach you: that needs TURN, and none works here.' : '';
    if (nat.mapping === 'none') {
      verdict = nat.filtering === 'endpoint-independent'
        ? v('good', 'open', 'No NAT and nothing filtering UDP: direct calls will work with everyone.')
        : v('good', 'open-firewalled', `Direct calls will work with most people: no NAT, but a firewall lets in only replies.${tail}`);
    } else {
      verdict = v('good', 'cone', `Direct calls will work with most people: your NAT keeps one public port per local port.${tail}`);
    }
    if (nat.mapping === 'endpoint-independent' && nat.hairpinning === false) {
      advice.push('Your NAT does not hairpin: two people behind this same NAT reach each other over the LAN (host candidates) or TURN, not over the public address.');
    }
  } else {
    // A NAT of unknown type (a single server without RFC 5780), or no STUN at all.
    const reachable = r.stun.some((s) => s.reachable);
    if (!reachable) {
      verdict = turnOk.length
        ? v('fair', 'no-stun-turn', 'No STUN server could be used: calls will connect over the LAN or through the TURN relay only.')
        : v('poor', 'no-stun', 'No STUN server could be used and no TURN works: calls will only connect between people on the same network.');
      if (!r.stun.length) advice.push('Announce a STUN server (chatzyo serve runs one on UDP 3478 unless --no-stun) or pass --stun stun:HOST:PORT.');
    } else {
      verdict = turnOk.length
        ? v('fair', 'nat-unknown-turn', 'You are behind a NAT of unknown type: most calls should connect directly, and TURN covers the rest.')
        : v('fair', 'nat-unknown', 'You are behind a NAT of unknown type: calls with some people may fail, and no TURN works as a fallback.');
      advice.push('To classify the NAT, probe a chatzyo server started with --stun-alt-address IP2 (RFC 5780), or give two --stun servers at different addresses.');
    }
  }

  if (directIce && !directIce.connected && verdict.level !== 'poor' && !(r.server && r.signal && !r.signal.ok)) {
    advice.push(`Two test peers on this machine did not connect (${directIce.error?.message ?? 'no reason given'}): something local (a firewall on this host, or no usable interface) blocks WebRTC.`);
  }
  for (const s of r.stun) {
    if (!s.reachable && s.error && !nat.udpBlocked && s.error.code !== 'CHZ_ERR_STUN_UNSUPPORTED') {
      advice.push(`STUN server ${s.url} did not work (${s.error.message}): fix it or stop announcing it.`);
    }
    if (s.rttMs && s.rttMs.median > 250) advice.push(`STUN server ${s.url} is ${Math.round(s.rttMs.median)} ms away: servers nearer your users make calls start faster.`);
  }
  if (r.signal?.rttMs && r.signal.rttMs.p95 > 500) {
    advice.push(`Signaling round trips reach ${Math.round(r.signal.rttMs.p95)} ms (p95): matching and call setup will feel slow.`);
  }
  const life = nat.lifetime;
  if (life?.goneAfterS !== null && life?.goneAfterS !== undefined && life.goneAfterS <= 30 && nat.mapping !== 'none') {
    advice.push(`Your NAT forgets an idle UDP mapping within ${life.goneAfterS} s: calls stay up (ICE consent checks every few seconds), but an idle call with no media longer than that may drop.`);
  }
  return { verdict, advice: [...new Set(advice)] };
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

function v(level: Verdict['level'], code: string, summary: string): Verdict {
  return { level, code, summary };
}
