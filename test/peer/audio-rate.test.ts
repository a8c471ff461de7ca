/**
 * The Opus the CLI sends keeps to its bitrate (src/peer/ffmpeg.ts audioArgs): real ffmpeg
 * encodes the test tone to Ogg on its stdout, which the Opus pump (src/peer/opus-pump.ts) sends
 * as RTP on loopback at its pace, for 3 s. libopus's default, unconstrained VBR spent
 * 51 kbit/s on the 440 Hz tone at a 32 kbit/s target, a fifth of a 300 kbit/s uplink, and the
 * rung choice, which budgets the audio at its target, then filled that uplink's queue.
 */
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { audioArgs, audioReadsAhead, FFMPEG_PAYLOAD_TYPE } from '../../src/peer/ffmpeg.js';
import { OpusPump } from '../../src/peer/opus-pump.js';
import { resolveFfmpeg } from '../../src/peer/index.js';
import { parseRtp } from '../../src/peer/rtp-frames.js';
import { until } from '../helpers/deadline.js';

describe('the CLI\'s Opus', () => {
  const closers: (() => void)[] = [];
  afterEach(() => { for (const c of closers.splice(0).reverse()) c(); });

  it('keeps to its bitrate on a steady tone (constrained VBR)', async () => {
    const socket = dgram.createSocket('udp4');
    closers.push(() => socket.close());
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const packets: { ts: number; seq: number; payload: number; pt: number }[] = [];
    socket.on('message', (msg: Buffer) => {
      const h = parseRtp(msg);
      if (h) packets.push({ ts: h.timestamp, seq: msg.readUInt16BE(2), payload: h.payloadLength, pt: msg[1]! & 0x7f });
    });
    expect(audioReadsAhead({ type: 'sine' })).toBe(true);
    const ffmpeg = spawn(resolveFfmpeg().path, audioArgs({ type: 'sine' }, null, 32), { stdio: ['ignore', 'pipe', 'ignore'] });
    closers.push(() => ffmpeg.kill('SIGKILL'));
    // Nothing skipped after a stall of this loaded test's thread: the stream is checked whole.
    const pump = new OpusPump(ffmpeg.stdout, { port: socket.address().port, payloadType: FFMPEG_PAYLOAD_TYPE.audio, staleMs: Infinity });
    closers.push(() => pump.stop());
    // 3 s of 20 ms packets, after the first half second (the encoder's start).
    await until(() => packets.length >= 175, 15_000, 'ffmpeg sent fewer than 175 Opus packets');
    ffmpeg.kill('SIGKILL');
    expect(pump.error).toBeNull();
    // One RTP stream: numbered in order, 20 ms (960 samples at 48 kHz) apart, the audio's payload type.
    for (let i = 1; i < 175; i++) {
      expect((packets[i]!.seq - packets[i - 1]!.seq) & 0xffff).toBe(1);
      expect((packets[i]!.ts - packets[i - 1]!.ts) >>> 0).toBe(960);
    }
    expect(packets[0]!.pt).toBe(FFMPEG_PAYLOAD_TYPE.audio);
    const steady = packets.slice(25, 175);
    const seconds = ((steady[steady.length - 1]!.ts - steady[0]!.ts) >>> 0) / 48_000 + 0.02;
    const kbps = (steady.reduce((n, p) => n + p.payload, 0) * 8) / seconds / 1000;
    expect(kbps, `Opus payload ${kbps.toFixed(1)} kbit/s at a 32 kbit/s target`).toBeLessThan(32 * 1.15);
    expect(kbps).toBeGreaterThan(32 * 0.7);
  }, 30_000);
});
