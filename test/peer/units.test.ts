import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/protocol/client/index.js';
import { KEYFRAME_PHASES, ladderArgs, ladderStreams } from '../../src/peer/ffmpeg.js';
import { defaultLadder } from '../../src/peer/ladder.js';
import {
  FrameCounter, h264PayloadKind, parseAudioSource, parseRtp, parseVideoSource, resolveFfmpeg, rtpOutputUrl,
  signalUrl, videoArgs, vp8PayloadKind, PEER_ERROR_CODES,
} from '../../src/peer/index.js';

/** An RTP packet (RFC 3550 section 5.1) with payload type 96, SSRC 0x01020304. */
function rtp(seq: number, ts: number, marker: boolean, payload: number[], opts: { ext?: number[]; padding?: number } = {}): Buffer {
  const b0 = 0x80 | (opts.ext ? 0x10 : 0) | (opts.padding ? 0x20 : 0);
  const head = [b0, (marker ? 0x80 : 0) | 96, seq >> 8, seq & 0xff, (ts >>> 24) & 0xff, (ts >> 16) & 0xff, (ts >> 8) & 0xff, ts & 0xff, 1, 2, 3, 4];
  const ext = opts.ext ? [0xbe, 0xde, 0, opts.ext.length / 4, ...opts.ext] : [];
  const pad = opts.padding ? [...Array(opts.padding - 1).fill(0), opts.padding] : [];
  return Buffer.from([...head, ...ext, ...payload, ...pad]);
}

// VP8 payload descriptor (RFC 7741 section 4.2): X=1 S=1 PID=0, I=1 with a 15-bit picture id.
const VP8_KEY_START = [0x90, 0x80, 0x80, 0x01, 0x10, 0x02, 0x00];
const VP8_DELTA_START = [0x90, 0x80, 0x80, 0x02, 0x01, 0x02, 0x00];
const VP8_CONTINUATION = [0x80, 0x80, 0x80, 0x01, 0xaa, 0xbb];

describe('RTP parsing and keyframe detection (byte fixtures)', () => {
  it('parses the header, skipping a header extension and padding', () => {
    const p = rtp(65535, 0xfedcba98, true, [9, 8, 7], { ext: [0x10, 0xff, 0, 0], padding: 4 });
    expect(parseRtp(p)).toEqual({ marker: true, payloadType: 96, sequenceNumber: 65535, timestamp: 0xfedcba98, ssrc: 0x01020304, payloadOffset: 20, payloadLength: 3 });
    expect(parseRtp(Buffer.from([0x40, 0, 0, 0]))).toBeNull();
  });

  it('VP8: key frame start, delta frame start, continuation', () => {
    expect(vp8PayloadKind(Buffer.from(VP8_KEY_START))).toEqual({ frameStart: true, keyframe: true });
    expect(vp8PayloadKind(Buffer.from(VP8_DELTA_START))).toEqual({ frameStart: true, keyframe: false });
    expect(vp8PayloadKind(Buffer.from(VP8_CONTINUATION))).toEqual({ frameStart: false, keyframe: false });
    // 7-bit picture id (M=0) and no extension at all.
    expect(vp8PayloadKind(Buffer.from([0x90, 0x80, 0x05, 0x10]))).toEqual({ frameStart: true, keyframe: true });
    expect(vp8PayloadKind(Buffer.from([0x10, 0x11]))).toEqual({ frameStart: true, keyframe: false });
  });

  it('H.264: FU-A start of an IDR, FU-A middle, STAP-A with SPS+PPS, a non-IDR slice', () => {
    expect(h264PayloadKind(Buffer.from([0x7c, 0x85, 0xaa]))).toEqual({ frameStart: true, keyframe: true });
    expect(h264PayloadKind(Buffer.from([0x7c, 0x05, 0xaa]))).toEqual({ frameStart: false, keyframe: false });
    expect(h264PayloadKind(Buffer.from([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]))).toEqual({ frameStart: true, keyframe: true });
    expect(h264PayloadKind(Buffer.from([0x41, 0x9a]))).toEqual({ frameStart: true, keyframe: false });
  });
});

