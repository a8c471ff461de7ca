/**
 * werift's DTLS over a path with a long round trip. Both of werift's endpoints repeat their
 * last flight 500 ms after sending it, so on a path whose round trip is longer every flight
 * arrives twice; werift handled the repeats as new messages (its client threw on the second
 * HelloVerifyRequest, drew a new key pair on a repeated ServerKeyExchange; its server derived
 * the keys again from a transcript with the repeats in it) and the handshake failed.
 * `ignoreRepeatedHandshakes` (werift-seam.ts) hands each handshake message over once. Here a
 * werift client and server talk over an in-memory link with a fixed one-way delay (and, in one
 * case, the first ClientHello lost, or one of the server's last flights), and must connect and carry data both ways; the lab test (test/lab/long-rtt-dtls.test.ts) does the same with whole calls.
 */
import {
  CipherContext, DtlsClient, DtlsServer, HashAlgorithm, NamedCurveAlgorithm, SignatureAlgorithm,
} from 'werift';
import { describe, expect, it } from 'vitest';
import { ignoreRepeatedHandshakes } from '../../src/peer/werift-seam.js';
import { withTimeout } from '../helpers/deadline.js';
import { seededRandom } from '../../src/lab/link.js';

/** One end of the link, in the shape werift's DTLS takes as its transport. */
interface End {
  type: 'udp';
  closed: boolean;
  address: Record<string, never>;
  onData: (buf: Buffer) => void;
  send: (buf: Buffer) => Promise<void>;
  close: () => Promise<void>;
}

/**
 * Two ends; what one sends arrives at the other `oneWayMs` later. `drop(buf, n)` (n: the
 * datagram's index from this end) may lose a datagram. Timers are cancelled on close.
 */
function link(
  oneWayMs: number,
  drop: (from: 'client' | 'server', n: number, buf: Buffer) => boolean = () => false,
  late: (from: 'client' | 'server', buf: Buffer) => number = () => 0,
): { client: End; server: End; close: () => void } {
  const timers = new Set<NodeJS.Timeout>();
  const make = (name: 'client' | 'server'): End => {
    let n = 0;
    const end: End = {
      type: 'udp', closed: false, address: {}, onData: () => {},
      send: async (buf) => {
        if (end.closed || drop(name, n++, buf)) return;
        const copy = Buffer.from(buf);
        const t = setTimeout(() => { timers.delete(t); const other = name === 'client' ? ends.server : ends.client; if (!other.closed) other.onData(copy); }, oneWayMs + late(name, copy));
        timers.add(t);
      },
      close: async () => { end.closed = true; },
    };
    return end;
  };
  const ends = { client: make('client'), server: make('server') };
  return { ...ends, close: () => { for (const t of timers) clearTimeout(t); timers.clear(); ends.client.closed = true; ends.server.closed = true; } };
}

/** A DTLS record of the handshake (content type 22). */
const isHandshakeRecord = (buf: Buffer) => buf.length > 13 && buf[0] === 22;

