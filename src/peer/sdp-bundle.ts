/**
 * Puts a partner's session description in the one-transport shape werift's `max-bundle` peer can
 * apply. werift gives every m-section's ICE and DTLS attributes, in order, to its single
 * transport: an offer whose sections each carry their own `ice-ufrag`/`ice-pwd` (a stack that
 * gathers per section and bundles later, such as aiortc) made it take each change as an ICE
 * restart and end on the last section's credentials, which the partner's agent refuses.
 *
 * RFC 8843 says which transport a BUNDLE group uses: the one of its tagged m-section, the first
 * identification-tag of the group (sections 7.2.1 and 7.3.1, offerer and answerer tagged). So
 * every other section of the group is given the tagged section's transport attributes (RFC 8859
 * category TRANSPORT: `ice-ufrag`, `ice-pwd`, `ice-options`, `fingerprint`, `setup`), and
 * candidates that belong to a different transport (one with other credentials) are dropped. A
 * description whose sections already agree is returned unchanged.
 *
 * A description with more than one usable m-section and no BUNDLE group (or with a usable section
 * outside it) needs one transport per section, which a chatzyo peer does not run; it is refused,
 * as a browser configured with `bundlePolicy: 'max-bundle'` refuses it (W3C webrtc-pc
 * RTCBundlePolicy). One usable section needs no BUNDLE group.
 *
 * Pure: no werift, no I/O. The description is hostile input: this never throws, and a refusal's
 * reason names sections by position and known kind only, never by text the partner chose.
 */

/** A section of the description whose transport is not the one used (its candidates are not ours to try). */
export interface ForeignSection {
  /** Position of the m-section (sdpMLineIndex). */
  index: number;
  /** Its identification-tag (`a=mid`), if any. */
  mid: string | null;
  /** The ICE username fragment it carried, if any. */
  ufrag: string | null;
}

/** The result of {@link normalizeBundle}. */
export type BundleResult =
  | {
    ok: true;
    /** The description to apply (the input itself when nothing needed changing). */
    sdp: string;
    /** True when a BUNDLE group carries the sections; false for a single usable section without one. */
    bundled: boolean;
    /** Sections that carried another transport's credentials (their candidates were dropped). */
    foreign: ForeignSection[];
  }
  | { ok: false; reason: string };

/** The transport attributes of RFC 8859 that a bundled section takes from the tagged one. */
const TRANSPORT_ATTRIBUTES = new Set(['ice-ufrag', 'ice-pwd', 'ice-options', 'fingerprint', 'setup']);
/** Attributes naming candidates of a section's own transport (RFC 8839 section 5). */
const CANDIDATE_ATTRIBUTES = new Set(['candidate', 'end-of-candidates', 'remote-candidates']);

interface Transport {
  ufrag: string | null;
  pwd: string | null;
  options: string | null;
  setup: string | null;
  fingerprints: string[];
}

interface Section {
  index: number;
  /** audio, video, application, or 'other' (a kind we do not know, never shown as given). */
  kind: string;
  lines: string[];
  mid: string | null;
  /** Port 0 without `a=bundle-only`: rejected or disabled, so it may stay outside a BUNDLE group. */
  disabled: boolean;
  own: Partial<Transport>;
}

function attribute(line: string): { name: string; value: string | null } | null {
  if (!line.startsWith('a=')) return null;
  const colon = line.indexOf(':');
  return colon < 0 ? { name: line.slice(2).trim(), value: null } : { name: line.slice(2, colon).trim(), value: line.slice(colon + 1).trim() };
}

/** Transport attributes given at one level (session or media). */
function transportAt(lines: readonly string[]): Partial<Transport> {
  const t: Partial<Transport> = {};
  const fingerprints: string[] = [];
  for (const line of lines) {
    const a = attribute(line);
    if (!a || a.value === null) continue;
    if (a.name === 'ice-ufrag') t.ufrag ??= a.value;
    else if (a.name === 'ice-pwd') t.pwd ??= a.value;
    else if (a.name === 'ice-options') t.options ??= a.value;
    else if (a.name === 'setup') t.setup ??= a.value;
    else if (a.name === 'fingerprint') fingerprints.push(a.value);
  }
  if (fingerprints.length) t.fingerprints = fingerprints;
  return t;
}

/** A section's transport: its own attributes, else the session-level ones (RFC 8839 section 5.4, RFC 8122 section 5). */
function effective(session: Partial<Transport>, own: Partial<Transport>): Transport {
  return {
    ufrag: own.ufrag ?? session.ufrag ?? null,
    pwd: own.pwd ?? session.pwd ?? null,
    options: own.options ?? session.options ?? null,
    setup: own.setup ?? session.setup ?? null,
    fingerprints: own.fingerprints ?? session.fingerprints ?? [],
  };
}

function sameTransport(a: Transport, b: Transport): boolean {
  return a.ufrag === b.ufrag && a.pwd === b.pwd && a.options === b.options && a.setup === b.setup
    && a.fingerprints.length === b.fingerprints.length && a.fingerprints.every((f, i) => f === b.fingerprints[i]);
}

/** "m-section 2 (video)": the position is ours, the kind only when it is one we know. */
function label(s: Section): string {
  return `m-section ${s.index + 1} (${s.kind})`;
}

/**
 * Normalises a partner's offer or answer to the transport of its BUNDLE group (see the module
 * comment), or says why it cannot be answered with one transport.
 */
