// The bots' clip: made once by real ffmpeg, parsed from IVF/Ogg, packetized, replayed with PLI answered by the next keyframe.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaStreamTrack, type RtpPacket } from 'werift';
import { ClipPlayer, DEFAULT_CLIP, MAX_RTP_PAYLOAD, ensureClipFiles, loadClip, opusPacketMs, packetizeVp8, readClip, type Clip } from '../../src/bots/index.js';
import { vp8PayloadKind } from '../../src/peer/index.js';
import { withTimeout } from '../helpers/deadline.js';

let dir: string;
let clip: Clip;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-clip-'));
  // The cache the bots use (made by the first test that needs it).
  clip = await withTimeout(loadClip(DEFAULT_CLIP), 60_000, 'ffmpeg makes the clip');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(kind: 'video' | 'audio'): { track: MediaStreamTrack; packets: RtpPacket[] } {
  const track = new MediaStreamTrack({ kind });
  const packets: RtpPacket[] = [];
  track.onReceiveRtp.subscribe((p) => packets.push(p));
  return { track, packets };
}

describe('bot clip', () => {
  it('is VP8 320x240 at 15 fps with a keyframe every 2 s, near 300 kbit/s, and 20 ms Opus packets', () => {
    expect([clip.width, clip.height, clip.fps]).toEqual([320, 240, 15]);
    expect(clip.video).toHaveLength(150);
    expect(clip.keyframes).toEqual([0, 30, 60, 90, 120]);
    expect(clip.videoKbps).toBeGreaterThan(240);
    expect(clip.videoKbps).toBeLessThan(360);
    expect(clip.audio.length).toBeGreaterThanOrEqual(495);
    expect(new Set(clip.audio.map((a) => a.durationMs))).toEqual(new Set([20]));
    for (const f of clip.video) {
      expect(f.payloads.every((p) => p.length <= MAX_RTP_PAYLOAD)).toBe(true);
      expect(vp8PayloadKind(f.payloads[0]!)).toEqual({ frameStart: true, keyframe: f.key });
      expect(f.payloads.slice(1).every((p) => !vp8PayloadKind(p).frameStart)).toBe(true);
    }
  });

  it('is made once in the cache directory: a second call finds the files and does not run ffmpeg', async () => {
    const small = { ...DEFAULT_CLIP, width: 160, height: 120, seconds: 2 };
    const made = await withTimeout(ensureClipFiles(small, { dir }), 30_000, 'ffmpeg makes a small clip');
    expect(path.dirname(made.video)).toBe(dir);
    const again = await ensureClipFiles(small, { dir, ffmpegPath: '/nonexistent/ffmpeg' });
    expect(again).toEqual(made);
    const c = readClip(again, small);
    expect([c.width, c.height, c.video.length, c.keyframes]).toEqual([160, 120, 30, [0]]);
    // Another spec is another clip: it needs ffmpeg, and says so.
    await expect(ensureClipFiles({ ...small, seconds: 3 }, { dir, ffmpegPath: '/nonexistent/ffmpeg' })).rejects.toMatchObject({ code: 'CHZ_ERR_BOT_CLIP' });
  });

  it('packetizes a frame into near-equal parts with the start bit on the first', () => {
    const frame = Buffer.alloc(2500, 7);
    const parts = packetizeVp8(frame, 1100);
    expect(parts.map((p) => p.length)).toEqual([835, 835, 833]);
    expect(parts.map((p) => p[0])).toEqual([0x10, 0, 0]);
    expect(Buffer.concat(parts.map((p) => p.subarray(1)))).toEqual(frame);
  });

  it('reads Opus packet durations from the TOC byte (RFC 6716)', () => {
    expect(opusPacketMs(Uint8Array.of(0xfc))).toBe(20); // CELT FB 20 ms, one frame
    expect(opusPacketMs(Uint8Array.of(0x08 | 0x01))).toBe(40); // SILK NB 20 ms, two frames
    expect(opusPacketMs(Uint8Array.of(0x7b, 0x03))).toBe(60); // hybrid 20 ms, code 3 with 3 frames
  });
});

describe('clip player', () => {
  it('starts on a keyframe, keeps sequence numbers and timestamps contiguous, and answers a PLI with the next keyframe', () => {
    const v = capture('video');
    const a = capture('audio');
    const player = new ClipPlayer(clip, v.track, a.track, 0, 1); // start on the second keyframe (frame 30)
    player.tick(0);
    player.tick(1000 / 15 * 4 + 1); // frames 30..34
    expect(player.framesSent).toBe(5);
    const seqs = v.packets.map((p) => p.header.sequenceNumber);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
    const frames = [...new Set(v.packets.map((p) => p.header.timestamp))];
    expect(frames).toHaveLength(5);
    for (let i = 1; i < frames.length; i++) expect((frames[i]! - frames[i - 1]! + 2 ** 32) % 2 ** 32).toBe(6000);
    expect(v.packets[0]!.payload).toEqual(clip.video[30]!.payloads[0]);
    expect(vp8PayloadKind(v.packets[0]!.payload).keyframe).toBe(true);
    expect(new Set(v.packets.map((p) => p.header.ssrc)).size).toBe(1);
    // One marker per frame, on its last packet.
    expect(v.packets.filter((p) => p.header.marker)).toHaveLength(5);
    // Audio: one 20 ms packet per 20 ms, timestamps 960 apart.
    expect(a.packets.length).toBeGreaterThanOrEqual(14);
    expect((a.packets[1]!.header.timestamp - a.packets[0]!.header.timestamp + 2 ** 32) % 2 ** 32).toBe(960);

    // PLI: the next keyframe of the clip (frame 60) goes out at once, 6000 ticks after the last frame.
    const before = v.packets.length;
    const lastTs = v.packets[before - 1]!.header.timestamp;
    player.keyframe(400);
    const sent = v.packets.slice(before);
    expect(sent.map((p) => p.payload)).toEqual(clip.video[60]!.payloads);
    expect(sent[0]!.header.sequenceNumber).toBe((v.packets[before - 1]!.header.sequenceNumber + 1) & 0xffff);
    expect((sent[0]!.header.timestamp - lastTs + 2 ** 32) % 2 ** 32).toBe(6000);
    expect(player.plisAnswered).toBe(1);
    // A second PLI right after is already answered.
    player.keyframe(420);
    expect(player.plisAnswered).toBe(1);
    // The next PLI jumps to frame 90; playing on, the clip loops from frame 149 to frame 0, a keyframe.
    player.keyframe(1000);
    for (let t = 1000; t <= 1000 + (1000 / 15) * 61; t += 50) player.tick(t);
    expect(player.keyframesSent).toBe(5); // frames 30, 60, 90, 120 and 0
    const ts = [...new Set(v.packets.map((p) => p.header.timestamp))];
    for (let i = 1; i < ts.length; i++) expect((ts[i]! - ts[i - 1]! + 2 ** 32) % 2 ** 32).toBe(6000);
    player.stop();
    const n = v.packets.length;
    player.tick(10_000);
    expect(v.packets.length).toBe(n);
  });
});
