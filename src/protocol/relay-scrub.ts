/**
 * "Hide my IP" (relay-only ICE) on the wire. A client in relay-only mode gathers only TURN
 * relay candidates, but what it *sends* can still name its own addresses: a relay candidate's
 * related address is the address the TURN server saw (RFC 8445 section 5.1.1.2: the mapped
 * address of the allocation, i.e. the user's public IP), some stacks put other candidates in
 * the SDP, and the SDP's `c=`, `a=rtcp` and `o=` lines carry the default candidate's address.
 * Every client (browser, headless peer, bots, probe) passes everything it sends through these
 * two functions, so the partner receives relay addresses and nothing else.
 *
 * Candidate grammar: RFC 8839 section 5.1
 * (`foundation component transport priority address port typ type [raddr A] [rport P] *(name value)`).
 * The related address is only informational (RFC 8445 section 5.1.1.3 lets an agent hide it):
 * we always send `raddr 0.0.0.0 rport 0`, as Chrome does for candidates it obfuscates.
 * Foundations are left alone: browsers and werift derive a relay candidate's foundation from
 * the relayed address, which the partner sees anyway.
 */
import type { SignalData } from './messages.js';

/** The related address sent in place of the real one. */
const HIDDEN_RELATED_ADDRESS = '0.0.0.0';

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Hex groups and colons, optionally ending in dotted IPv4 (`::ffff:192.0.2.1`). */
const IPV6 = /^[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}$/i;

/** True for an IPv4 or IPv6 literal (not a hostname, not an mDNS `.local` name). */
function isIpLiteral(s: string): boolean {
  return IPV4.test(s) || IPV6.test(s);
}

/** Addresses that say nothing about the sender: unspecified and loopback. */
const NEUTRAL_ADDRESSES = new Set(['0.0.0.0', '::', '127.0.0.1', '::1']);

const PREFIX = /^(a=)?(candidate:)?/i;

/**
 * Keeps a TURN relay candidate and blanks its related address; returns null for anything else
 * (host, srflx, prflx, mDNS names, malformed lines, the empty end-of-candidates string), which
 * must not be sent. Accepts a trickled `candidate:...` string or an SDP `a=candidate:...` line
 * and keeps its prefix. Tokens are re-joined with single spaces and `typ relay` is written in
 * lower case (ABNF literals are case-insensitive; the partner's parsers need not be).
 */
export function scrubRelayCandidate(candidate: string): string | null {
  const trimmed = candidate.trim();
  const prefix = PREFIX.exec(trimmed)![0];
  const tokens = trimmed.slice(prefix.length).split(/\s+/);
  if (tokens.length < 8 || tokens.length % 2 !== 0) return null; // 8 fixed fields, then name/value pairs
  const [foundation, component, transport, priority, address, port, typ, type] = tokens as [string, string, string, string, string, string, string, string];
  if (typ.toLowerCase() !== 'typ' || type.toLowerCase() !== 'relay') return null;
  if (!/^[A-Za-z0-9+/]{1,32}$/.test(foundation) || !/^\d{1,3}$/.test(component) || !/^[A-Za-z]+$/.test(transport)
    || !/^\d{1,10}$/.test(priority) || !/^\d{1,5}$/.test(port) || !isIpLiteral(address)) return null;
  const extensions: string[] = [];
  for (let i = 8; i < tokens.length; i += 2) {
    const name = tokens[i]!.toLowerCase();
    if (name === 'raddr' || name === 'rport') continue; // replaced below, in their RFC 8839 place
    extensions.push(tokens[i]!, tokens[i + 1]!);
  }
  return `${prefix}${[...tokens.slice(0, 6), 'typ', 'relay', 'raddr', HIDDEN_RELATED_ADDRESS, 'rport', '0', ...extensions].join(' ')}`;
}

/** The address of a kept relay candidate (its fifth field). */
function candidateAddress(scrubbed: string): string {
  return scrubbed.replace(PREFIX, '').split(' ')[4]!;
}

/** `IN IP4 0.0.0.0` or `IN IP6 ::`, matching the address type of the line it replaces. */
function unspecified(addrType: string): string {
  return /^IP6$/i.test(addrType) ? 'IN IP6 ::' : 'IN IP4 0.0.0.0';
}

