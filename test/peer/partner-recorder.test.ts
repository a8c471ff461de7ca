// The recording of a partner (`connect --record`, src/peer/partner-recorder.ts) fed packet by
// packet, in an order a real call produces about once in 30 on loopback (CI's padding-probe test
// recorded 43 frames of 73): an audio packet timed just after the first video keyframe arrives
// before the keyframe's last packet. werift's WebM writer took that audio frame as time zero and
// opened the keyframe's cluster at a negative time, which ffprobe drops with every frame in it.
// Also a second keyframe while the recorder still waits for the video's first sender report (a
// partner stepping up a rung): the recording kept only what came from it (41 frames of 61).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MediaStreamTrack, RTCRtpCodecParameters, RtcpSenderInfo, RtcpSrPacket, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartnerRecorder } from '../../src/peer/partner-recorder.js';
import { probe } from '../cli/cli-process.js';
import { until } from '../helpers/deadline.js';
import { ivfFrames, rtpPacket, vp8Payloads } from '../helpers/rtp-packetize.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-partner-recorder-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VIDEO_SSRC = 0x01020304; // rtpPacket's
const AUDIO_SSRC = 0x0a0b0c0d;
/** An NTP time (seconds since 1900 in the high 32 bits) both sender reports start from. */
const NTP_ZERO = 3_970_000_000n << 32n;
const OPUS_SILENCE = Buffer.from([0xf8, 0xff, 0xfe]); // one 20 ms Opus frame (TOC 0xf8)

function audioPacket(n: number): RtpPacket {
  const head = Buffer.alloc(12);
  head[0] = 0x80;
  head[1] = 111;
  head.writeUInt16BE(1000 + n, 2);
  head.writeUInt32BE(n * 960, 4); // 20 ms at 48 kHz, from 0 like the video's timestamps
  head.writeUInt32BE(AUDIO_SSRC, 8);
  return RtpPacket.deSerialize(Buffer.concat([head, OPUS_SILENCE]));
}

function senderReport(ssrc: number): RtcpSrPacket {
  return new RtcpSrPacket({ ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: NTP_ZERO, rtpTimestamp: 0, packetCount: 0, octetCount: 0 }) });
}

/**
 * Feeds a recorder the 30-frame VP8 fixture at 15 fps and 20 ms audio packets, the first
 * keyframe in several packets with an audio packet 20 ms later than it before its last one;
 * the video's sender report first, or (`videoReportAfter`) only after that many frames. The
 * fixture is played `loops` times over (each time from its keyframe).
 */
async function record(file: string, videoReportAfter?: number, loops = 1) {
  const frames = Array.from({ length: loops }, () => ivfFrames(readFileSync('fixtures/media/vp8-320x240-15fps-30f.ivf'))).flat();
  const video = new MediaStreamTrack({ kind: 'video', codec: new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90_000, payloadType: 96 }) });
  const audio = new MediaStreamTrack({ kind: 'audio', codec: new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2, payloadType: 111 }) });
  const errors: Error[] = [];
  const recorder = new PartnerRecorder({ path: file, onError: (e) => errors.push(e) });
  recorder.addTrack(video);
  recorder.addTrack(audio);
  const states: string[] = [];

  audio.onReceiveRtcp.execute(senderReport(AUDIO_SSRC));
  if (videoReportAfter === undefined) video.onReceiveRtcp.execute(senderReport(VIDEO_SSRC));
  // Frame i is at i/15 s, audio packet n at n/50 s, both on the same NTP clock.
  let seq = 0;
  let nextAudio = 1;
  const sendAudioUntil = (ms: number) => { for (; nextAudio * 20 <= ms; nextAudio++) audio.onReceiveRtp.execute(audioPacket(nextAudio)); };
  frames.forEach((frame, i) => {
    if (i === videoReportAfter) {
      states.push(recorder.state);
      video.onReceiveRtcp.execute(senderReport(VIDEO_SSRC));
    }
    const payloads = vp8Payloads(frame, 300); // the keyframe in several packets
    payloads.forEach((p, k) => {
      const last = k === payloads.length - 1;
      // The first keyframe's last packet comes after the audio packet 20 ms later than it.
      if (i === 0 && last) sendAudioUntil(20);
      video.onReceiveRtp.execute(RtpPacket.deSerialize(rtpPacket(seq++, i * 6000, last, p)));
    });
    sendAudioUntil(((i + 1) * 1000) / 15);
  });
  expect(vp8Payloads(frames[0]!, 300).length, 'the first keyframe spans packets').toBeGreaterThan(1);
  await until(() => recorder.state === 'recording', 5000, 'the recorder starts');
  await recorder.stop();
  return { errors, frames: frames.length, states, probed: await probe(file) };
}

describe('PartnerRecorder', () => {
  it('records every frame when audio timed after the first keyframe comes before the keyframe is whole', async () => {
    const r = await record(path.join(dir, 'audio-first.webm'));
    expect(r.errors).toEqual([]);
    expect(r.probed.width).toBe(320);
    // werift's jitter buffer keeps the last frame (nothing after it says it is complete).
    expect(r.probed.frames, `${r.probed.frames} of ${r.frames} frames recorded`).toBeGreaterThanOrEqual(r.frames - 1);
  });

  it('waits for the video\'s sender report before it starts (the audio\'s alone would open the file), then records every frame', async () => {
    const r = await record(path.join(dir, 'late-report.webm'), 5);
    // Five whole frames, a keyframe among them, and audio: still waiting for the report.
    expect(r.states).toEqual(['waiting']);
    expect(r.errors).toEqual([]);
    expect(r.probed.frames, `${r.probed.frames} of ${r.frames} frames recorded`).toBeGreaterThanOrEqual(r.frames - 1);
  });

  it('keeps what came since the first whole keyframe when another keyframe comes before the video\'s sender report', async () => {
    // The fixture twice (its keyframe again at frame 30); the video's report only at frame 35.
    const r = await record(path.join(dir, 'second-keyframe.webm'), 35, 2);
    expect(r.states).toEqual(['waiting']);
    expect(r.errors).toEqual([]);
    expect(r.probed.frames, `${r.probed.frames} of ${r.frames} frames recorded`).toBeGreaterThanOrEqual(r.frames - 1);
  });
});
