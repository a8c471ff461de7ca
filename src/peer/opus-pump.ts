/**
 * Audio from a file or the test tone, at its own pace whatever ffmpeg's scheduling. ffmpeg
 * encodes Opus into Ogg on its stdout as fast as the pipe takes it (no `-re`), and this pump
 * sends each Opus packet as RTP, at the time its place in the stream says, to a loopback port
 * (the audio source's own socket, so the rest of the path is the one live audio takes).
 *
 * With `-re`, ffmpeg paced the tone itself, and a descheduled ffmpeg on a loaded machine let
 * 150-300 ms of packets out at once (the CLI's audio writes logged in bench:quality). A viewer's
 * jitter buffer grew behind each clump (250-630 ms at a call's start), and its lip sync held our
 * video back as far. Here ffmpeg runs seconds ahead (held back by the pipe: the pump stops
 * reading past {@link AHEAD_MS} queued), so a stall of ffmpeg's costs nothing. (Its packets
 * then reach werift without the send clock, which paces audio captured from a device.)
 *
 * This thread's own stalls remain: on a loaded machine the process is descheduled or collects
 * garbage for 100-300 ms, most often at a call's start when the encoders start beside the
 * browser's decoders (traced at a Chromium viewer: the first packets, no audio for 176-250 ms
 * while the event loop stood still, then a clump). Sent late, the clump sat in the viewer's
 * jitter buffer as that much extra delay (its buffer at 240-310 ms where its target was 20-80,
 * drained by time-stretching over 5-10 s), and lip sync held the video back to it. So a packet
 * that comes due more than {@link STALE_MS} before the pump can send it is skipped: the viewer
 * has already concealed its time, and the next packet goes out on time (its timestamp says how
 * much was skipped; sequence numbers stay consecutive, as nothing was sent and lost). The
 * newest of what came due in the stall still goes out up to {@link STALE_MS} late.
 */
import dgram from 'node:dgram';
import type { Readable } from 'node:stream';
import { setRtpSequence, setRtpTimestamp } from './rtp-frames.js';

/**
 * Packets queued ahead of the ones due, ms: reading stops past it (what the pipe and the stream's
 * buffer hold then, up to about 64 KiB, some seconds more), and ffmpeg waits on the full pipe.
 */
const AHEAD_MS = 2000;
/**
 * How late a packet may still go out, ms: a short stall's packets are sent (a viewer's buffer
 * of 40-80 ms takes them), a longer stall's older ones are skipped.
 */
export const STALE_MS = 60;
/** Opus packets are stamped at 48 kHz (RFC 7587). */
const OPUS_HZ = 48_000;

/** Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716 section 3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  if (!packet.length) return 0;
  const toc = packet[0]!;
  const config = toc >> 3;
  // Frame length in 1/400 s units x 1: SILK 10/20/40/60 ms, hybrid 10/20, CELT 2.5/5/10/20.
  const frameMs = config < 12 ? [10, 20, 40, 60][config & 3]! : config < 16 ? [10, 20][config & 1]! : [2.5, 5, 10, 20][config & 3]!;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : (packet[1] ?? 0) & 0x3f;
  return Math.round((frameMs * frames * OPUS_HZ) / 1000);
}

/**
 * Splits an Ogg stream (RFC 3533) into its packets: a segment of 255 bytes continues a packet,
 * a shorter one ends it, across pages too. Feed it chunks as they come.
 */
export class OggPackets {
  #buf: Buffer = Buffer.alloc(0);
  #partial: Buffer[] = [];

