import { describe, expect, it } from 'vitest';
import { DEGRADATION_PREFERENCE, maxBitrateFor, videoSendParameters } from '../../src/web/sender-settings.js';

describe('maxBitrateFor', () => {
  it('caps by picture size', () => {
    expect(maxBitrateFor(640, 480)).toBe(900_000);
    expect(maxBitrateFor(480, 360)).toBe(500_000);
    expect(maxBitrateFor(481, 360)).toBe(900_000);
    expect(maxBitrateFor(320, 240)).toBe(300_000);
    expect(maxBitrateFor(160, 120)).toBe(300_000);
    expect(maxBitrateFor(1280, 720)).toBe(1_800_000);
    expect(maxBitrateFor(1920, 1080)).toBe(2_500_000);
  });

  it('takes an unknown size as 640x480', () => {
    expect(maxBitrateFor(undefined, undefined)).toBe(900_000);
    expect(maxBitrateFor(0, 480)).toBe(900_000);
  });
});

describe('videoSendParameters', () => {
  const current = { transactionId: 't1', encodings: [{ active: true, rid: 'a' }], degradationPreference: undefined as string | undefined };

  it('caps and (de)activates every encoding and keeps the transaction id', () => {
    const on = videoSendParameters(current, { width: 480, height: 360, active: true, degradation: true });
    expect(on).toEqual({ transactionId: 't1', encodings: [{ active: true, rid: 'a', maxBitrate: 500_000 }], degradationPreference: DEGRADATION_PREFERENCE });
    const off = videoSendParameters(current, { width: 640, height: 480, active: false, degradation: false });
    expect(off.encodings).toEqual([{ active: false, rid: 'a', maxBitrate: 900_000 }]);
    expect(off.degradationPreference).toBeUndefined();
    expect(current.encodings[0]).toEqual({ active: true, rid: 'a' }); // not mutated
  });

  it('describes the single stream when the browser lists no encodings yet', () => {
    expect(videoSendParameters({ encodings: [] }, { width: 320, height: 240, active: true, degradation: false }).encodings).toEqual([{ active: true, maxBitrate: 300_000 }]);
  });
});
