/**
 * The peer's answer to a receiver's RTCP XR reference time reports (src/peer/werift-seam.ts
 * dlrrAnswer, RFC 3611 sections 4.4 and 4.5), byte by byte; test/peer/chromium.test.ts checks
 * that a Chromium page measures the video's round trip with it.
 */
import { describe, expect, it } from 'vitest';
import { dlrrAnswer } from '../../src/peer/werift-seam.js';

/** A receiver report with no report blocks, from `ssrc`. */
const rr = (ssrc: number) => Buffer.from([0x80, 201, 0, 1, ...u32(ssrc)]);
/** An XR packet from `ssrc` with one RRTR block for NTP time `sec`.`frac`. */
const xrRrtr = (ssrc: number, sec: number, frac: number) => Buffer.from([0x80, 207, 0, 4, ...u32(ssrc), 4, 0, 0, 2, ...u32(sec), ...u32(frac)]);
function u32(n: number): number[] { return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]; }

describe('dlrrAnswer', () => {
  it('answers each RRTR in a compound packet with a DLRR sub-block: its sender, the middle 32 bits of its NTP time, the delay', () => {
    const compound = Buffer.concat([rr(0x1111_2222), xrRrtr(0x1111_2222, 0xaabb_ccdd, 0x1234_5678)]);
    const out = dlrrAnswer(compound, 0x9999_8888, 0x10)!;
    expect(out.toString('hex')).toBe([
      '80cf0005', '99998888', // XR, 6 words, from us
      '05000003', // DLRR block, 3 words
      '11112222', 'ccdd1234', '00000010', // their SSRC, LRR, DLRR
    ].join(''));
  });

  it('gives nothing for a packet without an RRTR, and never reads past a length that runs over', () => {
    expect(dlrrAnswer(rr(1), 2)).toBeNull();
    // A DLRR block (type 5) from a sender is not a request.
    expect(dlrrAnswer(Buffer.from([0x80, 207, 0, 5, ...u32(1), 5, 0, 0, 3, ...u32(2), ...u32(3), ...u32(4)]), 2)).toBeNull();
    const truncated = xrRrtr(1, 2, 3).subarray(0, 14);
    expect(dlrrAnswer(truncated, 2)).toBeNull();
    const lying = Buffer.from(xrRrtr(1, 2, 3));
    lying.writeUInt16BE(9, 10); // the block says 9 words in a packet of 4
    expect(dlrrAnswer(lying, 2)).toBeNull();
  });
});
