// The captured offers and candidates in fixtures/sdp/ (fixtures/README.md): each is what a
// partner receives from one kind of chatzyo client, and each is a valid `signal` message.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClientFrame, parseServerFrame } from '../../src/protocol/index.js';

const STACKS = ['chromium', 'firefox', 'werift'] as const;
const read = (name: string) => readFileSync(new URL(`../../fixtures/sdp/${name}`, import.meta.url), 'utf8');
const MATCH = 'Zr2x0n1L4qTz9bQk';

/** Sends `data` both ways through the protocol's own parsers. */
function expectValidSignal(data: unknown, what: string): void {
  const text = JSON.stringify({ type: 'signal', matchId: MATCH, data });
  const c = parseClientFrame(text, Buffer.byteLength(text));
  expect(c.ok, `${what}: ${c.ok ? '' : c.message}`).toBe(true);
  expect(parseServerFrame(text).ok, what).toBe(true);
}

/** Addresses a fixture may hold: documentation ranges, unspecified, loopback in `o=` only. */
function foreignAddresses(text: string): string[] {
  const v4 = [...text.matchAll(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g)].map((m) => m[0])
    .filter((a) => !/^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$/.test(a) && a !== '0.0.0.0');
  const o = [...text.matchAll(/^o=.* IN IP4 (\S+)/gm)].map((m) => m[1]);
  const v6 = [...text.matchAll(/ ([0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}) \d+ typ /gi)].map((m) => m[1]!)
    .filter((a) => !/^2001:db8:/i.test(a));
  return [...v4.filter((a) => !(a === '127.0.0.1' && o.includes(a))), ...v6];
}

describe('fixtures/sdp: captured offers', () => {
  for (const stack of STACKS) {
    it(`${stack}: the offer is a valid signal, BUNDLEd, with the data channel section, small and with documentation addresses only`, () => {
      const sdp = read(`${stack}-offer.sdp`);
      expectValidSignal({ kind: 'offer', sdp }, `${stack} offer`);
      expect(sdp).toMatch(/^a=group:BUNDLE /m);
      expect(sdp).toMatch(/^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel\r?$/m);
      expect(sdp).toMatch(/^a=sctp-port:5000\r?$/m);
      expect(sdp).toMatch(/^a=setup:actpass\r?$/m);
      expect(sdp).toMatch(/^a=fingerprint:sha-256 /m);
      expect(sdp.length).toBeLessThan(8 * 1024);
      expect(foreignAddresses(sdp)).toEqual([]);
    });

    it(`${stack}: each trickled signal is valid, and they end with end-of-candidates`, () => {
      const lines = read(`${stack}-candidates.jsonl`).split('\n').filter((l) => l !== '');
      const signals = lines.map((l) => JSON.parse(l) as { kind: string; candidate?: { candidate: string; usernameFragment?: string | null } });
      for (const [i, s] of signals.entries()) expectValidSignal(s, `${stack} line ${i + 1}`);
      expect(signals.at(-1)).toEqual({ kind: 'end-of-candidates' });
      expect(signals.filter((s) => s.kind === 'candidate').length).toBeGreaterThan(0);
      expect(foreignAddresses(signals.map((s) => s.candidate?.candidate ?? '').join('\n'))).toEqual([]);
    });
  }

  it('usernameFragment may be null: werift sends null for its server-reflexive candidates (docs/protocol.md, signal)', () => {
    const srflx = read('werift-candidates.jsonl').split('\n').filter((l) => / typ srflx /.test(l)).map((l) => JSON.parse(l) as { candidate: { usernameFragment: unknown } });
    expect(srflx.length).toBeGreaterThan(0);
    for (const s of srflx) expect(s.candidate.usernameFragment).toBeNull();
  });
});
