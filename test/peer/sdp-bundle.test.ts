// normalizeBundle on captured offers (fixtures/sdp/, and the browsers' offers of the relay-scrub
// fixtures) and on generated ones (fast-check): the bundle-tagged section's transport for every
// bundled section (RFC 8843), a clear refusal for an offer that needs a transport per section.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionDescription } from 'werift';
import { normalizeBundle, withoutBundleGroup } from '../../src/peer/sdp-bundle.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/sdp/${name}`, import.meta.url), 'latin1');
const browserOffer = (stack: string) => readFileSync(new URL(`../../fixtures/sdp/relay-scrub/${stack}-all.sdp`, import.meta.url), 'latin1');

/** Each m-section's lines. */
const sectionsOf = (sdp: string) => sdp.split(/\r?\nm=/).slice(1);
const valuesOf = (section: string, attr: string) => [...section.matchAll(new RegExp(`^a=${attr}:(.*?)\\r?$`, 'gm'))].map((m) => m[1]!);

/** What werift makes of a description: each section's ICE credentials and DTLS fingerprints. */
function asWerift(sdp: string) {
  return SessionDescription.parse(sdp).media.map((m) => ({
    ufrag: m.iceParams?.usernameFragment,
    pwd: m.iceParams?.password,
    fingerprints: [...new Set(m.dtlsParams?.fingerprints.map((f) => `${f.algorithm} ${f.value}`) ?? [])],
    role: m.dtlsParams?.role,
    candidates: m.iceCandidates.length,
  }));
}

