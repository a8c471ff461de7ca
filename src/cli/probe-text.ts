/**
 * What `chatzyo probe` says about each check, as plain rows: the ink view colours them, and
 * without a TTY they are printed as text. A pure function of the probe's progress snapshot.
 */
import { CHECK_NAMES, type CheckName, type CheckState, type ProbeProgress } from '../probe/probe.js';
import type { Endpoint, FamilyReach, IpFamilyResult, NatFiltering, NatMapping, NatResult, ProbeReport, RttSummary, TurnResult, UplinkResult } from '../probe/report.js';
import { displaySafe } from '../protocol/index.js';
import { uplinkBand } from '../probe/verdict.js';

/** How a row reads: green, yellow, red or plain. */
export type Tone = 'ok' | 'warn' | 'bad' | 'info';

/** One line of a section. */
interface Row { text: string; tone: Tone }

/** One check as shown. */
export interface Section { check: CheckName; title: string; state: CheckState; rows: Row[] }

const TITLES: Record<CheckName, string> = {
  signal: 'Signaling',
  interfaces: 'Interfaces',
  ip: 'IPv4 and IPv6',
  stun: 'STUN',
  nat: 'NAT',
  turn: 'TURN',
  ice: 'End to end',
  uplink: 'Uplink (a test call through TURN)',
};

const SKIPPED: Record<CheckName, string> = {
  signal: 'skipped (no --server)',
  interfaces: 'skipped',
  ip: 'skipped (did not finish in time)',
  stun: 'skipped (no STUN server given or announced)',
  nat: 'skipped (no STUN server to test against)',
  turn: 'skipped (no TURN server given or announced)',
  ice: 'skipped',
  uplink: 'skipped',
};

const MAPPING_WORDS: Record<NatMapping, string> = {
  none: 'no NAT',
  'endpoint-independent': 'endpoint-independent (one public port per local port)',
  'address-dependent': 'address-dependent (symmetric: a new port per destination IP)',
  'address-and-port-dependent': 'address-and-port-dependent (symmetric: a new port per destination)',
  'endpoint-dependent': 'endpoint-dependent (symmetric)',
  unknown: 'unknown (not measured: needs a STUN server with RFC 5780, e.g. chatzyo serve --stun-alt-address, or two --stun servers)',
};

const FILTERING_WORDS: Record<NatFiltering, string> = {
  'endpoint-independent': 'endpoint-independent (anyone can send in)',
  'address-dependent': 'address-dependent (only IPs we sent to)',
  'address-and-port-dependent': 'address-and-port-dependent (only the exact address and port we sent to)',
  'address-dependent-or-looser': 'address-dependent or looser',
  unknown: 'unknown (not measured: needs a STUN server with RFC 5780, e.g. chatzyo serve --stun-alt-address)',
};

const METHOD_WORDS: Record<NatResult['method'], string> = {
  rfc5780: 'RFC 5780 CHANGE-REQUEST and OTHER-ADDRESS',
  'rfc5780-port-only': 'RFC 5780, second port only',
  'two-server': 'comparing what two servers saw',
  'single-server': 'one server only',
  none: 'no test possible',
};

