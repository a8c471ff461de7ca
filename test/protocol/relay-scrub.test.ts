import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scrubRelayCandidate, scrubRelaySdp, scrubRelaySignal } from '../../src/protocol/client/index.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/sdp/relay-scrub/${name}`, import.meta.url), 'latin1');
const STACKS = ['chromium', 'firefox', 'werift'] as const;

/** Addresses of the user in the fixtures (see fixtures/sdp/relay-scrub/README.md); the partner must see none. */
const OWN = ['203.0.113.7', '192.0.2.2', 'fd00::2', '.local'];
const RELAY = '198.51.100.20';

/** Every candidate line of an SDP, or the trickled ones. */
const candidatesOf = (sdp: string) => [...sdp.matchAll(/^a=(candidate:[^\r\n]*)/gm)].map((m) => m[1]!);

function expectOnlyScrubbedRelays(lines: string[]): void {
  for (const line of lines) {
    expect(line).toMatch(/ typ relay /);
    expect(line).not.toMatch(/ typ (host|srflx|prflx)\b/);
    expect([...line.matchAll(/ raddr (\S+)/g)].map((m) => m[1])).toEqual(['0.0.0.0']);
    expect([...line.matchAll(/ rport (\S+)/g)].map((m) => m[1])).toEqual(['0']);
  }
}

