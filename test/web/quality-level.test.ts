import { describe, expect, it } from 'vitest';
import {
  classifyQuality, qualityInputs, QualityTracker, QUALITY_THRESHOLDS as T, sampleFromStats, type QualityInputs, type QualityVerdict,
} from '../../src/web/quality-level.js';

/** A calm interval well past the upload warm-up. */
const calm: QualityInputs = {
  rttMs: 20, availableOutgoingKbps: 2000, sendLoss: 0, receiveLoss: 0, remoteVideoFlowing: true,
  freezeFraction: 0, freezes: 0, remoteFps: 25, sendingVideo: true, callSeconds: 30,
};
const level = (over: Partial<QualityInputs>) => classifyQuality({ ...calm, ...over });

describe('classifyQuality', () => {
  it('calls a calm interval good', () => {
    expect(level({})).toEqual({ level: 'good', cause: 'ok', reason: 'quality.ok' });
    expect(level({ rttMs: null, availableOutgoingKbps: null, sendLoss: null, receiveLoss: null, remoteFps: null })).toMatchObject({ level: 'good' });
  });

  it('judges the round trip at its thresholds', () => {
    expect(level({ rttMs: T.rttWeakMs - 1 }).level).toBe('good');
    expect(level({ rttMs: T.rttWeakMs })).toMatchObject({ level: 'weak', cause: 'delay', reason: 'quality.delay' });
    expect(level({ rttMs: T.rttPoorMs - 1 }).level).toBe('weak');
    expect(level({ rttMs: T.rttPoorMs })).toMatchObject({ level: 'poor', cause: 'delay' });
  });

  it('judges the outgoing estimate only while sending video and after the warm-up', () => {
    expect(level({ availableOutgoingKbps: T.uploadWeakKbps }).level).toBe('good');
    expect(level({ availableOutgoingKbps: T.uploadWeakKbps - 1 })).toMatchObject({ level: 'weak', cause: 'upload', reason: 'quality.upload' });
    expect(level({ availableOutgoingKbps: T.uploadPoorKbps }).level).toBe('weak');
    expect(level({ availableOutgoingKbps: T.uploadPoorKbps - 1 })).toMatchObject({ level: 'poor', cause: 'upload' });
    expect(level({ availableOutgoingKbps: 50, sendingVideo: false }).level).toBe('good');
    expect(level({ availableOutgoingKbps: 50, callSeconds: T.uploadWarmupS - 0.1 }).level).toBe('good');
    expect(level({ availableOutgoingKbps: 50, callSeconds: T.uploadWarmupS }).level).toBe('poor');
  });

  it('judges loss of what we send at its thresholds', () => {
    expect(level({ sendLoss: T.lossWeak - 0.001 }).level).toBe('good');
    expect(level({ sendLoss: T.lossWeak })).toMatchObject({ level: 'weak', cause: 'send-loss' });
    expect(level({ sendLoss: T.lossPoor })).toMatchObject({ level: 'poor', cause: 'send-loss' });
  });

  it('blames the partner for loss of what we receive and for freezes of their video', () => {
    const partner = 'quality.partner';
    expect(level({ receiveLoss: T.lossWeak - 0.001 }).level).toBe('good');
    expect(level({ receiveLoss: T.lossWeak })).toEqual({ level: 'weak', cause: 'partner', reason: partner });
    expect(level({ receiveLoss: T.lossPoor })).toMatchObject({ level: 'poor', cause: 'partner' });
    expect(level({ freezes: 1 })).toMatchObject({ level: 'weak', cause: 'partner' });
    expect(level({ freezeFraction: T.freezeWeak - 0.001 }).level).toBe('good');
    expect(level({ freezeFraction: T.freezeWeak })).toMatchObject({ level: 'weak', cause: 'partner' });
    expect(level({ freezeFraction: T.freezePoor })).toMatchObject({ level: 'poor', cause: 'partner' });
    expect(level({ remoteFps: T.fpsPoor })).toMatchObject({ level: 'good' });
    expect(level({ remoteFps: T.fpsPoor - 0.5 })).toMatchObject({ level: 'poor', cause: 'partner' });
  });

  it('does not count a partner who sends no video (audio only) as frozen', () => {
    expect(level({ remoteVideoFlowing: false, freezeFraction: 1, freezes: 3, remoteFps: 0 }).level).toBe('good');
  });

  it('shows the worst signal and, among equals, the one the person can act on first', () => {
    expect(level({ rttMs: T.rttPoorMs, availableOutgoingKbps: 300 })).toMatchObject({ level: 'poor', cause: 'delay' });
    expect(level({ rttMs: T.rttWeakMs, availableOutgoingKbps: 300, sendLoss: T.lossWeak, receiveLoss: T.lossWeak })).toMatchObject({ level: 'weak', cause: 'upload' });
    expect(level({ rttMs: T.rttWeakMs, sendLoss: T.lossWeak, receiveLoss: T.lossWeak })).toMatchObject({ cause: 'send-loss' });
    expect(level({ rttMs: T.rttWeakMs, receiveLoss: T.lossWeak })).toMatchObject({ cause: 'partner' });
  });
});