describe('normalizeBundle on captured offers', () => {
  it('BUNDLE with different credentials per section: every section takes the tagged section\'s, other agents\' candidates go', () => {
    const sdp = fixture('werift-bundle-distinct-credentials.sdp');
    const before = asWerift(sdp);
    expect(new Set(before.map((m) => m.ufrag)).size).toBe(3);
    const r = normalizeBundle(sdp);
    if (!r.ok) throw new Error(r.reason);
    expect(r.bundled).toBe(true);
    expect(r.foreign).toEqual([
      { index: 1, mid: '1', ufrag: before[1]!.ufrag },
      { index: 2, mid: '2', ufrag: before[2]!.ufrag },
    ]);
    const after = asWerift(r.sdp);
    const tag = before[0]!;
    for (const m of after) expect({ ufrag: m.ufrag, pwd: m.pwd, fingerprints: m.fingerprints, role: m.role }).toEqual({ ufrag: tag.ufrag, pwd: tag.pwd, fingerprints: tag.fingerprints, role: tag.role });
    expect(after.map((m) => m.candidates)).toEqual([tag.candidates, 0, 0]);
    expect(tag.candidates).toBeGreaterThan(0);
    const sections = sectionsOf(r.sdp);
    expect(sections[0]).toBe(sectionsOf(sdp)[0]);
    for (const s of sections.slice(1)) expect(s).not.toMatch(/^a=(candidate|end-of-candidates)/m);
    // Nothing but the transport lines changed, and the line endings stayed CRLF.
    expect(r.sdp.split('\r\n').filter((l) => !/^a=(ice-ufrag|ice-pwd|candidate|end-of-candidates)/.test(l)))
      .toEqual(sdp.split('\r\n').filter((l) => !/^a=(ice-ufrag|ice-pwd|candidate|end-of-candidates)/.test(l)));
    expect(r.sdp.replace(/\r\n/g, '')).not.toMatch(/\n/);
  });

  it('BUNDLE repeating the same credentials, and Chromium\'s, Firefox\'s (bundle-only sections) and chatzyo\'s own offers, come back unchanged', () => {
    const offers = [
      fixture('werift-bundle-repeated-credentials.sdp'), fixture('chromium-offer.sdp'), fixture('firefox-offer.sdp'), fixture('werift-offer.sdp'),
      browserOffer('chromium'), browserOffer('firefox'), browserOffer('werift'),
    ];
    for (const sdp of offers) {
      const r = normalizeBundle(sdp);
      expect(r).toEqual({ ok: true, sdp, bundled: true, foreign: [] });
    }
  });

  it('no BUNDLE group and three m-sections: refused, saying why', () => {
    const r = normalizeBundle(fixture('werift-unbundled.sdp'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('the description has 3 media sections and no BUNDLE group (RFC 8843); a chatzyo peer runs one transport per call and cannot answer one transport per section');
  });

  it('no BUNDLE group and one m-section: nothing to bundle, unchanged', () => {
    const sdp = fixture('werift-unbundled-single-section.sdp');
    expect(normalizeBundle(sdp)).toEqual({ ok: true, sdp, bundled: false, foreign: [] });
  });
});

describe('normalizeBundle: RFC 8843 details', () => {
  const distinct = fixture('werift-bundle-distinct-credentials.sdp');

  it('the tag is the first identification-tag of the group, not the first m-line', () => {
    const sdp = distinct.replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 1 0 2');
    const r = normalizeBundle(sdp);
    if (!r.ok) throw new Error(r.reason);
    const audio = asWerift(sdp)[1]!;
    expect(asWerift(r.sdp).map((m) => m.ufrag)).toEqual([audio.ufrag, audio.ufrag, audio.ufrag]);
    expect(r.foreign.map((f) => f.index)).toEqual([0, 2]);
  });

  it('session-level attributes count for every section that has none of its own (RFC 8839 section 5.4)', () => {
    const repeated = fixture('werift-bundle-repeated-credentials.sdp');
    const [ufrag] = valuesOf(repeated, 'ice-ufrag');
    const [pwd] = valuesOf(repeated, 'ice-pwd');
    const [fp] = valuesOf(repeated, 'fingerprint');
    // Transport attributes at session level only: already one transport, unchanged.
    const sessionLevel = repeated
      .replace(/^a=(ice-ufrag|ice-pwd|fingerprint):.*\r\n/gm, '')
      .replace('a=group:BUNDLE 0 1 2\r\n', `a=group:BUNDLE 0 1 2\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\na=fingerprint:${fp}\r\n`);
    expect(normalizeBundle(sessionLevel)).toEqual({ ok: true, sdp: sessionLevel, bundled: true, foreign: [] });
    // The third section overrides them: it takes the tag's (session-level) credentials back.
    const override = sessionLevel.replace('a=mid:2', 'a=mid:2\r\na=ice-ufrag:othr\r\na=ice-pwd:otherpasswordotherpassword');
    const r = normalizeBundle(override);
    if (!r.ok) throw new Error(r.reason);
    expect(asWerift(r.sdp).map((m) => m.ufrag)).toEqual([ufrag, ufrag, ufrag]);
    expect(r.foreign).toEqual([{ index: 2, mid: '2', ufrag: 'othr' }]);
  });

  it('a bundle-only section without transport attributes gets the tag\'s, whatever its mid (werift fills them only for mids equal to their index)', () => {
    const named = distinct
      .replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE video audio data')
      .replace('a=mid:0', 'a=mid:video').replace('a=mid:1', 'a=mid:audio').replace('a=mid:2', 'a=mid:data');
    const [, audio] = sectionsOf(named);
    const bare = audio!.split('\r\n').filter((l) => !/^a=(ice-|fingerprint|setup|candidate|end-of-candidates)/.test(l))
      .map((l) => l.replace(/^audio 9 /, 'audio 0 ')).join('\r\n').replace('a=mid:audio', 'a=bundle-only\r\na=mid:audio');
    const sdp = named.replace(audio!, bare);
    expect(asWerift(sdp)[1]!.ufrag).toBeUndefined();
    const r = normalizeBundle(sdp);
    if (!r.ok) throw new Error(r.reason);
    const tag = asWerift(sdp)[0]!;
    expect(asWerift(r.sdp).map((m) => m.ufrag)).toEqual([tag.ufrag, tag.ufrag, tag.ufrag]);
    expect(asWerift(r.sdp)[1]!.fingerprints).toEqual(tag.fingerprints);
    expect(r.foreign.map((f) => f.mid)).toEqual(['audio', 'data']);
  });

  it('a rejected section (port 0, not bundle-only) may stay outside the group', () => {
    const sdp = distinct.replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 0 1').replace('m=application 9 ', 'm=application 0 ');
    const r = normalizeBundle(sdp);
    expect(r.ok).toBe(true);
  });

  it('a section with port 0 inside the group is still bundled, and may be the tag (werift answers an inactive section so)', () => {
    const sdp = distinct.replace('m=video 9 ', 'm=video 0 ');
    const r = normalizeBundle(sdp);
    if (!r.ok) throw new Error(r.reason);
    const tag = asWerift(sdp)[0]!;
    expect(asWerift(r.sdp).map((m) => m.ufrag)).toEqual([tag.ufrag, tag.ufrag, tag.ufrag]);
  });

  it('refusals: a usable section outside the group, a tag naming no section, two groups, a tag without credentials, no section', () => {
    const refused = (sdp: string) => { const r = normalizeBundle(sdp); return r.ok ? null : r.reason; };
    expect(refused(distinct.replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 0 1'))).toBe('m-section 3 (application) is outside the BUNDLE group (RFC 8843); a chatzyo peer runs one transport per call');
    expect(refused(distinct.replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 0 1 2 \x1b[31mevil'))).toBe('identification-tag 4 of the BUNDLE group names no media section');
    expect(refused(distinct.replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 0 1\r\na=group:BUNDLE 2'))).toMatch(/^the description has 2 BUNDLE groups/);
    expect(refused(distinct.replace(/^a=ice-ufrag:.*\r\n/m, ''))).toBe('the transport\'s m-section 1 (video) carries no ice-ufrag/ice-pwd (RFC 8839 section 5.4)');
    expect(refused('v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n')).toBe('the description has no usable media section');
    expect(refused(distinct.replace('m=video 9 UDP', 'm=\x1b]0;x\x07 9 UDP').replace('a=group:BUNDLE 0 1 2', 'a=group:BUNDLE 1 2'))).toBe('m-section 1 (other) is outside the BUNDLE group (RFC 8843); a chatzyo peer runs one transport per call');
  });

  it('LF line endings stay LF', () => {
    const lf = normalizeBundle(distinct.replace(/\r\n/g, '\n'));
    const crlf = normalizeBundle(distinct);
    if (!lf.ok || !crlf.ok) throw new Error('refused');
    expect(lf.sdp).not.toContain('\r');
    expect(lf.sdp).toBe(crlf.sdp.replace(/\r\n/g, '\n'));
  });
});

describe('withoutBundleGroup', () => {
  it('drops the group line only', () => {
    const sdp = fixture('werift-bundle-repeated-credentials.sdp');
    const out = withoutBundleGroup(sdp);
    expect(out).not.toMatch(/a=group/);
    expect(out.split('\r\n')).toEqual(sdp.split('\r\n').filter((l) => !l.startsWith('a=group:BUNDLE')));
  });
});

// Generated offers: sections with their own, shared or no credentials, session-level ones or not,
// bundle-only and rejected sections, groups covering all, some, none, in any order, or two.
const KIND_LINES = {
  audio: ['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=rtpmap:111 opus/48000/2'],
  video: ['m=video 9 UDP/TLS/RTP/SAVPF 96', 'a=rtpmap:96 VP8/90000'],
  application: ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=sctp-port:5000'],
} as const;
const FP = (n: number) => `sha-256 ${Array.from({ length: 32 }, (_, i) => ((i + n * 7) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':')}`;

const sectionArb = fc.record({
  kind: fc.constantFrom('audio', 'video', 'application') as fc.Arbitrary<keyof typeof KIND_LINES>,
  creds: fc.constantFrom('own', 'first', 'none'),
  fingerprint: fc.constantFrom('own', 'first', 'none'),
  setup: fc.constantFrom('actpass', 'active', 'passive', null),
  port: fc.constantFrom('9', '0', '0+bundle-only'),
  candidates: fc.nat(2),
  hasMid: fc.boolean(),
});
const offerArb = fc.record({
  sections: fc.array(sectionArb, { minLength: 1, maxLength: 4 }),
  midPrefix: fc.constantFrom('', 'm', 'video-'),
  session: fc.record({ creds: fc.boolean(), fingerprint: fc.boolean() }),
  group: fc.constantFrom('all', 'reversed', 'partial', 'none', 'two'),
  crlf: fc.boolean(),
});

type GeneratedOffer = typeof offerArb extends fc.Arbitrary<infer T> ? T : never;

function build(o: GeneratedOffer) {
  const mid = (i: number) => `${o.midPrefix}${i}`;
  const withMid = o.sections.map((s, i) => ({ ...s, i, mid: s.hasMid || o.group !== 'none' ? mid(i) : null }));
  const mids = withMid.filter((s) => s.mid !== null).map((s) => s.mid!);
  const groups = o.group === 'all' ? [mids] : o.group === 'reversed' ? [[...mids].reverse()] : o.group === 'partial' ? [mids.slice(0, -1)]
    : o.group === 'two' ? [mids.slice(0, 1), mids.slice(1)] : [];
  const lines = ['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', ...groups.filter((g) => g.length).map((g) => `a=group:BUNDLE ${g.join(' ')}`)];
  if (o.session.creds) lines.push('a=ice-ufrag:sess', 'a=ice-pwd:sessionpasswordsessionpass');
  if (o.session.fingerprint) lines.push(`a=fingerprint:${FP(99)}`);
  for (const s of withMid) {
    const [m, ...rest] = KIND_LINES[s.kind];
    lines.push(m.replace(' 9 ', s.port === '9' ? ' 9 ' : ' 0 '), 'c=IN IP4 0.0.0.0');
    if (s.port === '0+bundle-only') lines.push('a=bundle-only');
    for (let c = 0; c < s.candidates; c++) lines.push(`a=candidate:${c} 1 udp 2122260223 203.0.113.${10 + s.i} ${40000 + s.i * 10 + c} typ host`);
    const credsOf = s.creds === 'own' ? s.i : s.creds === 'first' ? 0 : null;
    if (credsOf !== null) lines.push(`a=ice-ufrag:uf${credsOf}`, `a=ice-pwd:password${credsOf}password${credsOf}pw`);
    const fpOf = s.fingerprint === 'own' ? s.i : s.fingerprint === 'first' ? 0 : null;
    if (fpOf !== null) lines.push(`a=fingerprint:${FP(fpOf)}`);
    if (s.setup) lines.push(`a=setup:${s.setup}`);
    if (s.mid !== null) lines.push(`a=mid:${s.mid}`);
    lines.push('a=sendrecv', 'a=rtcp-mux', ...rest);
  }
  return { sdp: lines.join(o.crlf ? '\r\n' : '\n') + (o.crlf ? '\r\n' : '\n'), sections: withMid, groups: groups.filter((g) => g.length) };
}

describe('normalizeBundle: generated offers (fast-check)', () => {
  it('accepts exactly what one transport can answer; then every section has the tagged section\'s transport, and normalising again changes nothing', () => {
    fc.assert(fc.property(offerArb, (o) => {
      const { sdp, sections, groups } = build(o);
      const usable = sections.filter((s) => s.port !== '0');
      const tagged = groups.length === 1 ? sections.find((s) => s.mid === groups[0]![0]) : usable.length === 1 ? usable[0] : undefined;
      const tagCreds = tagged && (tagged.creds === 'own' ? `uf${tagged.i}` : tagged.creds === 'first' ? 'uf0' : o.session.creds ? 'sess' : null);
      const answerable = usable.length > 0 && groups.length <= 1 && tagged !== undefined && !!tagCreds
        && (groups.length === 0 ? usable.length === 1 : usable.every((s) => s.mid !== null && groups[0]!.includes(s.mid)));
      const r = normalizeBundle(sdp);
      expect(r.ok).toBe(answerable);
      if (!r.ok) {
        // The reason names sections by position, never by the partner's identification-tags.
        if (o.midPrefix) for (const s of sections) if (s.mid) expect(r.reason).not.toContain(s.mid);
        return;
      }
      const parsed = asWerift(r.sdp);
      const tag = parsed[tagged!.i]!;
      expect(tag.ufrag).toBe(tagCreds);
      for (const m of parsed) expect([m.ufrag, m.pwd, m.fingerprints, m.role]).toEqual([tag.ufrag, tag.pwd, tag.fingerprints, tag.role]);
      for (const f of r.foreign) expect(parsed[f.index]!.candidates).toBe(0);
      expect(parsed[tagged!.i]!.candidates).toBe(tagged!.candidates);
      const again = normalizeBundle(r.sdp);
      expect(again).toEqual({ ok: true, sdp: r.sdp, bundled: r.bundled, foreign: [] });
    }), { numRuns: 400 });
  });

  it('never throws on any text or on fixtures with lines dropped, repeated or swapped', () => {
    const base = fixture('werift-bundle-distinct-credentials.sdp').split('\r\n');
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => { normalizeBundle(s); }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.constantFrom('drop', 'repeat', 'swap', 'garble')), { maxLength: 8 }), (edits) => {
      const lines = [...base];
      for (const [i, op] of edits) {
        if (i >= lines.length) continue;
        if (op === 'drop') lines.splice(i, 1);
        else if (op === 'repeat') lines.splice(i, 0, lines[i]!);
        else if (op === 'swap' && i + 1 < lines.length) [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
        else lines[i] = lines[i]!.replace(/[:= ]/, '');
      }
      const r = normalizeBundle(lines.join('\r\n'));
      expect(typeof r.ok).toBe('boolean');
    }), { numRuns: 300 });
  });
});
