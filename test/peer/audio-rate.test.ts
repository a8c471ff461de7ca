/**
 * The Opus the CLI sends keeps to its bitrate (src/peer/ffmpeg.ts audioArgs): real ffmpeg
 * encodes the test tone to RTP on loopback for 3 s. libopus's default, unconstrained VBR spent
 * 51 kbit/s on the 440 Hz tone at a 32 kbit/s target, a fifth of a 300 kbit/s uplink, and the
 * rung choice, which budgets the audio at its target, then filled that uplink's queue.
 */
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { audioArgs, rtpOutputUrl } from '../../src/peer/ffmpeg.js';
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
    const packets: { ts: number; payload: number }[] = [];
    socket.on('message', (msg: Buffer) => {
      const h = parseRtp(msg);
      // RTCP shares the port (payload types 200-204 sit at 72-76 after the marker bit).
      if (h && !(msg[1]! >= 192 && msg[1]! <= 223)) packets.push({ ts: h.timestamp, payload: h.payloadLength });
    });
    const ffmpeg = spawn(resolveFfmpeg().path, audioArgs({ type: 'sine' }, rtpOutputUrl(socket.address().port), 32), { stdio: 'ignore' });
    closers.push(() => ffmpeg.kill('SIGKILL'));
    // 3 s of 20 ms packets, after the first half second (the encoder's start).
    await until(() => packets.length >= 175, 15_000, 'ffmpeg sent fewer than 175 Opus packets');
    ffmpeg.kill('SIGKILL');
    const steady = packets.slice(25, 175);
    const seconds = ((steady[steady.length - 1]!.ts - steady[0]!.ts) >>> 0) / 48_000 + 0.02;
    const kbps = (steady.reduce((n, p) => n + p.payload, 0) * 8) / seconds / 1000;
    expect(kbps, `Opus payload ${kbps.toFixed(1)} kbit/s at a 32 kbit/s target`).toBeLessThan(32 * 1.15);
    expect(kbps).toBeGreaterThan(32 * 0.7);
  }, 30_000);
});