async function certificate(): Promise<{ cert: string; key: string; signatureHash: { signature: number; hash: number } }> {
  const c = await CipherContext.createSelfSignedCertificateWithKey(
    { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23,
  );
  return { cert: c.certPem, key: c.keyPem, signatureHash: c.signatureHash };
}

/** A handshake between a werift client and server over `l`, then one message each way. */
async function handshake(l: ReturnType<typeof link>, afterwards?: () => Promise<void>): Promise<{ toServer: string; toClient: string }> {
  const [sc, cc] = await Promise.all([certificate(), certificate()]);
  const common = { srtpProfiles: [1, 7], extendedMasterSecret: true };
  const server = new DtlsServer({ ...sc, ...common, transport: l.server, certificateRequest: true } as never);
  const client = new DtlsClient({ ...cc, ...common, transport: l.client } as never);
  ignoreRepeatedHandshakes(server);
  ignoreRepeatedHandshakes(client);
  const failed = new Promise<never>((_, reject) => {
    for (const [name, s] of [['server', server], ['client', client]] as const) s.onError.subscribe((e: Error) => reject(new Error(`the ${name} failed the handshake: ${e.message}`)));
  });
  const up = (s: DtlsServer | DtlsClient) => new Promise<void>((r) => s.onConnect.once(() => r()));
  const got = (s: DtlsServer | DtlsClient) => new Promise<string>((r) => s.onData.subscribe((b: Buffer) => r(b.toString())));
  try {
    const connected = Promise.all([up(server), up(client)]);
    void client.connect().catch(() => {});
    await withTimeout(Promise.race([connected, failed]), 30_000, 'DTLS over a long round trip');
    const received = Promise.all([got(server), got(client)]);
    await client.send(Buffer.from('from the client'));
    await server.send(Buffer.from('from the server'));
    const [toServer, toClient] = await withTimeout(Promise.race([received, failed]), 10_000, 'data after the handshake');
    await afterwards?.();
    return { toServer, toClient };
  } finally {
    l.close();
    client.close();
    server.close();
  }
}

describe('werift DTLS over a long round trip', () => {
  // 600 ms: a 3G phone calling another through TURN. Every flight is repeated once.
  it('600 ms round trip: connects, and data flows both ways', async () => {
    expect(await handshake(link(300))).toEqual({ toServer: 'from the client', toClient: 'from the server' });
  }, 40_000);

  // 1.3 s: two satellite users. Each flight is repeated two or three times before its answer.
  it('1.3 s round trip: connects, and data flows both ways', async () => {
    expect(await handshake(link(650))).toEqual({ toServer: 'from the client', toClient: 'from the server' });
  }, 40_000);

  // A server's last flights are sent once (werift repeats only a flight that waits for an
  // answer): when one is lost, the client's repeat must bring it again (RFC 6347 4.2.4).
  it.each([
    ['the HelloVerifyRequest', 0],
    ['the server\'s Finished', 1],
  ] as const)('%s lost once: the client\'s repeat brings it again', async (_, epoch) => {
    let lost = 0;
    const l = link(40, (from, _n, buf) => {
      if (from !== 'server' || lost > 0 || !isHandshakeRecord(buf)) return false;
      // The HelloVerifyRequest is the server's first handshake record; its Finished the first of epoch 1.
      const hit = epoch === 0 ? buf[13] === 3 : buf.readUInt16BE(3) === 1;
      if (hit) lost++;
      return hit;
    });
    expect(await handshake(l)).toEqual({ toServer: 'from the client', toClient: 'from the server' });
    expect(lost).toBe(1);
  }, 40_000);

  // werift sends each message of a flight in its own datagram; jitter reorders them. Its server
  // derived the keys without a Certificate that came after the ClientKeyExchange, and threw on
  // a CertificateVerify before the Certificate.
  it('the client\'s Certificate overtaken by its ClientKeyExchange and CertificateVerify', async () => {
    let held = 0;
    const l = link(20, undefined, (from, buf) => {
      const hit = from === 'client' && isHandshakeRecord(buf) && buf[13] === 11 && held === 0;
      if (hit) held++;
      return hit ? 40 : 0;
    });
    expect(await handshake(l)).toEqual({ toServer: 'from the client', toClient: 'from the server' });
    expect(held).toBe(1);
  }, 40_000);

  it('jitter: every datagram 0-30 ms late at random, ten handshakes in a row', async () => {
    const random = seededRandom(7);
    for (let i = 0; i < 10; i++) {
      expect(await handshake(link(10, undefined, () => Math.floor(random() * 30)))).toEqual({ toServer: 'from the client', toClient: 'from the server' });
    }
  }, 120_000);

  // Once connected, only the server answers a repeat (RFC 6347 4.2.4): a client that answered
  // too would bounce flights with the server once per round trip for the whole call.
  it('600 ms round trip: after the handshake, the flights stop', async () => {
    let after: { client: number; server: number } | null = null;
    const l = link(300, (from, _n, buf) => {
      if (after && (buf[0] === 22 || buf[0] === 20)) after[from]++;
      return false;
    });
    const settle = () => new Promise<void>((r) => { setTimeout(r, 3000); });
    expect(await handshake(l, async () => {
      await settle(); // the last repeats of the handshake itself come and go
      after = { client: 0, server: 0 };
      await settle();
    })).toEqual({ toServer: 'from the client', toClient: 'from the server' });
    expect(after).toEqual({ client: 0, server: 0 });
  }, 40_000);

  // The first ClientHello lost: the repeat that gets through must count as the first.
  it('600 ms round trip with the first ClientHello lost', async () => {
    let lost = 0;
    const l = link(300, (from, n) => from === 'client' && n === 0 ? (lost++, true) : false);
    expect(await handshake(l)).toEqual({ toServer: 'from the client', toClient: 'from the server' });
    expect(lost).toBe(1);
  }, 40_000);
});