describe('scrubRelayCandidate', () => {
  it('keeps exactly the relay candidates of each stack, with raddr 0.0.0.0 rport 0 and everything else as it was', () => {
    for (const stack of STACKS) {
      const input = fixture(`${stack}-all.candidates`).split('\n').filter((l) => l !== '');
      const out = input.map(scrubRelayCandidate);
      const relays = input.filter((l) => / typ relay /.test(l));
      expect(relays.length, stack).toBeGreaterThan(0);
      expect(out.filter((c) => c !== null).length, stack).toBe(relays.length);
      expectOnlyScrubbedRelays(out.filter((c): c is string => c !== null));
      for (const c of out) if (c) for (const own of OWN) expect(c, stack).not.toContain(own);
    }
  });

  it('rewrites the related address in place, exactly', () => {
    expect(scrubRelayCandidate('candidate:1200739831 1 udp 50339839 198.51.100.20 64394 typ relay raddr 203.0.113.7 rport 53286 generation 0 ufrag iZ3K network-cost 999'))
      .toBe('candidate:1200739831 1 udp 50339839 198.51.100.20 64394 typ relay raddr 0.0.0.0 rport 0 generation 0 ufrag iZ3K network-cost 999');
    // Firefox: upper-case transport, nothing after rport.
    expect(scrubRelayCandidate('candidate:2 1 UDP 92151551 198.51.100.20 51329 typ relay raddr 203.0.113.7 rport 51329'))
      .toBe('candidate:2 1 UDP 92151551 198.51.100.20 51329 typ relay raddr 0.0.0.0 rport 0');
    // An SDP line keeps its a= prefix.
    expect(scrubRelayCandidate('a=candidate:ba04 1 udp 16777215 198.51.100.20 53668 typ relay raddr 203.0.113.7 rport 44024 generation 0 ufrag 122f'))
      .toBe('a=candidate:ba04 1 udp 16777215 198.51.100.20 53668 typ relay raddr 0.0.0.0 rport 0 generation 0 ufrag 122f');
  });

  it('handles IPv6, a missing or partial related address, rport 0, TCP relays and stray whitespace', () => {
    expect(scrubRelayCandidate('candidate:7 1 udp 16777215 2001:db8::20 3478 typ relay raddr 2001:db8:1::7 rport 52019 generation 0'))
      .toBe('candidate:7 1 udp 16777215 2001:db8::20 3478 typ relay raddr 0.0.0.0 rport 0 generation 0');
    // RFC 8839 says relays carry raddr/rport; a stack that leaves them out gets the blank pair.
    expect(scrubRelayCandidate('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay'))
      .toBe('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0');
    // werift writes raddr without rport when it knows no port.
    expect(scrubRelayCandidate('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 203.0.113.7 generation 0'))
      .toBe('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0 generation 0');
    expect(scrubRelayCandidate('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0'))
      .toBe('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0');
    // Related address after other extensions, upper case keywords, a tab, a trailing CR.
    expect(scrubRelayCandidate('candidate:7 1 tcp 16777215 198.51.100.20 443 TYP RELAY tcptype passive RADDR 203.0.113.7\tRPORT 9\r'))
      .toBe('candidate:7 1 tcp 16777215 198.51.100.20 443 typ relay raddr 0.0.0.0 rport 0 tcptype passive');
  });

  it('drops everything that is not a well-formed relay candidate', () => {
    for (const c of [
      '',
      'candidate:1 1 udp 2113937151 192.0.2.2 53286 typ host generation 0',
      'candidate:1 1 udp 2113937151 cd2cc5ec-bddb-4a3d-bc3d-ebe0266afb60.local 53286 typ host',
      'candidate:1 1 udp 1677729535 203.0.113.7 53286 typ srflx raddr 0.0.0.0 rport 0',
      'candidate:1 1 udp 1853817087 203.0.113.7 53286 typ prflx raddr 192.0.2.2 rport 1',
      // "relay" elsewhere than as the type
      'candidate:1 1 udp 2113937151 192.0.2.2 53286 typ host relay 1',
      'candidate:1 1 udp 2113937151 192.0.2.2 53286 typ hostrelay',
      // a relay that names a host instead of an address, or is cut short, or has a dangling token
      'candidate:1 1 udp 16777215 cd2cc5ec.local 3478 typ relay raddr 0.0.0.0 rport 0',
      'candidate:1 1 udp 16777215 turn.example.com 3478 typ relay',
      'candidate:1 1 udp 16777215 198.51.100.20 typ relay',
      'candidate:1 1 udp 16777215 198.51.100.20 3478 typ relay raddr',
      'candidate:1 1 udp 16777215 198.51.100.20 3478 typ relay raddr 203.0.113.7 rport 1 203.0.113.7',
      'candidate:1 1 udp 16777215 198.51.100.20 99999999 typ relay',
    ]) expect(scrubRelayCandidate(c), c).toBeNull();
  });

  it('never lets through a line with a non-relay type or another related address (fuzzed)', () => {
    const token = fc.oneof(
      fc.constantFrom('typ', 'relay', 'host', 'srflx', 'prflx', 'raddr', 'rport', '0', '0.0.0.0', '203.0.113.7', 'fd00::2', 'x.local', 'udp', '1', 'generation'),
      fc.stringMatching(/^[\w.:\t-]{1,12}$/),
    );
    fc.assert(fc.property(fc.array(token, { maxLength: 16 }), fc.boolean(), (tokens, sdpLine) => {
      const line = `${sdpLine ? 'a=' : ''}candidate:${tokens.join(' ')}`;
      const out = scrubRelayCandidate(line);
      if (out === null) return;
      const t = out.replace(/^(a=)?candidate:/, '').split(' ');
      expect(t.slice(6, 8)).toEqual(['typ', 'relay']);
      expect(t.slice(8, 12)).toEqual(['raddr', '0.0.0.0', 'rport', '0']);
      expect(t.slice(12).map((x) => x.toLowerCase())).not.toContain('raddr');
      expect(scrubRelayCandidate(out)).toBe(out); // idempotent
    }), { numRuns: 2000 });
  });

  it('keeps a well-formed candidate exactly when it is a relay, whatever its extensions (fuzzed)', () => {
    const address = fc.constantFrom('198.51.100.20', '203.0.113.7', '2001:db8::20', 'fd00::2', '::ffff:198.51.100.20', 'abc.local', 'turn.example.com');
    const ext = fc.tuple(
      fc.constantFrom('raddr', 'rport', 'RADDR', 'generation', 'ufrag', 'tcptype', 'network-id', 'network-cost'),
      fc.oneof(address, fc.constantFrom('0', '52019', 'active', 'iZ3K')),
    );
    const candidate = fc.record({
      foundation: fc.stringMatching(/^[A-Za-z0-9+/]{1,32}$/), component: fc.integer({ min: 1, max: 2 }), transport: fc.constantFrom('udp', 'UDP', 'tcp'),
      priority: fc.integer({ min: 0, max: 2 ** 31 }), address, port: fc.integer({ min: 0, max: 65535 }),
      type: fc.constantFrom('relay', 'host', 'srflx', 'prflx', 'RELAY'), exts: fc.array(ext, { maxLength: 6 }),
    });
    let kept = 0;
    fc.assert(fc.property(candidate, (c) => {
      const line = `candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ${c.port} typ ${c.type} ${c.exts.flat().join(' ')}`;
      const out = scrubRelayCandidate(line);
      const shouldKeep = c.type.toLowerCase() === 'relay' && !/[g-z]/i.test(c.address);
      expect(out !== null, line).toBe(shouldKeep);
      if (out === null) return;
      kept++;
      expectOnlyScrubbedRelays([out]);
      expect(out.startsWith(`candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ${c.port} typ relay raddr 0.0.0.0 rport 0`)).toBe(true);
      const others = c.exts.filter(([n]) => !/^r(addr|port)$/i.test(n)).flat().join(' ');
      expect(out.endsWith(`rport 0${others ? ` ${others}` : ''}`), out).toBe(true);
    }), { numRuns: 2000 });
    expect(kept).toBeGreaterThan(200);
  });
});

