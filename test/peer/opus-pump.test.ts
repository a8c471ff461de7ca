/** The Ogg reader and the Opus packet lengths of the Opus pump (src/peer/opus-pump.ts), and its pace on a fake clock. */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackSocket } from '../../src/peer/media-source.js';
import { OggPackets, OpusPump, opusPacketSamples, STALE_MS } from '../../src/peer/opus-pump.js';
import { until } from '../helpers/deadline.js';

/** One Ogg page holding `packets` (the last one continued on the next page when `open`). */
function page(packets: Buffer[], open = false): Buffer {
  const lacing: number[] = [];
  packets.forEach((p, i) => {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    if (!(open && i === packets.length - 1)) lacing.push(n);
  });
  const header = Buffer.alloc(27);
  header.write('OggS', 0, 'latin1');
  header[26] = lacing.length;
  return Buffer.concat([header, Buffer.from(lacing), ...packets]);
}

describe('OggPackets', () => {
  it('splits pages into packets, a packet of 255 bytes or more across segments and pages, whatever the chunks', () => {
    const a = Buffer.alloc(10, 1);
    const b = Buffer.alloc(600, 2); // 255 + 255 + 90
    const c = Buffer.alloc(255, 3); // exactly 255: a 0 segment ends it
    const first = page([a, b.subarray(0, 510)], true);
    const second = page([b.subarray(510), c]);
    const stream = Buffer.concat([first, second]);
    const ogg = new OggPackets();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 7) out.push(...ogg.push(stream.subarray(i, i + 7)));
    expect(out.map((p) => p.length)).toEqual([10, 600, 255]);
    expect(out[1]!.equals(b)).toBe(true);
    expect(() => new OggPackets().push(Buffer.from('not ogg at all, twenty-seven+'))).toThrow(/OggS/);
  });
});

describe('opusPacketSamples', () => {
  it('reads the frame length and count from the TOC byte (RFC 6716)', () => {
    // CELT 20 ms (config 31), one frame: 960 samples; two frames (code 1): 1920.
    expect(opusPacketSamples(Buffer.from([(31 << 3) | 0]))).toBe(960);
    expect(opusPacketSamples(Buffer.from([(31 << 3) | 1]))).toBe(1920);
    // SILK 60 ms (config 3): 2880; hybrid 10 ms (config 12): 480; CELT 2.5 ms x 3 frames (code 3): 360.
    expect(opusPacketSamples(Buffer.from([(3 << 3) | 0]))).toBe(2880);
    expect(opusPacketSamples(Buffer.from([(12 << 3) | 0]))).toBe(480);
    expect(opusPacketSamples(Buffer.from([(16 << 3) | 3, 3]))).toBe(360);
    expect(opusPacketSamples(Buffer.alloc(0))).toBe(0);
  });
});

describe('OpusPump', () => {
  const closers: (() => void)[] = [];
  afterEach(() => { for (const c of closers.splice(0).reverse()) c(); });

  it('skips the two header packets and sends the rest as RTP at their media times, however fast they were read', async () => {
    const socket = await loopbackSocket();
    closers.push(() => socket.close());
    const got: { seq: number; ts: number; at: number; len: number }[] = [];
    socket.on('message', (m: Buffer) => got.push({ seq: m.readUInt16BE(2), ts: m.readUInt32BE(4), at: performance.now(), len: m.length - 12 }));
    const celt20 = (n: number) => Buffer.concat([Buffer.from([31 << 3]), Buffer.alloc(n, 7)]);
    // Everything at once: the headers and 10 packets of 20 ms (200 ms of audio).
    const input = Readable.from([page([Buffer.from('OpusHead........'), Buffer.from('OpusTags........')]), page(Array.from({ length: 10 }, (_, i) => celt20(20 + i)))]);
    // Nothing skipped here, however the machine stalls this test (the next test covers skipping).
    const pump = new OpusPump(input, { port: socket.address().port, payloadType: 111, staleMs: Infinity });
    closers.push(() => pump.stop());
    await until(() => got.length === 10, 5000, 'the pump sent 10 packets');
    expect(pump.error).toBeNull();
    expect(got.map((g) => g.len)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    for (let i = 1; i < 10; i++) {
      expect((got[i]!.seq - got[i - 1]!.seq) & 0xffff).toBe(1);
      expect((got[i]!.ts - got[i - 1]!.ts) >>> 0).toBe(960);
    }
    // Paced, not sent at once: the tenth goes out 180 ms of media after the first.
    expect(got[9]!.at - got[0]!.at).toBeGreaterThan(150);
  });

  it('after a stall of its thread skips what came due more than STALE_MS before, and sends the rest on time', async () => {
    const socket = await loopbackSocket();
    closers.push(() => socket.close());
    const got: { seq: number; ts: number }[] = [];
    socket.on('message', (m: Buffer) => got.push({ seq: m.readUInt16BE(2), ts: m.readUInt32BE(4) }));
    const celt20 = () => Buffer.from([31 << 3, 1, 2, 3]);
    // 2 s of 20 ms packets, all readable at once.
    const input = Readable.from([page([Buffer.from('OpusHead........'), Buffer.from('OpusTags........')]), page(Array.from({ length: 100 }, celt20))]);
    // The stall: the pump's clock jumps 300 ms ahead, as it finds after its thread stood still
    // that long (a descheduled process, a long collection). The machine's own stalls add to it.
    let stalled = 0;
    const pump = new OpusPump(input, { port: socket.address().port, payloadType: 111, now: () => performance.now() + stalled });
    closers.push(() => pump.stop());
    await until(() => got.length >= 3, 5000, 'the pump started sending');
    stalled = 300;
    const before = got.length;
    await until(() => got.length >= before + 20, 5000, 'the pump sends after the stall');
    // 300 ms is 15 packets' time: at least those due more than STALE_MS before were skipped.
    expect(pump.skippedMs).toBeGreaterThanOrEqual(300 - STALE_MS - 20);
    expect(pump.skipped * 20).toBe(pump.skippedMs);
    // Sequence numbers stay consecutive; the timestamps jump by exactly the media skipped.
    const jumps = got.slice(1).map((g, i) => ({ seq: (g.seq - got[i]!.seq) & 0xffff, ts: ((g.ts - got[i]!.ts) >>> 0) / 960 }));
    expect(jumps.every((j) => j.seq === 1)).toBe(true);
    expect(jumps.reduce((n, j) => n + j.ts - 1, 0)).toBe(pump.skipped);
    expect(Math.max(...jumps.map((j) => j.ts))).toBeGreaterThanOrEqual(1 + (300 - STALE_MS - 20) / 20);
  });

  it('stops, says why and destroys its input when the stream is not Ogg', async () => {
    const input = new Readable({ read() {} });
    let said: Error | null = null;
    const pump = new OpusPump(input, { port: 9, payloadType: 111, onError: (e) => { said = e; } });
    closers.push(() => pump.stop());
    input.push(Buffer.from('RIFF....WAVEfmt this is not an Ogg stream'));
    await until(() => said !== null, 5000, 'the pump reports the stream');
    expect(String(said)).toMatch(/OggS/);
    expect(pump.error).toBe(said);
    expect(input.destroyed).toBe(true);
  });
});