/** A getStats() report as Chromium gives it (only the fields read). */
function report(o: { rtt?: number; aob?: number; fractionLost?: number; lost?: number; received?: number; bytes?: number; frames?: number; fps?: number; freezes?: number; frozenS?: number }): Record<string, unknown>[] {
  return [
    { type: 'transport', id: 'T1', selectedCandidatePairId: 'CP2' },
    { type: 'candidate-pair', id: 'CP1', currentRoundTripTime: 9, availableOutgoingBitrate: 1 },
    { type: 'candidate-pair', id: 'CP2', currentRoundTripTime: o.rtt, availableOutgoingBitrate: o.aob },
    { type: 'remote-inbound-rtp', id: 'RIA', kind: 'audio', fractionLost: 0 },
    { type: 'remote-inbound-rtp', id: 'RIV', kind: 'video', fractionLost: o.fractionLost },
    { type: 'inbound-rtp', id: 'IA', kind: 'audio', packetsLost: 0, packetsReceived: 100 },
    { type: 'inbound-rtp', id: 'IV', kind: 'video', packetsLost: o.lost ?? 0, packetsReceived: o.received ?? 0, bytesReceived: o.bytes ?? 0,
      framesDecoded: o.frames ?? 0, framesPerSecond: o.fps, freezeCount: o.freezes ?? 0, totalFreezesDuration: o.frozenS ?? 0 },
  ];
}

describe('sampleFromStats and qualityInputs', () => {
  it('reads the selected pair (ms, kbit/s), the worst remote loss and sums inbound packets', () => {
    const s = sampleFromStats(report({ rtt: 0.25, aob: 480_000, fractionLost: 0.04, lost: 5, received: 200, bytes: 1000, frames: 10, fps: 24 }), 1000);
    expect(s).toEqual({
      atMs: 1000, rttMs: 250, availableOutgoingKbps: 480, sendFractionLost: 0.04, inPacketsLost: 5, inPacketsReceived: 300,
      video: { bytesReceived: 1000, framesDecoded: 10, framesPerSecond: 24, freezeCount: 0, totalFreezesDurationS: 0 },
    });
  });

  it('falls back to the nominated succeeded pair (Firefox has no transport stats) and to nulls', () => {
    const s = sampleFromStats([{ type: 'candidate-pair', id: 'P', nominated: true, state: 'succeeded', currentRoundTripTime: 0.1 }], 0);
    expect(s).toMatchObject({ rttMs: 100, availableOutgoingKbps: null, sendFractionLost: null, video: null });
  });

  it('turns counters into the deltas of the interval', () => {
    const a = sampleFromStats(report({ lost: 10, received: 1000, bytes: 5000, frames: 100, freezes: 1, frozenS: 1 }), 0);
    const b = sampleFromStats(report({ lost: 20, received: 1090, bytes: 9000, frames: 103, fps: undefined, freezes: 2, frozenS: 1.5 }), 2000);
    const i = qualityInputs(a, b, { sendingVideo: true, callSeconds: 10 });
    // 10 lost of 10 + 90 video packets (audio: 0 new, counters unchanged).
    expect(i.receiveLoss).toBeCloseTo(0.1, 6);
    expect(i.remoteVideoFlowing).toBe(true);
    expect(i.freezes).toBe(1);
    expect(i.freezeFraction).toBeCloseTo(0.25, 6);
    expect(i.remoteFps).toBeCloseTo(1.5, 6); // no framesPerSecond: decoded frames over the interval
    expect(classifyQuality(i)).toMatchObject({ level: 'poor', cause: 'partner' });
  });

  it('judges no loss over too few packets, and no freezes when no video bytes arrive', () => {
    const a = sampleFromStats(report({ lost: 0, received: 0, bytes: 5000, frames: 100 }), 0);
    const b = sampleFromStats(report({ lost: 5, received: T.minPackets - 6, bytes: 5000, frames: 100, freezes: 4, frozenS: 9 }), 1500);
    const i = qualityInputs(a, b, { sendingVideo: true, callSeconds: 10 });
    expect(i.receiveLoss).toBeNull();
    expect(i).toMatchObject({ remoteVideoFlowing: false, freezes: 0, freezeFraction: 0, remoteFps: null });
    expect(qualityInputs(null, b, { sendingVideo: true, callSeconds: 1 })).toMatchObject({ receiveLoss: null, remoteVideoFlowing: false });
  });
});

describe('QualityTracker', () => {
  const v = (lvl: QualityVerdict['level']): QualityVerdict => ({ level: lvl, cause: lvl === 'good' ? 'ok' : 'upload', reason: lvl === 'good' ? 'quality.ok' : 'quality.upload' });

  it('shows the worst of the last samples and counts how long every sample was poor', () => {
    const t = new QualityTracker(2);
    expect(t.current()).toBeNull();
    expect(t.push(v('good'), 0).level).toBe('good');
    expect(t.push(v('poor'), 1500).level).toBe('poor');
    expect(t.push(v('good'), 3000).level).toBe('poor'); // still in the window
    expect(t.push(v('weak'), 4500).level).toBe('weak');
    expect(t.poorForMs(4500)).toBe(0);
    t.push(v('poor'), 6000);
    t.push(v('poor'), 9000);
    expect(t.poorForMs(14_000)).toBe(8000);
    t.push(v('weak'), 15_000);
    expect(t.poorForMs(15_000)).toBe(0);
    t.reset();
    expect(t.current()).toBeNull();
  });
});