/**
 * Applies {@link scrubRelayCandidate} to every `a=candidate` line of an SDP (dropping the
 * others; `a=end-of-candidates` stays), and blanks every `c=`, `a=rtcp:` and `o=` address that is
 * neither unspecified, loopback nor the address of a kept relay candidate (a media section whose
 * connection address is blanked gets the discard port 9 in its `m=` line, as JSEP section 5.2.1
 * does before candidates are known). Line endings are kept as they were.
 */
export function scrubRelaySdp(sdp: string): string {
  const lines = sdp.split('\n').map((raw) => {
    const cr = raw.endsWith('\r');
    return { text: cr ? raw.slice(0, -1) : raw, eol: cr ? '\r' : '' };
  });
  // Pass 1: candidates. The relay addresses they keep may stay in c= and a=rtcp lines.
  const allowed = new Set(NEUTRAL_ADDRESSES);
  const kept: (typeof lines[number] | null)[] = lines.map((l) => {
    if (!/^a=candidate:/i.test(l.text)) return l;
    const scrubbed = scrubRelayCandidate(l.text);
    if (scrubbed === null) return null;
    allowed.add(candidateAddress(scrubbed).toLowerCase());
    return { text: scrubbed, eol: l.eol };
  });
  const ok = (address: string) => allowed.has(address.toLowerCase().replace(/\/.*$/, '')); // c= may carry /ttl

  // Pass 2: addresses outside candidates, section by section.
  const out: { text: string; eol: string }[] = [];
  let sessionBlanked = false;
  type Section = { m: number; rtcp: number[]; ownC: boolean; blanked: boolean };
  let media: Section | null = null;
  const closeMedia = (s: Section | null) => {
    if (!s || !(s.ownC ? s.blanked : sessionBlanked || s.blanked)) return;
    // The ports went with the blanked address: the discard port instead (a port of 0 means rejected, keep it).
    out[s.m]!.text = out[s.m]!.text.replace(/^(m=\S+ )([1-9]\d*)(?=[ /])/, '$19');
    for (const i of s.rtcp) out[i]!.text = out[i]!.text.replace(/^a=rtcp:\d+/, 'a=rtcp:9');
  };
  for (const l of kept) {
    if (!l) continue;
    let text = l.text;
    if (text.startsWith('m=')) {
      closeMedia(media);
      media = { m: out.length, rtcp: [], ownC: false, blanked: false };
    } else if (text.startsWith('c=')) {
      const m = /^c=(\S+) (\S+) (\S+)$/.exec(text);
      const blank = !m || !ok(m[3]!);
      if (blank) text = `c=${unspecified(m?.[2] ?? 'IP4')}`;
      if (media) { media.ownC = true; media.blanked ||= blank; } else sessionBlanked ||= blank;
    } else if (text.startsWith('a=rtcp:')) {
      const m = /^a=rtcp:(\d+)(?: (\S+) (\S+) (\S+))?$/.exec(text);
      if (!m || (m[4] !== undefined && !ok(m[4]))) {
        text = `a=rtcp:9 ${unspecified(m?.[3] ?? 'IP4')}`;
        if (media) media.blanked = true;
      }
      media?.rtcp.push(out.length);
    } else if (text.startsWith('o=')) {
      const m = /^(o=\S+ \S+ \S+ \S+) (\S+) (\S+)$/.exec(text);
      if (m && !ok(m[3]!)) text = `${m[1]} ${unspecified(m[2]!).slice(3)}`;
    }
    out.push({ text, eol: l.eol });
  }
  closeMedia(media);
  return out.map((l) => l.text + l.eol).join('\n');
}

/**
 * One outgoing signal as it may be sent in relay-only mode: offers and answers with
 * {@link scrubRelaySdp}, trickled candidates with {@link scrubRelayCandidate}; null when the
 * signal must not be sent at all (a candidate that is not a relay). The empty candidate string
 * (end of candidates, W3C webrtc-pc) and `end-of-candidates` pass unchanged.
 */
export function scrubRelaySignal(data: SignalData): SignalData | null {
  switch (data.kind) {
    case 'offer':
    case 'answer':
      return { ...data, sdp: scrubRelaySdp(data.sdp) };
    case 'candidate': {
      if (data.candidate.candidate === '') return data;
      const candidate = scrubRelayCandidate(data.candidate.candidate);
      return candidate === null ? null : { ...data, candidate: { ...data.candidate, candidate } };
    }
    default:
      return data;
  }
}
