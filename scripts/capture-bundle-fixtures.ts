/**
 * Captures the transport-shape offers in fixtures/sdp/ (see fixtures/README.md) that
 * test/peer/sdp-bundle.test.ts reads: offers of an outside stack (a bare werift
 * RTCPeerConnection, test/helpers/werift-outsider.ts) with its m-sections bundled or not, and
 * one ICE agent per section with credentials of its own or shared. Run once, by hand, when werift
 * changes; the tests read the committed files.
 *
 *   npx tsx scripts/capture-bundle-fixtures.ts [OUT_DIR]     (default fixtures/sdp)
 *
 * Each file is the offer with its candidates, taken once gathering is complete (line endings
 * kept). Addresses are rewritten into documentation ranges: IPv4 to 203.0.113.0/24, IPv6 to
 * 2001:db8::/32, the same address to the same replacement (0.0.0.0, the SDP placeholder, stays).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../test/helpers/server.js';
import { Outsider, type OfferShape } from '../test/helpers/werift-outsider.js';

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../..');
const OUT = path.resolve(process.argv[2] ?? path.join(ROOT, 'fixtures/sdp'));

const SHAPES: Record<string, OfferShape> = {
  'werift-bundle-distinct-credentials': { bundle: true, distinctCredentials: true },
  'werift-bundle-repeated-credentials': { bundle: true, distinctCredentials: false },
  'werift-unbundled': { bundle: false, distinctCredentials: true },
  'werift-unbundled-single-section': { bundle: false, distinctCredentials: false, media: false },
};

/** Every address in candidate and connection lines, mapped into the documentation ranges. */
function documentationAddresses(sdp: string): string {
  const seen = new Map<string, string>();
  const map = (addr: string): string => {
    if (addr === '0.0.0.0') return addr;
    let out = seen.get(addr);
    if (!out) {
      const n = [...seen.values()].filter((v) => v.includes(':') === addr.includes(':')).length + 10;
      out = addr.includes(':') ? `2001:db8::${n}` : `203.0.113.${n}`;
      seen.set(addr, out);
    }
    return out;
  };
  return sdp
    .replace(/^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)/gm, (_, head: string, addr: string) => head + map(addr))
    .replace(/ raddr (\S+)/g, (_, addr: string) => ` raddr ${map(addr)}`)
    .replace(/^(c=IN IP[46] )(\S+)/gm, (_, head: string, addr: string) => head + map(addr));
}

const server = await startServer();
try {
  mkdirSync(OUT, { recursive: true });
  for (const [name, shape] of Object.entries(SHAPES)) {
    const outsider = await Outsider.join(server.wsUrl, shape);
    try {
      const offer = await outsider.pc.createOffer();
      await outsider.pc.setLocalDescription(offer);
      const sdp = documentationAddresses(await outsider.gatheredOffer(10_000));
      writeFileSync(path.join(OUT, `${name}.sdp`), sdp);
      process.stdout.write(`${name}.sdp: ${sdp.length} bytes\n`);
    } finally {
      await outsider.close();
    }
  }
} finally {
  await server.close();
}
