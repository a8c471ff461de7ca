/**
 * Sends a {@link RungController}'s padding probes and judges them, for the werift peer's loop
 * (src/peer/adaptation.ts) and the media bots' (src/bots/media-feed.ts): while a probe is on, the
 * padding its rung needs beyond the current one goes out in small bursts between frames (through
 * the caller's `send`, which says how many bytes it could send), and once the transport-wide
 * feedback reported all of it, the queue its tail met, less the queue of what was sent just
 * before it, is what the rule judges it by.
 */
import { PAD_PROBE_TAIL_MS, type PadProbe, type RungController } from './ladder.js';
import type { QueueDelayMeter } from './queue-delay.js';

/** What one probe sent, against what it planned (a probe that could send little proves nothing). */
interface ProbeSent { probe: PadProbe; sentBytes: number; plannedBytes: number }

/** The padding probes of one call's video. */
export class PaddingProbes {
  readonly #controller: RungController;
  readonly #queue: QueueDelayMeter;
  readonly #send: (bytes: number) => number;
  /** The probe sending now: when its padding was last counted, and what it owes. */
  #on: (ProbeSent & { lastAt: number; owedBytes: number }) | null = null;
  /** The last probe that ended. */
  #done: ProbeSent | null = null;

  /** `send(bytes)` sends up to `bytes` of padding now and returns what it sent (0 mid-frame, say). */
  constructor(controller: RungController, queue: QueueDelayMeter, send: (bytes: number) => number) {
    this.#controller = controller;
    this.#queue = queue;
    this.#send = send;
  }

  /** A probe is sending its padding now. */
  get sending(): boolean { return this.#on !== null; }

  /** Starts the controller's probe if it asked for one since (call after each update); true when it did. */
  start(now: number): boolean {
    const probe = this.#controller.padProbe;
    if (!probe || this.#on || now >= probe.to || this.#done?.probe === probe) return false;
    this.#on = { probe, lastAt: now, owedBytes: 0, sentBytes: 0, plannedBytes: (this.#controller.paddingKbps(now) * (probe.to - now)) / 8 };
    this.tick(now);
    return true;
  }

  /** Sends what the probe owes by `now`; the probe ends at its end time or when the controller drops it. */
  tick(now: number): void {
    const on = this.#on;
    if (!on) return;
    const kbps = this.#controller.padProbe === on.probe ? this.#controller.paddingKbps(now) : 0;
    const end = Math.min(now, on.probe.to);
    on.owedBytes += (kbps * Math.max(0, end - on.lastAt)) / 8;
    on.lastAt = end;
    if (on.owedBytes >= 64) {
      const sent = this.#send(Math.floor(on.owedBytes));
      on.sentBytes += sent;
      // Owed padding that could not go out (mid-frame) is sent at the next tick, not piled up:
      // at most three 20 ms ticks' worth waits.
      on.owedBytes = sent > 0 ? on.owedBytes - sent : Math.min(on.owedBytes, (kbps * 60) / 8);
    }
    if (now >= on.probe.to || kbps === 0) {
      this.#on = null;
      this.#done = { probe: on.probe, sentBytes: on.sentBytes, plannedBytes: on.plannedBytes };
    }
  }

  /**
   * The queue the probe on now added (its last packets' less that of the packets just before
   * it), once the feedback reported all of it; null before, and when it could send less than half
   * its padding ({@link sentLittle}).
   */
  queueMs(): number | null {
    const probe = this.#controller.padProbe;
    const done = this.#done;
    if (!probe || !done || done.probe !== probe || this.sentLittle()) return null;
    const reported = this.#queue.reportedUpTo();
    if (reported === null || reported < probe.to) return null;
    // The tail of what it sent (at most its second half), against what was sent just before it.
    const tail = this.#queue.queueOfSent(Math.max(probe.to - PAD_PROBE_TAIL_MS, (probe.from + probe.to) / 2), probe.to);
    if (tail === null) return null;
    const before = this.#queue.queueOfSent(probe.from - PAD_PROBE_TAIL_MS, probe.from) ?? 0;
    return Math.max(0, tail - before);
  }

  /** The probe on now ended having sent less than half its padding: it proved nothing. */
  sentLittle(): boolean {
    const probe = this.#controller.padProbe;
    const done = this.#done;
    return probe !== null && done !== null && done.probe === probe && done.sentBytes < 0.5 * done.plannedBytes;
  }

  /** Stops a probe that is sending. */
  stop(): void {
    this.#on = null;
  }
}