/** `host:port`, with brackets for IPv6. */
function endpoint(e: Endpoint | null | undefined): string {
  if (!e) return '-';
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function msText(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  return n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n)} ms`;
}

function rtt(r: RttSummary): string {
  return `RTT ${msText(r.min)} / ${msText(r.median)} / ${msText(r.max)} (min/median/max of ${r.samples})`;
}

/**
 * The sections for a snapshot (a finished probe has every check done or skipped). Rows quote
 * what servers and networks said (error messages, TURN reason phrases, URLs): every row's text
 * goes through {@link displaySafe}, so both the ink view and the plain text are terminal-safe.
 */
export function sections(p: ProbeProgress): Section[] {
  return CHECK_NAMES.map((check) => {
    const state = p.checks[check];
    const s: Section = { check, title: TITLES[check], state, rows: [] };
    if (state === 'skipped') s.rows.push({ text: displaySafe(check === 'uplink' && p.uplink?.note ? `skipped: ${p.uplink.note}` : SKIPPED[check]), tone: 'info' });
    if (state !== 'done') return s;
    s.rows = rowsFor(check, p).map((r) => ({ ...r, text: displaySafe(r.text) }));
    return s;
  });
}

function rowsFor(check: CheckName, p: ProbeProgress): Row[] {
  const rows: Row[] = [];
  switch (check) {
    case 'signal': {
      const g = p.signal!;
      if (!g.ok) {
        rows.push({ text: `${g.url}: ${g.error?.message ?? 'failed'}`, tone: 'bad' });
        break;
      }
      rows.push({ text: `${g.url}: connected in ${msText(g.connectMs)}, welcome after ${msText(g.welcomeMs)}`, tone: 'ok' });
      if (g.rttMs) rows.push({ text: `RTT p50 ${msText(g.rttMs.p50)}, p95 ${msText(g.rttMs.p95)} over ${g.rttMs.samples} pings`, tone: g.rttMs.p95 > 500 ? 'warn' : 'info' });
      rows.push({ text: g.turnAnnounced ? 'the server announces TURN' : 'the server announces no TURN server', tone: g.turnAnnounced ? 'info' : 'warn' });
      break;
    }
    case 'interfaces': {
      const r = p.interfaces!;
      for (const i of r.interfaces) {
        rows.push({ text: `${i.name} ${i.address}  ${i.hostCandidate ? 'host candidate' : `no candidate (${i.excluded})`}`, tone: i.hostCandidate ? 'ok' : 'info' });
      }
      if (!r.hostCandidates.length) rows.push({ text: 'no interface gives a host candidate', tone: 'warn' });
      break;
    }
    case 'ip': {
      const r = p.ip!;
      for (const f of [r.ipv4, r.ipv6]) rows.push(...familyRows(f));
      if (r.ipv6Only) rows.push({ text: 'This network is IPv6-only: no interface has an IPv4 address, so calls offer IPv6 candidates only', tone: 'warn' });
      break;
    }
    case 'stun':
      for (const s of p.stun) {
        if (!s.reachable) {
          rows.push({ text: `${s.url}  unreachable: ${s.error?.message ?? 'no answer'}`, tone: 'bad' });
          continue;
        }
        rows.push({ text: `${s.url}  public address ${endpoint(s.mapped)}  ${s.rttMs ? rtt(s.rttMs) : ''}${s.rfc5780 ? '  RFC 5780' : ''}`, tone: 'ok' });
      }
      break;
    case 'nat': {
      const n = p.nat!;
      if (n.udpBlocked) {
        rows.push({ text: 'UDP is blocked: no STUN server answered', tone: 'bad' });
        break;
      }
      const symmetric = n.mapping === 'address-dependent' || n.mapping === 'address-and-port-dependent' || n.mapping === 'endpoint-dependent';
      rows.push({ text: `mapping: ${MAPPING_WORDS[n.mapping]}`, tone: symmetric ? 'bad' : n.mapping === 'unknown' ? 'warn' : 'ok' });
      rows.push({ text: `filtering: ${FILTERING_WORDS[n.filtering]}`, tone: n.filtering === 'unknown' ? 'warn' : 'info' });
      rows.push({ text: `method: ${METHOD_WORDS[n.method]}${n.server ? ` against ${n.server}` : ''}, ${n.confidence} confidence`, tone: 'info' });
      if (n.hairpinning !== null) rows.push({ text: `hairpinning: ${n.hairpinning ? 'yes' : 'no'}`, tone: n.hairpinning ? 'ok' : 'warn' });
      if (n.lifetime) {
        const l = n.lifetime;
        const text = l.error ? `mapping lifetime: not measured (${l.error.message})`
          : l.goneAfterS === null ? `mapping lifetime: still alive after ${l.aliveAfterS} s (the longest wait)`
            : `mapping lifetime: between ${l.aliveAfterS ?? 0} and ${l.goneAfterS} s`;
        rows.push({ text, tone: 'info' });
      }
      break;
    }
    case 'turn':
      for (const t of p.turn) rows.push(turnRow(t));
      break;
    case 'ice':
      for (const i of p.ice) {
        const name = i.policy === 'relay' ? 'relay-only call' : 'call';
        const gathered = Object.entries(i.gathered).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
        rows.push(i.connected
          ? { text: `${name}: connected in ${msText(i.ms)} over ${i.localCandidateType ?? '?'} <-> ${i.remoteCandidateType ?? '?'}${i.ipFamily ? ` (IPv${i.ipFamily})` : ''} (gathered: ${gathered})`, tone: 'ok' }
          : { text: `${name}: did not connect: ${i.error?.message ?? 'unknown reason'}`, tone: 'bad' });
      }
      break;
    case 'uplink':
      rows.push(...uplinkRows(p.uplink));
      break;
  }
  return rows;
}

function uplinkRows(u: UplinkResult | null): Row[] {
  if (!u || u.status !== 'measured' || u.upKbps === null) {
    return [{ text: `not measured: ${u?.error?.message ?? u?.note ?? 'no result'}`, tone: u?.status === 'failed' ? 'bad' : 'info' }];
  }
  const band = uplinkBand(u.upKbps);
  const rows: Row[] = [{
    text: `${u.server ?? 'TURN'}: sustains ${u.atLeast ? 'at least' : 'about'} ${u.upKbps} kbit/s (up to the TURN server and back down: the smaller of your upload and download)`,
    tone: band.code === 'audio-only' ? 'bad' : band.code === 'low' ? 'warn' : 'ok',
  }];
  if (u.rttMs !== null) rows.push({ text: `round trip ${msText(u.rttMs)}, jitter ${msText(u.jitterMs)}, ${u.lossPercent ?? '-'}% lost${u.mos !== null ? `, estimated MOS ${u.mos.toFixed(1)}` : ''}`, tone: 'info' });
  const steps = u.steps.map((st) => `${st.offeredKbps} ${st.ok ? 'ok' : `no (${st.why === 'loss' ? `${st.lossPercent}% lost` : st.why === 'queue' ? 'a standing queue' : `delay +${Math.round(st.delayGrowthMs ?? 0)} ms`}, ${st.receivedKbps ?? '-'} arrived)`}`);
  rows.push({ text: `steps (kbit/s): ${steps.join(', ')}`, tone: 'info' });
  return rows;
}

function familyRows(f: IpFamilyResult): Row[] {
  const name = `IPv${f.family}`;
  const rows: Row[] = [f.addresses.length
    ? { text: `${name}: ${f.addresses.join(', ')}${f.family === 6 ? (f.global ? ' (global)' : ' (no global address)') : ''}`, tone: f.family === 6 && !f.global ? 'info' : 'ok' }
    : { text: `${name}: no address on any interface`, tone: f.family === 4 ? 'warn' : 'info' }];
  if (f.signal.url) rows.push(reachRow(`${name} to the server`, f.signal, f.family));
  if (f.stun.url) rows.push(reachRow(`${name} to STUN`, f.stun, f.family));
  return rows;
}

function reachRow(label: string, r: FamilyReach, family: 4 | 6): Row {
  const where = r.address === null ? '' : r.address.includes(':') ? `[${r.address}]` : r.address;
  switch (r.status) {
    case 'ok':
      return { text: `${label}: ${where} answered in ${msText(r.ms)}${r.mapped ? `, public address ${endpoint(r.mapped)}` : ''}`, tone: 'ok' };
    case 'failed':
      return { text: `${label}: ${where} did not answer: ${r.error?.message ?? 'no answer'}`, tone: 'bad' };
    case 'no-route':
      return { text: `${label}: no route to ${where}`, tone: 'warn' };
    case 'no-address':
      return { text: `${label}: ${r.url} has no IPv${family} address`, tone: 'info' };
    case 'not-tested':
      return { text: `${label}: not tested (${r.url} names an IPv${family === 4 ? 6 : 4} address)`, tone: 'info' };
  }
}

function turnRow(t: TurnResult): Row {
  const head = `${t.transport.toUpperCase().padEnd(3)} ${t.url === '(not configured)' ? t.host : t.url}`;
  switch (t.status) {
    case 'ok':
      return { text: `${head}  allocated in ${msText(t.allocateMs)}, relay ${endpoint(t.relayed)}${t.relayRttMs !== null ? `, RTT through the relay ${msText(t.relayRttMs)}` : ''}${t.note ? ` (${t.note})` : ''}`, tone: 'ok' };
    case 'not-tested':
      return { text: `${head}  not tested: ${t.note ?? ''}`, tone: 'info' };
    default:
      return { text: `${head}  ${t.status}: ${t.error?.message ?? ''}`, tone: 'bad' };
  }
}

/** The whole report as text (no TTY, no --json). */
export function reportText(r: ProbeReport, progress: ProbeProgress): string {
  const out: string[] = [];
  for (const s of sections(progress)) {
    out.push(`${s.title}`);
    for (const row of s.rows) out.push(`  ${row.tone === 'bad' ? 'x' : row.tone === 'warn' ? '!' : row.tone === 'ok' ? '+' : '-'} ${row.text}`);
  }
  out.push('', `Verdict: ${displaySafe(r.verdict.summary)}`);
  for (const a of r.advice) out.push(`  * ${displaySafe(a)}`);
  out.push(`(probe took ${(r.durationMs / 1000).toFixed(1)} s)`);
  return out.join('\n') + '\n';
}
