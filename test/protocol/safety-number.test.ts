import { describe, expect, it } from 'vitest';
import { safetyNumber, sdpFingerprints } from '../../src/protocol/index.js';

const sdpA = 'v=0\r\na=fingerprint:sha-256 AA:BB:CC:DD\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n';
const sdpB = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:SHA-256 11:22:33:44\r\n';

describe('safety number', () => {
  it('reads fingerprints from session and media level', () => {
    expect(sdpFingerprints(sdpA)).toEqual(['sha-256 AA:BB:CC:DD']);
    expect(sdpFingerprints(sdpB)).toEqual(['sha-256 11:22:33:44']);
  });
  it('is the same on both sides and has 12 digits', async () => {
    const x = await safetyNumber(sdpA, sdpB);
    expect(x).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(await safetyNumber(sdpB, sdpA)).toBe(x);
  });
  it('changes when a fingerprint is swapped in transit', async () => {
    const tampered = sdpB.replace('11:22', '99:22');
    expect(await safetyNumber(sdpA, tampered)).not.toBe(await safetyNumber(sdpB, sdpA));
  });
  it('refuses an SDP without a fingerprint', async () => {
    await expect(safetyNumber('v=0\r\n', sdpB)).rejects.toThrow(/fingerprint/);
  });
});