export function normalizeBundle(sdp: string): BundleResult {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const all = sdp.split(/\r?\n/);
  const firstMedia = all.findIndex((l) => l.startsWith('m='));
  const sessionLines = firstMedia < 0 ? all : all.slice(0, firstMedia);
  const sections: Section[] = [];
  if (firstMedia >= 0) {
    let current: string[] = [];
    for (const line of all.slice(firstMedia)) {
      if (line.startsWith('m=')) { current = [line]; sections.push({ index: sections.length, kind: '', lines: current, mid: null, disabled: false, own: {} }); } else current.push(line);
    }
  }
  for (const s of sections) {
    const m = /^m=(\S+) (\d+)/.exec(s.lines[0]!);
    s.kind = m && ['audio', 'video', 'application'].includes(m[1]!) ? m[1]! : 'other';
    const attrs = s.lines.map(attribute);
    s.mid = attrs.find((a) => a?.name === 'mid')?.value ?? null;
    s.disabled = m?.[2] === '0' && !attrs.some((a) => a?.name === 'bundle-only');
    s.own = transportAt(s.lines);
  }
  const session = transportAt(sessionLines);
  const usable = sections.filter((s) => !s.disabled);
  if (usable.length === 0) return { ok: false, reason: 'the description has no usable media section' };

  const groups = sessionLines.map(attribute)
    .filter((a) => a?.name === 'group' && a.value !== null && a.value.split(/\s+/)[0] === 'BUNDLE')
    .map((a) => a!.value!.split(/\s+/).slice(1).filter(Boolean))
    .filter((mids) => mids.length > 0);
  if (groups.length > 1) return { ok: false, reason: `the description has ${groups.length} BUNDLE groups (RFC 8843); a chatzyo peer runs one transport per call` };

  let tagged: Section;
  const group = groups[0];
  if (!group) {
    if (usable.length > 1) {
      return {
        ok: false,
        reason: `the description has ${usable.length} media sections and no BUNDLE group (RFC 8843); a chatzyo peer runs one transport per call and cannot answer one transport per section`,
      };
    }
    tagged = usable[0]!;
  } else {
    const byMid = new Map<string, Section>();
    for (const s of sections) if (s.mid !== null && !byMid.has(s.mid)) byMid.set(s.mid, s);
    const unknown = group.findIndex((mid) => !byMid.has(mid));
    if (unknown >= 0) return { ok: false, reason: `identification-tag ${unknown + 1} of the BUNDLE group names no media section` };
    const outside = usable.find((s) => s.mid === null || !group.includes(s.mid));
    if (outside) return { ok: false, reason: `${label(outside)} is outside the BUNDLE group (RFC 8843); a chatzyo peer runs one transport per call` };
    // A section of the group keeps its place even with port 0: werift answers an inactive
    // section with port 0 and leaves it in the group, with its transport attributes.
    tagged = byMid.get(group[0]!)!;
  }

  const transport = effective(session, tagged.own);
  if (transport.ufrag === null || transport.pwd === null) {
    return { ok: false, reason: `the transport's ${label(tagged)} carries no ice-ufrag/ice-pwd (RFC 8839 section 5.4)` };
  }
  const foreign: ForeignSection[] = [];
  let changed = false;
  for (const s of sections) {
    if (s === tagged) continue;
    const was = effective(session, s.own);
    if (sameTransport(was, transport)) continue;
    changed = true;
    const ownCredentials = was.ufrag !== transport.ufrag || was.pwd !== transport.pwd;
    if (ownCredentials) foreign.push({ index: s.index, mid: s.mid, ufrag: was.ufrag });
    const kept = s.lines.filter((line, i) => {
      if (i === 0) return true;
      const a = attribute(line);
      if (!a) return true;
      if (TRANSPORT_ATTRIBUTES.has(a.name)) return false;
      // Candidates of another ICE agent: checks toward them would carry the wrong credentials.
      return !(ownCredentials && CANDIDATE_ATTRIBUTES.has(a.name));
    });
    const added = [
      `a=ice-ufrag:${transport.ufrag}`,
      `a=ice-pwd:${transport.pwd}`,
      ...(transport.options !== null ? [`a=ice-options:${transport.options}`] : []),
      ...transport.fingerprints.map((f) => `a=fingerprint:${f}`),
      ...(transport.setup !== null ? [`a=setup:${transport.setup}`] : []),
    ];
    // Attributes come after the section's i=, c=, b= and k= lines (RFC 8866 section 5).
    let at = kept.findIndex((line, i) => i > 0 && line.startsWith('a='));
    if (at < 0) at = kept.length > 1 && kept[kept.length - 1] === '' ? kept.length - 1 : kept.length;
    kept.splice(at, 0, ...added);
    s.lines = kept;
  }
  if (!changed) return { ok: true, sdp, bundled: !!group, foreign };
  return { ok: true, sdp: [...sessionLines, ...sections.flatMap((s) => s.lines)].join(eol), bundled: !!group, foreign };
}

/**
 * The answer without its `a=group:BUNDLE` line, for an offer that had none: an answerer must not
 * add a BUNDLE group the offer did not have (RFC 8843 section 7.3). werift always writes one.
 */
export function withoutBundleGroup(sdp: string): string {
  return sdp.replace(/^a=group:BUNDLE\b[^\r\n]*(\r?\n|$)/gm, '');
}