  /** The packets completed by `chunk`. */
  push(chunk: Buffer): Buffer[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#buf.length < 27) break;
      if (this.#buf.toString('latin1', 0, 4) !== 'OggS') throw new Error('not an Ogg stream (no OggS capture pattern)');
      const segments = this.#buf[26]!;
      const headerLen = 27 + segments;
      if (this.#buf.length < headerLen) break;
      let bodyLen = 0;
      for (let i = 0; i < segments; i++) bodyLen += this.#buf[27 + i]!;
      if (this.#buf.length < headerLen + bodyLen) break;
      let at = headerLen;
      for (let i = 0; i < segments; i++) {
        const len = this.#buf[27 + i]!;
        this.#partial.push(this.#buf.subarray(at, at + len));
        at += len;
        if (len < 255) {
          out.push(Buffer.concat(this.#partial));
          this.#partial = [];
        }
      }
      this.#buf = this.#buf.subarray(headerLen + bodyLen);
    }
    return out;
  }
}

/** What a {@link OpusPump} sends with. */
export interface OpusPumpOptions {
  /** The loopback port the RTP goes to. */
  port: number;
  payloadType: number;
  /** The clock (ms); performance.now() by default. */
  now?: () => number;
  /** A packet due longer ago than this is skipped, ms ({@link STALE_MS} by default). */
  staleMs?: number;
  /** The stream was not Ogg/Opus, or reading it failed: the pump has stopped. */
  onError?: (err: Error) => void;
}

/** Sends the Opus packets of an Ogg stream as RTP at their times (see the module's comment). */
export class OpusPump {
  readonly #socket = dgram.createSocket('udp4');
  readonly #ogg = new OggPackets();
  readonly #queue: { packet: Buffer; samples: number }[] = [];
  readonly #input: Readable;
  readonly #opts: Required<Omit<OpusPumpOptions, 'onError'>> & Pick<OpusPumpOptions, 'onError'>;
  /** Ogg's first two packets are the Opus headers (RFC 7845). */
  #headers = 2;
  #seq = Math.floor(Math.random() * 0x10000);
  readonly #ssrc = Math.floor(Math.random() * 0x1_0000_0000);
  readonly #tsBase = Math.floor(Math.random() * 0x1_0000_0000);
  /** Samples sent so far, and samples read ahead (queued). */
  #sent = 0;
  #queued = 0;
  #t0: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  /** Set when the stream was not Ogg/Opus. */
  error: Error | null = null;
  /** Packets skipped as stale (see {@link STALE_MS}). */
  skipped = 0;
  #skippedSamples = 0;

  constructor(input: Readable, opts: OpusPumpOptions) {
    this.#input = input;
    this.#opts = { now: () => performance.now(), staleMs: STALE_MS, ...opts };
    this.#socket.on('error', () => { /* loopback: nothing to do but stop sending */ });
    // Bound to loopback before the first send (which would bind it on every interface).
    this.#socket.bind(0, '127.0.0.1');
    input.on('data', (chunk: Buffer) => this.#onData(chunk));
    input.on('error', (err) => this.#fail(err));
  }

  #fail(err: Error): void {
    if (this.#stopped) return;
    this.error = err;
    this.stop(false);
    this.#opts.onError?.(err);
  }

  #onData(chunk: Buffer): void {
    if (this.#stopped) return;
    let packets: Buffer[];
    try {
      packets = this.#ogg.push(chunk);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    for (const packet of packets) {
      if (this.#headers > 0) { this.#headers--; continue; }
      const samples = opusPacketSamples(packet);
      if (samples <= 0) continue;
      this.#queue.push({ packet, samples });
      this.#queued += samples;
    }
    if (this.#queued * 1000 / OPUS_HZ > AHEAD_MS) this.#input.pause();
    this.#t0 ??= this.#queue.length ? this.#opts.now() : null;
    this.#schedule();
  }

  /** The media the skipped packets held, ms. */
  get skippedMs(): number { return (this.#skippedSamples * 1000) / OPUS_HZ; }

  /** When the next packet is due (the stream's start plus what went before it), ms. */
  #due(t0: number): number { return t0 + (this.#sent * 1000) / OPUS_HZ; }

  #schedule(): void {
    if (this.#timer || this.#stopped || this.#t0 === null || !this.#queue.length) return;
    this.#timer = setTimeout(() => { this.#timer = null; this.#drain(); }, Math.max(0, this.#due(this.#t0) - this.#opts.now()));
  }

  #drain(): void {
    if (this.#stopped || this.#t0 === null) return;
    const now = this.#opts.now();
    for (let due = this.#due(this.#t0); this.#queue.length && due <= now + 0.5; due = this.#due(this.#t0)) {
      const { packet, samples } = this.#queue.shift()!;
      this.#queued -= samples;
      if (due < now - this.#opts.staleMs) {
        // Due more than staleMs ago: the viewer has concealed its time already.
        this.#sent += samples;
        this.skipped++;
        this.#skippedSamples += samples;
        continue;
      }
      const rtp = Buffer.alloc(12 + packet.length);
      rtp[0] = 0x80;
      rtp[1] = this.#opts.payloadType & 0x7f;
      setRtpSequence(rtp, this.#seq);
      setRtpTimestamp(rtp, this.#tsBase + this.#sent);
      rtp.writeUInt32BE(this.#ssrc >>> 0, 8);
      packet.copy(rtp, 12);
      this.#socket.send(rtp, this.#opts.port, '127.0.0.1');
      this.#seq = (this.#seq + 1) & 0xffff;
      this.#sent += samples;
    }
    if (this.#input.isPaused() && this.#queued * 1000 / OPUS_HZ < AHEAD_MS / 2) this.#input.resume();
    this.#schedule();
  }

  /**
   * Stops sending and closes its socket. `drain`: the input is read to its end, so ffmpeg is not
   * left blocked on a full pipe while it stops; false (a broken stream): it is destroyed instead.
   */
  stop(drain = true): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue.length = 0;
    if (drain) this.#input.resume();
    else this.#input.destroy();
    this.#socket.close();
  }
}