describe('scrubRelaySdp', () => {
  it('leaves only scrubbed relay candidates and none of the user\'s addresses in each stack\'s SDP', () => {
    for (const stack of STACKS) {
      const sdp = fixture(`${stack}-all.sdp`);
      const out = scrubRelaySdp(sdp);
      const kept = candidatesOf(out);
      expect(kept.length, stack).toBe(candidatesOf(sdp).filter((c) => / typ relay /.test(c)).length);
      expect(kept.length, stack).toBeGreaterThan(0);
      expectOnlyScrubbedRelays(kept);
      for (const own of OWN) expect(out, `${stack}: ${own}`).not.toContain(own);
      // Nothing else changed: the same lines in the same order, CRLF kept, end-of-candidates kept.
      const rest = (s: string) => s.split('\r\n').filter((l) => !l.startsWith('a=candidate:'));
      expect(rest(out), stack).toEqual(rest(sdp));
      expect(out.split('\r\n').filter((l) => l === 'a=end-of-candidates').length).toBe(sdp.split('\r\n').filter((l) => l === 'a=end-of-candidates').length);
      expect(out).toContain(RELAY);
      expect(scrubRelaySdp(out)).toBe(out);
    }
  });

  it('blanks a c=, a=rtcp or o= address that is not a relay candidate\'s, and the ports that went with it', () => {
    // Firefox puts the default candidate in c= and a=rtcp; were that a server-reflexive one, it
    // would be the user's public address.
    const sdp = fixture('firefox-all.sdp')
      .replace('m=audio 51329 ', 'm=audio 47394 ')
      .replace(/^c=IN IP4 198\.51\.100\.20(?=\r\na=candidate:0 1 UDP 2122187007 \S+ 47394)/m, 'c=IN IP4 203.0.113.7')
      .replace('a=rtcp:54093 IN IP4 198.51.100.20', 'a=rtcp:49447 IN IP4 203.0.113.7')
      .replace(/^o=(\S+ \S+ \S+) IN IP4 0\.0\.0\.0/m, 'o=$1 IN IP4 192.0.2.2');
    expect(sdp).toContain('c=IN IP4 203.0.113.7');
    const out = scrubRelaySdp(sdp);
    for (const own of OWN) expect(out).not.toContain(own);
    const audio = out.slice(out.indexOf('m=audio'), out.indexOf('m=video'));
    expect(audio).toMatch(/^m=audio 9 UDP\/TLS\/RTP\/SAVPF /);
    expect(audio).toContain('\r\nc=IN IP4 0.0.0.0\r\n');
    expect(audio).toContain('\r\na=rtcp:9 IN IP4 0.0.0.0\r\n');
    expect(out).toMatch(/^o=\S+ \S+ \S+ IN IP4 0\.0\.0\.0\r$/m);
    // The video section's default candidate is a relay: left alone.
    expect(out).toContain('m=video 64809 ');
    expect(out).toContain('a=rtcp:57242 IN IP4 198.51.100.20');
    // IPv6 and a session-level c= line.
    const v6 = 'v=0\nc=IN IP6 fd00::2\nm=audio 5000 RTP/AVP 0\na=rtcp:5001 IN IP6 fd00::2\nm=video 0 RTP/AVP 96\n';
    expect(scrubRelaySdp(v6)).toBe('v=0\nc=IN IP6 ::\nm=audio 9 RTP/AVP 0\na=rtcp:9 IN IP6 ::\nm=video 0 RTP/AVP 96\n');
  });

  it('keeps a relay-only SDP as the stacks send it (werift before gathering: no candidates)', () => {
    const before = fixture('werift-all.sdp').split('\r\n').filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');
    expect(scrubRelaySdp(before)).toBe(before);
  });
});

describe('scrubRelaySignal', () => {
  it('scrubs offers, answers and candidates, drops non-relay candidates, passes end-of-candidates', () => {
    const sdp = fixture('werift-all.sdp');
    expect(scrubRelaySignal({ kind: 'offer', sdp })).toEqual({ kind: 'offer', sdp: scrubRelaySdp(sdp) });
    expect(scrubRelaySignal({ kind: 'answer', sdp })).toEqual({ kind: 'answer', sdp: scrubRelaySdp(sdp) });
    const host = { candidate: 'candidate:1 1 udp 2113937151 192.0.2.2 53286 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' };
    expect(scrubRelaySignal({ kind: 'candidate', candidate: host })).toBeNull();
    const relay = { ...host, candidate: 'candidate:2 1 udp 16777215 198.51.100.20 3478 typ relay raddr 203.0.113.7 rport 52019' };
    expect(scrubRelaySignal({ kind: 'candidate', candidate: relay })).toEqual({
      kind: 'candidate', candidate: { ...relay, candidate: 'candidate:2 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0' },
    });
    const empty = { candidate: '', sdpMid: '0', sdpMLineIndex: 0 };
    expect(scrubRelaySignal({ kind: 'candidate', candidate: empty })).toEqual({ kind: 'candidate', candidate: empty });
    expect(scrubRelaySignal({ kind: 'end-of-candidates' })).toEqual({ kind: 'end-of-candidates' });
  });
});