describe('FrameCounter', () => {
  it('counts complete frames and keyframes despite reordering and a retransmitted duplicate', () => {
    const c = new FrameCounter('vp8');
    c.push(rtp(10, 1000, false, VP8_KEY_START));
    c.push(rtp(12, 1000, true, VP8_CONTINUATION)); // arrives before 11
    c.push(rtp(11, 1000, false, VP8_CONTINUATION));
    c.push(rtp(11, 1000, false, VP8_CONTINUATION)); // duplicate: counted once
    c.push(rtp(13, 4000, true, VP8_DELTA_START));
    expect(c.snapshot()).toMatchObject({ frames: 2, keyframes: 1, packets: 4, lost: 0 });
  });

  it('does not count a frame with a missing packet, and counts the loss, across a sequence wrap', () => {
    const c = new FrameCounter('vp8');
    c.push(rtp(65534, 1000, true, VP8_DELTA_START));
    c.push(rtp(65535, 4000, false, VP8_DELTA_START));
    // 0 is lost
    c.push(rtp(1, 4000, true, VP8_CONTINUATION));
    c.push(rtp(2, 7000, true, VP8_DELTA_START));
    expect(c.snapshot()).toMatchObject({ frames: 2, keyframes: 0, lost: 1 });
  });

  it('a copy of a packet does not hide a lost one (libwebrtc probes with copies of recent packets on RTX)', () => {
    const c = new FrameCounter('vp8');
    c.push(rtp(10, 1000, false, VP8_KEY_START));
    c.push(rtp(11, 1000, true, VP8_CONTINUATION));
    // 12 is lost; 11 comes again, unwrapped from an RTX probe, then 13 and 14.
    c.push(rtp(11, 1000, true, VP8_CONTINUATION));
    c.push(rtp(13, 4000, true, VP8_DELTA_START));
    c.push(rtp(11, 1000, true, VP8_CONTINUATION));
    c.push(rtp(14, 7000, true, VP8_DELTA_START));
    // Loss as a share of what was expected: 1 of 5 (the copies are not received packets).
    expect(c.snapshot()).toMatchObject({ packets: 4, lost: 1 });
  });

  it('audio: one frame per packet', () => {
    const c = new FrameCounter('audio');
    for (let i = 0; i < 5; i++) c.push(rtp(100 + i, i * 960, true, [0xfc, 0xff]));
    expect(c.snapshot()).toMatchObject({ frames: 5, packets: 5, lost: 0 });
  });
});

describe('backoff', () => {
  it('grows exponentially with full jitter inside [min, cap]', () => {
    const opts = { baseMs: 100, capMs: 1000, minMs: 10 };
    expect(backoffDelay(0, { ...opts, random: () => 0 })).toBe(10);
    expect(backoffDelay(0, { ...opts, random: () => 0.999999 })).toBe(100);
    expect(backoffDelay(3, { ...opts, random: () => 0.999999 })).toBe(800);
    expect(backoffDelay(20, { ...opts, random: () => 0.999999 })).toBe(1000);
    const many = Array.from({ length: 200 }, () => backoffDelay(4, opts));
    expect(Math.min(...many)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...many)).toBeLessThanOrEqual(1000);
    expect(new Set(many).size).toBeGreaterThan(50);
  });
});

describe('finding ffmpeg', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-ffmpeg-'));
  const fake = path.join(dir, 'ffmpeg');
  writeFileSync(fake, '#!/bin/sh\nexit 0\n');
  chmodSync(fake, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers --ffmpeg, then CHATZYO_FFMPEG, then ffmpeg-static, then PATH', () => {
    expect(resolveFfmpeg({ explicit: fake, env: {}, loadStatic: () => null })).toEqual({ path: fake, from: 'flag' });
    expect(resolveFfmpeg({ env: { CHATZYO_FFMPEG: fake }, loadStatic: () => '/usr/bin/ffmpeg' })).toEqual({ path: fake, from: 'env' });
    expect(resolveFfmpeg({ env: { PATH: '/nowhere' }, loadStatic: () => fake })).toEqual({ path: fake, from: 'ffmpeg-static' });
    expect(resolveFfmpeg({ env: { PATH: `/nowhere${path.delimiter}${dir}` }, loadStatic: () => null })).toEqual({ path: fake, from: 'PATH' });
  });

  it('fails with CHZ_ERR_FFMPEG_MISSING and never falls back from an explicit path', () => {
    expect(() => resolveFfmpeg({ explicit: path.join(dir, 'nope'), env: { PATH: dir }, loadStatic: () => null })).toThrow(expect.objectContaining({ code: 'CHZ_ERR_FFMPEG_MISSING' }));
    expect(() => resolveFfmpeg({ env: { CHATZYO_FFMPEG: dir, PATH: dir } })).toThrow(/CHATZYO_FFMPEG/);
    expect(() => resolveFfmpeg({ env: { PATH: '/nowhere' }, loadStatic: () => null })).toThrow(PEER_ERROR_CODES.CHZ_ERR_FFMPEG_MISSING);
  });
});

describe('options', () => {
  it('turns --server into the WebSocket URL', () => {
    expect(signalUrl('http://localhost:8080')).toBe('ws://localhost:8080/ws');
    expect(signalUrl('https://chat.example.com/')).toBe('wss://chat.example.com/ws');
    expect(signalUrl('localhost:9000')).toBe('ws://localhost:9000/ws');
    expect(signalUrl('ws://10.0.0.1:8080/ws')).toBe('ws://10.0.0.1:8080/ws');
  });

  it('parses media sources', () => {
    expect(parseVideoSource('testsrc')).toEqual({ type: 'testsrc' });
    expect(parseVideoSource('camera')).toEqual({ type: 'camera', device: '/dev/video0' });
    expect(parseVideoSource('camera:/dev/video2')).toEqual({ type: 'camera', device: '/dev/video2' });
    expect(parseVideoSource('clip.mp4')).toEqual({ type: 'file', path: 'clip.mp4' });
    expect(parseAudioSource('sine')).toEqual({ type: 'sine' });
    expect(parseAudioSource('mic')).toEqual({ type: 'mic', device: 'default', api: 'pulse' });
    expect(parseAudioSource('alsa:hw:1')).toEqual({ type: 'mic', device: 'hw:1', api: 'alsa' });
  });

  it('runs every VP8 encoder of a ladder on one thread (libvpx\'s default workers spin between real-time frames: npm run bench:encoder)', () => {
    const enc = { codec: 'vp8', width: 640, height: 480, fps: 15, bitrateKbps: 600, keyframeIntervalS: 1 } as const;
    const rungs = defaultLadder(enc);
    const streams = ladderStreams(rungs);
    // The best rung has one encoder; each other rung KEYFRAME_PHASES, their keyframes a second apart.
    expect(streams.map((st) => `${st.rung}.${st.phase}`)).toEqual(['0.0', ...[1, 2, 3].flatMap((r) => Array.from({ length: KEYFRAME_PHASES }, (_, p) => `${r}.${p}`))]);
    const args = ladderArgs({ type: 'testsrc' }, enc, rungs, streams.map((_, i) => rtpOutputUrl(5004 + 2 * i)), streams);
    expect(args.join(' ')).toContain(`-force_key_frames expr:gte(n,n_forced*${15 * KEYFRAME_PHASES}+15)`);
    const encoders = args.map((a, i) => (a === '-c:v' ? i : -1)).filter((i) => i >= 0);
    expect(encoders).toHaveLength(streams.length);
    for (const at of encoders) {
      // Each encoder's own options run to the next output's -map.
      const next = args.indexOf('-map', at);
      const own = args.slice(at, next < 0 ? args.length : next);
      expect(own.slice(0, 2)).toEqual(['-c:v', 'libvpx']);
      expect(own[own.indexOf('-threads') + 1], own.join(' ')).toBe('1');
    }
    expect(videoArgs({ type: 'testsrc' }, enc, rtpOutputUrl(5004)).join(' ')).toMatch(/-c:v libvpx -threads 1 /);
  });

  it('encodes H.264 as constrained baseline with in-band parameter sets and no B-frames, to a connected RTP socket', () => {
    const url = rtpOutputUrl(5004);
    expect(url).toBe('rtp://127.0.0.1:5004?pkt_size=1100&connect=1&rtcpport=5004');
    const args = videoArgs({ type: 'testsrc' }, { codec: 'h264', width: 320, height: 240, fps: 15, bitrateKbps: 300, keyframeIntervalS: 1 }, url).join(' ');
    expect(args).toMatch(/-profile:v baseline/);
    expect(args).toMatch(/repeat-headers=1:keyint=15/);
    expect(args).toMatch(/-bf 0/);
    expect(args.endsWith(url)).toBe(true);
  });
});
