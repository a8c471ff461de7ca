/**
 * The video ladder: the rung rule (pure, driven with made-up path signals) and the encoder
 * fan-out that switches a track between rungs at keyframes (real ffmpeg, a track that
 * records what it is given).
 */
import type { MediaStreamTrack } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_VIDEO, resolveFfmpeg } from '../../src/peer/ffmpeg.js';
import { MediaSource, SPARE_AFTER_MS } from '../../src/peer/media-source.js';
import { parseRtp, payloadKind, readVp8PictureId, vp8PictureIdAt } from '../../src/peer/rtp-frames.js';
import { RungController, defaultLadder } from '../../src/peer/ladder.js';
import { QueueDelayMeter } from '../../src/peer/queue-delay.js';
import { until } from '../helpers/deadline.js';

const LADDER = defaultLadder(DEFAULT_VIDEO);
const calm = (estimateKbps: number) => ({ estimateKbps, overuse: false, lossFraction: 0 });

/** Feeds `signals` every 200 ms from `from` to `to` (ms) and returns the rung at the end. */
function run(c: RungController, from: number, to: number, signals: (t: number) => Parameters<RungController['update']>[1]): number {
  for (let t = from; t <= to; t += 200) c.update(t, signals(t));
  return c.target;
}

describe('the default ladder', () => {
  it('has four rungs from the encode settings down to a 3 fps keep-alive, each cheaper than the one above', () => {
    expect(LADDER.map((r) => `${r.width}x${r.height}@${r.fps}:${r.kbps}`)).toEqual(['640x480@15:600', '480x360@15:300', '320x240@15:150', '320x240@3:42']);
  });
});

describe('RungController', () => {
  it('starts on the best rung the start estimate carries (audio budgeted first)', () => {
    expect(new RungController(LADDER, { startKbps: 300, audioKbps: 60 }).target).toBe(2);
    expect(new RungController(LADDER, { startKbps: 2000, audioKbps: 60 }).target).toBe(0);
    expect(new RungController(LADDER, { startKbps: 50, audioKbps: 60 }).target).toBe(3);
  });

  it('on a wide path climbs one rung at a time to the best within a few seconds', () => {
    const c = new RungController(LADDER, { startKbps: 300, audioKbps: 60 });
    // The estimate stays at what is sent (as a throughput cap would): every step up is a probe.
    const seen: number[] = [];
    for (let t = 0; t <= 5000; t += 200) seen.push(c.update(t, calm(c.needKbps(c.target) * 1.05)));
    expect(c.target).toBe(0);
    expect(seen.indexOf(0)).toBeLessThanOrEqual(15); // within 3 s
    expect([...new Set(seen)]).toEqual([2, 1, 0]); // one rung at a time
  });

  it('steps down one rung at once on overuse, then one a second while it lasts (not straight to what a queue-filled estimate says)', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    const over = { estimateKbps: 120, overuse: true, lossFraction: 0 };
    expect(c.update(0, over)).toBe(1);
    expect(c.reason).toBe('congestion');
    expect(c.update(400, over)).toBe(1);
    expect(c.update(1000, over)).toBe(2);
    // Calm again: it stays where it got to.
    expect(c.update(1200, calm(300))).toBe(2);
  });

  it('a long queue is congestion (past 80 ms; past 40 ms while a probe is on)', () => {
    const c = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    expect(c.update(0, { ...calm(500), queueMs: 60 })).toBe(1);
    expect(c.update(200, { ...calm(500), queueMs: 90 })).toBe(2);
    expect(c.congested).toBe(true);
  });

  it('steps down on heavy loss, but not on a few percent of loss', () => {
    const a = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(run(a, 0, 3000, () => ({ estimateKbps: 1000, overuse: false, lossFraction: 0.05 }))).toBe(0);
    expect(a.update(3200, { estimateKbps: 1000, overuse: false, lossFraction: 0.2 })).toBe(1);
    expect(a.reason).toBe('loss');
  });

  it('heavy loss counted over a known number of packets must stand above 10% by two standard deviations of that sample', () => {
    // 7 lost of 60 (11.7%) is chance under 5% random loss: no step.
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(run(c, 0, 3000, () => ({ estimateKbps: 1000, overuse: false, lossFraction: 7 / 60, lossPackets: 60 }))).toBe(0);
    // 15 of 60 (25%) is not.
    expect(c.update(3200, { estimateKbps: 1000, overuse: false, lossFraction: 15 / 60, lossPackets: 60 })).toBe(1);
    expect(c.reason).toBe('loss');
    // A bigger sample needs less margin: 15% of 600 packets is heavy.
    const d = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(d.update(0, { estimateKbps: 1000, overuse: false, lossFraction: 0.15, lossPackets: 600 })).toBe(1);
    // The same fraction of 60 packets is not.
    const e = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(e.update(0, { estimateKbps: 1000, overuse: false, lossFraction: 0.15, lossPackets: 60 })).toBe(0);
  });

  it('a few percent of loss on a path with no queue does not keep it from stepping up; with a queue, or without a queue meter, it does', () => {
    const lossy = (queueMs?: number) => ({ estimateKbps: 1000, overuse: false, lossFraction: 0.05, ...(queueMs === undefined ? {} : { queueMs }) });
    const none = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    expect(run(none, 0, 3000, () => lossy(2))).toBe(0);
    const queued = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    expect(run(queued, 0, 3000, () => lossy(12))).toBe(1);
    const blind = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    expect(run(blind, 0, 3000, () => lossy())).toBe(1);
  });

  it('holds the old rung back only when the queue is long: a probe that overshot a little keeps sending until the new rung starts', () => {
    const probed = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    run(probed, 0, 3000, () => ({ ...calm(probed.needKbps(1) * 1.05), queueMs: 0 }));
    expect(probed.target).toBe(0);
    expect(probed.reason).toBe('probe');
    expect(probed.update(3200, { ...calm(500), queueMs: 50 })).toBe(1);
    expect(probed.reason).toBe('congestion');
    expect(probed.hold).toBe(false);
    const queued = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(queued.update(0, { ...calm(500), queueMs: 200 })).toBe(1);
    expect(queued.hold).toBe(true);
  });

  it('with padding probes, steps up only after the padding showed the path carries the next rung; a probe that queued costs no step', () => {
    const ok = new RungController(LADDER, { startRung: 1, audioKbps: 60, paddingProbes: true });
    const quiet = (t: number, extra = {}) => ({ ...calm(ok.needKbps(1)), queueMs: 0, reportedUpTo: t - 50, carrying: 1, ...extra });
    let t = 0;
    for (; !ok.padProbe && t < 3000; t += 200) expect(ok.update(t, quiet(t))).toBe(1);
    const probe = ok.padProbe!;
    expect(probe.rung).toBe(0);
    // It pads by what rung 0 needs beyond rung 1, for the probe's span only.
    expect(ok.paddingKbps(probe.from)).toBeCloseTo(ok.needKbps(0) - ok.needKbps(1));
    expect(ok.paddingKbps(probe.to)).toBe(0);
    // Feedback not yet about all of it: no step.
    expect(ok.update(probe.to - 100, quiet(probe.to - 100, { reportedUpTo: probe.to - 200 }))).toBe(1);
    // All of it reported, no queue: up.
    expect(ok.update(probe.to + 200, quiet(probe.to + 200, { reportedUpTo: probe.to + 10, probeQueueMs: 4 }))).toBe(0);
    expect(ok.reason).toBe('probe');

    const narrow = new RungController(LADDER, { startRung: 1, audioKbps: 60, paddingProbes: true });
    t = 0;
    for (; !narrow.padProbe && t < 3000; t += 200) narrow.update(t, quiet(t));
    const p2 = narrow.padProbe!;
    // The probe added 25 ms of queue by its last packets: the path falls short of rung 0 by a
    // tenth or more (a rung 15% over a 300 kbit/s uplink added 37 ms and then queued 275 ms).
    expect(narrow.update(p2.to + 200, quiet(p2.to + 200, { reportedUpTo: p2.to + 10, probeQueueMs: 25 }))).toBe(1);
    expect(narrow.padProbe).toBeNull();
    // The queue it made (on the meter too) is no congestion to step down for while it drains...
    expect(narrow.update(p2.to + 400, quiet(p2.to + 400, { queueMs: 90 }))).toBe(1);
    // ...and rung 0 is not probed again at once (backed off 2.5 s).
    for (t = p2.to + 600; t < p2.to + 2400; t += 200) narrow.update(t, quiet(t));
    expect(narrow.padProbe).toBeNull();
    expect(narrow.target).toBe(1);
  });

  it('while a failed padding probe\'s queue drains, what the receiver acknowledges takes no step down; after it, a rung the path does not carry goes', () => {
    const c = new RungController(LADDER, { startRung: 2, audioKbps: 60, paddingProbes: true });
    const quiet = (t: number, extra = {}) => ({ ...calm(c.needKbps(2)), queueMs: 0, reportedUpTo: t - 50, carrying: 2, ...extra });
    let t = 0;
    for (; !c.padProbe && t < 3000; t += 200) c.update(t, quiet(t));
    const p = c.padProbe!;
    expect(p.rung).toBeLessThan(2);
    // The probe's own packets come back late: it failed.
    expect(c.update(p.to + 200, quiet(p.to + 200, { overuse: true }))).toBe(2);
    expect(c.padProbe).toBeNull();
    // Its queue (84 ms), with the padding's share of the link: the receiver acknowledges less than
    // the rung's need and less than 90% of what was sent. That is the probe's queue, not the rung's.
    const backlog = (at: number) => quiet(at, { overuse: true, queueMs: 84, ackedKbps: 160, sentKbps: 180 });
    for (t = p.to + 450; t < p.to + 200 + 1500; t += 250) expect(c.update(t, backlog(t)), `at ${t - p.to} ms after the probe`).toBe(2);
    // Past the drain, the same signals are a rung the path does not carry.
    expect(c.update(p.to + 200 + 1600, backlog(p.to + 1800))).toBe(3);
  });

  it('starts on the rung the start estimate fits; the first padding probe goes for the best rung at once, briefly', () => {
    const c = new RungController(LADDER, { audioKbps: 60, paddingProbes: true });
    expect(c.target).toBe(c.fitting(300));
    expect(c.target).toBeGreaterThanOrEqual(2);
    const start = c.target;
    const quiet = (t: number, extra = {}) => ({ ...calm(300), queueMs: 0, reportedUpTo: t - 50, carrying: start, ...extra });
    let t = 0;
    for (; !c.padProbe && t < 3000; t += 200) c.update(t, quiet(t));
    const first = c.padProbe!;
    expect(first.rung).toBe(0);
    expect(first.to - first.from).toBeLessThanOrEqual(100);
    expect(c.paddingKbps(first.from)).toBeCloseTo(c.needKbps(0) - c.needKbps(start));
    // It carried: the best rung next, skipping the rungs between.
    expect(c.update(first.to + 100, quiet(first.to + 100, { reportedUpTo: first.to + 5, probeQueueMs: 3 }))).toBe(0);
    // The best rung then queues within the probe window: back where it came from, not to the rung
    // between (a path that carried only the start rung would queue that one's keyframe too).
    const queued = first.to + 1200;
    expect(c.update(queued, { ...calm(300), queueMs: 135, reportedUpTo: queued - 50, carrying: 0 })).toBe(start);
    expect(c.reason).toBe('congestion');
    // A narrow path: the first probe queues, and the next probes go one rung at a time.
    const n = new RungController(LADDER, { audioKbps: 60, paddingProbes: true });
    for (t = 0; !n.padProbe && t < 3000; t += 200) n.update(t, quiet(t));
    const p1 = n.padProbe!;
    expect(n.update(p1.to + 100, quiet(p1.to + 100, { reportedUpTo: p1.to + 5, probeQueueMs: 90 }))).toBe(start);
    for (t = p1.to + 300; !n.padProbe && t < p1.to + 6000; t += 200) n.update(t, quiet(t));
    expect(n.padProbe?.rung).toBe(start - 1);
  });

  it('a probe that meets no queue at all is followed at once by a brief probe of the best rung, which falls back to the first probe\'s rung when it queues', () => {
    // Start, climb to the best rung (the first probe), then congestion takes it down to rung 2.
    const toRung2 = () => {
      const c = new RungController(LADDER, { audioKbps: 60, paddingProbes: true });
      const start = c.target;
      let t = 0;
      for (; !c.padProbe && t < 3000; t += 200) c.update(t, { ...calm(300), queueMs: 0, reportedUpTo: t - 50, carrying: start });
      const first = c.padProbe!;
      expect(c.update(first.to + 100, { ...calm(300), queueMs: 0, reportedUpTo: first.to + 5, probeQueueMs: 2, carrying: start })).toBe(0);
      t = first.to + 4000;
      const over = (at: number) => ({ estimateKbps: 250, overuse: true, lossFraction: 0, queueMs: 60, reportedUpTo: at - 50 });
      expect(c.update(t, over(t))).toBe(1);
      expect(c.update(t + 1000, over(t + 1000))).toBe(2);
      return { c, t: t + 1200 };
    };
    const quiet = (c: RungController, t: number, extra = {}) => ({ ...calm(300), queueMs: 0, reportedUpTo: t - 50, carrying: c.target, ...extra });
    const probeOf = (c: RungController, from: number) => {
      let t = from;
      for (; !c.padProbe && t < from + 6000; t += 200) c.update(t, quiet(c, t));
      return { p: c.padProbe!, t };
    };

    // The path widened: the probe of rung 1 adds 1 ms of queue, so rung 0 is probed before any step...
    const wide = toRung2();
    const { p: p1 } = probeOf(wide.c, wide.t);
    expect(p1.rung).toBe(1);
    expect(wide.c.update(p1.to + 100, quiet(wide.c, p1.to + 100, { reportedUpTo: p1.to + 5, probeQueueMs: 1 }))).toBe(2);
    const chained = wide.c.padProbe!;
    expect(chained).toMatchObject({ rung: 0, proven: 1 });
    expect(chained.to - chained.from).toBeLessThanOrEqual(100);
    expect(wide.c.paddingKbps(chained.from)).toBeCloseTo(wide.c.needKbps(0) - wide.c.needKbps(2));
    // ...and it carries: straight to the best rung, one keyframe wait instead of two.
    expect(wide.c.update(chained.to + 100, quiet(wide.c, chained.to + 100, { reportedUpTo: chained.to + 5, probeQueueMs: 2 }))).toBe(0);
    expect(wide.c.reason).toBe('probe');

    // A path that carries rung 1 only: the best rung's brief probe queues; rung 1 is taken, rung 0 backed off.
    const mid = toRung2();
    const { p: q1 } = probeOf(mid.c, mid.t);
    mid.c.update(q1.to + 100, quiet(mid.c, q1.to + 100, { reportedUpTo: q1.to + 5, probeQueueMs: 0 }));
    const q0 = mid.c.padProbe!;
    expect(q0.rung).toBe(0);
    // Its own burst made a queue past 80 ms (the delay trend says overuse): still rung 1.
    expect(mid.c.update(q0.to + 100, quiet(mid.c, q0.to + 100, { reportedUpTo: q0.to + 5, probeQueueMs: 95, queueMs: 120, overuse: true }))).toBe(1);
    let t = q0.to + 300;
    for (; t < q0.to + 2300; t += 200) mid.c.update(t, quiet(mid.c, t, { carrying: 1 }));
    expect(mid.c.padProbe, 'rung 0 is not probed again at once').toBeNull();
    expect(mid.c.target).toBe(1);

    // A brief probe that could send little of its padding proved nothing: rung 1 at once, not after a time-out.
    const little = toRung2();
    const { p: l1 } = probeOf(little.c, little.t);
    little.c.update(l1.to + 100, quiet(little.c, l1.to + 100, { reportedUpTo: l1.to + 5, probeQueueMs: 0 }));
    const l0 = little.c.padProbe!;
    expect(little.c.update(l0.to + 20, quiet(little.c, l0.to + 20, { reportedUpTo: l0.to - 80, probeSentLittle: true }))).toBe(1);
    // A stall while the brief probe is on: no step up (a stall is congestion: it steps down).
    const stall = toRung2();
    const { p: s1 } = probeOf(stall.c, stall.t);
    stall.c.update(s1.to + 100, quiet(stall.c, s1.to + 100, { reportedUpTo: s1.to + 5, probeQueueMs: 0 }));
    const s0 = stall.c.padProbe!;
    expect(stall.c.update(s0.to + 100, quiet(stall.c, s0.to + 100, { reportedUpTo: s0.from - 300, stalled: true }))).toBeGreaterThanOrEqual(2);
    expect(stall.c.reason).not.toBe('probe');

    // A probe that added a little queue (5 ms) proves its own rung only: the plain step.
    const some = toRung2();
    const { p: r1 } = probeOf(some.c, some.t);
    expect(some.c.update(r1.to + 100, quiet(some.c, r1.to + 100, { reportedUpTo: r1.to + 5, probeQueueMs: 5 }))).toBe(1);
    expect(some.c.padProbe).toBeNull();
  });

  it('loss that comes with a long queue is its tail drops: no step down for loss once the queue is gone, and no bar to stepping up', () => {
    const c = new RungController(LADDER, { startRung: 2, audioKbps: 60, paddingProbes: true });
    // The queue stood past 80 ms a moment ago (the congestion rule's business)...
    expect(c.update(0, { ...calm(300), queueMs: 120, overuse: false, lossFraction: 0, reportedUpTo: -50, carrying: 2 })).toBe(2);
    // ...and its drops are reported after it emptied: 20% loss, no queue now.
    let probed = null;
    for (let t = 200; t <= 1400 && !probed; t += 200) {
      expect(c.update(t, { ...calm(300), queueMs: 0, lossFraction: 0.2, reportedUpTo: t - 50, carrying: 2 })).toBe(2);
      probed = c.padProbe;
    }
    // A calm path probes despite the drops, and they do not fail the probe.
    expect(probed).not.toBeNull();
    expect(c.update(probed!.to + 100, { ...calm(300), queueMs: 0, lossFraction: 0.2, reportedUpTo: probed!.to + 5, probeQueueMs: 2, carrying: 2 })).toBe(0);
    // Loss of 20% with no queue for 3 s and more is the path's own: one rung down.
    const d = new RungController(LADDER, { startRung: 2, audioKbps: 60 });
    expect(d.update(5000, { ...calm(300), queueMs: 0, lossFraction: 0.2, reportedUpTo: 4950, carrying: 2 })).toBe(3);
    expect(d.reason).toBe('loss');
  });

  it('a receiver cap (REMB) short of the rung for a second steps down; a moment short does not', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    const capped = { ...calm(1000), limitKbps: 400 };
    c.update(0, capped);
    expect(c.update(600, capped)).toBe(0);
    expect(c.update(1000, capped)).toBe(1);
    expect(c.reason).toBe('limit');
  });

  it('an estimate below the rung without congestion is a ramp still under way, not a reason to step down', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(run(c, 0, 5000, () => calm(350))).toBe(0);
  });

  it('a probe that meets congestion backs off: the next probe of that rung waits, so it does not flap', () => {
    const c = new RungController(LADDER, { startRung: 2, audioKbps: 60, minBackoffMs: 2000, maxBackoffMs: 4000 });
    // A 300 kbit/s path: rung 2 fits, rung 1 (300 kbit/s + audio) does not.
    const changes: { t: number; rung: number }[] = [];
    let rung = c.target;
    for (let t = 0; t <= 20_000; t += 200) {
      const over = c.target < 2 && changes.length > 0 && t - changes[changes.length - 1]!.t >= 400;
      const next = c.update(t, { estimateKbps: over ? 255 : c.needKbps(c.target), overuse: over, lossFraction: 0 });
      if (next !== rung) { changes.push({ t, rung: next }); rung = next; }
    }
    const probes = changes.filter((x) => x.rung === 1);
    expect(probes.length).toBeGreaterThanOrEqual(3);
    // Each failed probe doubles the wait, up to the cap: gaps grow and never exceed cap + hold + a tick.
    const gaps = probes.slice(1).map((p, i) => p.t - probes[i]!.t);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    for (const g of gaps) expect(g).toBeLessThanOrEqual(4000 + 1000 + 1000);
    // Over 20 s a path that cannot carry rung 1 is probed a handful of times, not every second.
    expect(probes.length).toBeLessThanOrEqual(6);
  });

  it('a probe\'s window opens when its rung takes effect: one that fails 2 s after a 2 s keyframe wait still backs off', () => {
    const c = new RungController(LADDER, { startRung: 2, audioKbps: 60 });
    // A path that carries rung 2 only; a probe of rung 1 is sent from 2 s after it was asked for
    // (the keyframe wait) and meets congestion 2 s after that.
    const probes: number[] = [];
    let asked: number | null = null;
    for (let t = 0; t <= 30_000; t += 200) {
      const carrying = asked !== null && t - asked < 2000 ? 2 : c.target;
      const over = carrying < 2 && asked !== null && t - asked >= 4000;
      const before = c.target;
      const next = c.update(t, { estimateKbps: over ? 255 : c.needKbps(c.target), overuse: over, lossFraction: 0, carrying });
      if (next < before) { probes.push(t); asked = t; }
      if (next > before) asked = null;
    }
    // Backed off 2.5 s, 5 s, then 10 s: over 30 s, 4 probes at most. (With the window counted
    // from the ask, each failure lost its back-off: 7 probes in 30 s.)
    expect(probes.length).toBeGreaterThanOrEqual(2);
    expect(probes.length).toBeLessThanOrEqual(4);
    const gaps = probes.slice(1).map((p, i) => p - probes[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
  });

  it('congestion with FEC on takes the FEC off before a rung (low-upload: FEC on the 150 kbit/s rung filled the uplink); FEC the user asked for is not shed', () => {
    // FEC went on at -1000; the feedback reaches 100 ms behind each tick.
    const sig = (t: number, extra: Partial<Parameters<RungController['update']>[1]>) => ({ ...calm(500), reportedUpTo: t - 100, ...extra });
    const c = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    c.setVideoOverhead(0.25, -1000, true);
    const needWithFec = c.needKbps(1);
    // A standing queue of 78 ms with the trend's overuse: the FEC goes, the rung stays.
    expect(c.update(0, sig(0, { overuse: true, queueMs: 78 }))).toBe(1);
    expect(c.shedOverhead).toBe(true);
    expect(c.needKbps(1)).toBeLessThan(needWithFec);
    // It is said once; the queue drains and the rung holds.
    expect(run(c, 200, 800, (t) => sig(t, { queueMs: 40 }))).toBe(1);
    expect(c.shedOverhead).toBe(false);
    // Congestion that goes on (in packets sent after the shed) takes a rung a second after it.
    expect(c.update(1000, sig(1000, { queueMs: 120 }))).toBe(2);
    expect(c.reason).toBe('congestion');
    expect(c.shedOverhead).toBe(false);
    // The trend's overuse alone, with a short queue, is answered as without FEC: a rung, no shed.
    const d = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    d.setVideoOverhead(0.25, -1000, true);
    expect(d.update(0, sig(0, { overuse: true, queueMs: 30 }))).toBe(2);
    expect(d.shedOverhead).toBe(false);
    // A queue in packets sent before FEC went on is not FEC's: a rung, no shed.
    const f = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    f.setVideoOverhead(0.25, 0, true);
    expect(f.update(0, sig(0, { queueMs: 120 }))).toBe(2);
    expect(f.shedOverhead).toBe(false);
    // FEC the user asked for (not sheddable) stays: the rung goes at once.
    const e = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    e.setVideoOverhead(0.25, -1000);
    expect(e.update(0, sig(0, { queueMs: 120 }))).toBe(2);
    expect(e.shedOverhead).toBe(false);
  });

  it('with FEC on, a rung the acknowledged rate does not carry is jumped from to the rung that fits without FEC, and a failed probe goes back keeping the FEC', () => {
    // 240 kbit/s of video acknowledged of 600 sent behind a 300 ms queue: over capacity. The FEC
    // goes too, and the jump is to the rung that fits without it (rung 2: 234 kbit/s; with FEC's
    // share 278, over the 270 that 90% of what is carried allows: the keep-alive).
    const j = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    j.setVideoOverhead(0.25, -1000, true);
    expect(j.update(0, { ...calm(300), queueMs: 300, ackedKbps: 240, sentKbps: 600, reportedUpTo: -100 })).toBe(2);
    expect(j.shedOverhead).toBe(true);
    // FEC the user asked for is budgeted in the jump.
    const u = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    u.setVideoOverhead(0.25, -1000);
    expect(u.update(0, { ...calm(300), queueMs: 300, ackedKbps: 240, sentKbps: 600, reportedUpTo: -100 })).toBe(3);
    // Calm, with an estimate at what is sent: the step up is a probe.
    const p = new RungController(LADDER, { startRung: 2, audioKbps: 60 });
    p.setVideoOverhead(0.25, -1000, true);
    expect(run(p, 0, 600, (t) => ({ ...calm(p.needKbps(p.target) * 1.05), queueMs: 5, reportedUpTo: t - 100 }))).toBe(1);
    expect(p.reason).toBe('probe');
    // The probe meets a queue (ticks every 200 ms): back to rung 2 a second after it, FEC kept...
    let shed = false;
    expect(run(p, 800, 1600, (t) => { shed ||= p.shedOverhead; return { ...calm(400), queueMs: 90, reportedUpTo: t - 100 }; })).toBe(2);
    // ...also while the queue the probe left drains.
    expect(run(p, 1800, 4400, (t) => { shed ||= p.shedOverhead; return { ...calm(400), queueMs: 90, reportedUpTo: t - 100 }; })).toBe(2);
    expect(shed || p.shedOverhead).toBe(false);
  });

  it('after congestion ends, is back on the best rung within 5 s', () => {
    const c = new RungController(LADDER, { startRung: 3, audioKbps: 60 });
    let t = 0;
    for (; t < 3000; t += 200) c.update(t, { estimateKbps: 200, overuse: t % 1000 === 0, lossFraction: 0 });
    const freed = t;
    while (c.target !== 0 && t < freed + 10_000) { c.update(t, calm(c.needKbps(c.target) * 1.05)); t += 200; }
    expect(c.target).toBe(0);
    expect(t - freed).toBeLessThanOrEqual(5000);
  });
});

describe('RungController against a standing queue (what a Chromium viewer behind low-upload showed)', () => {
  // need(1) = 300*1.1+9+60 = 399, need(2) = 150*1.1+9+60 = 234 kbit/s (audio 60).
  const full = (t: number, extra: Partial<Parameters<RungController['update']>[1]> = {}) => ({ ...calm(300), queueMs: 300, ackedKbps: 240, reportedUpTo: t - 300, ...extra });

  it('jumps straight to the rung that the acknowledged rate carries, not one rung a second', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    // 240 kbit/s of video acknowledged plus the audio: the path carries 300; rung 2 fits its 90%.
    expect(c.update(0, full(0))).toBe(2);
    expect(c.reason).toBe('congestion');
  });

  it('ignores congestion in packets sent before the new rung took effect, but never a stall', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(c.update(0, full(0))).toBe(2);
    // The track switches at t = 1000; until then, and for feedback about packets sent before it,
    // the queue it left behind is old news.
    expect(run(c, 200, 800, (t) => full(t, { queueMs: 500, carrying: 0 }))).toBe(2);
    expect(run(c, 1000, 2400, () => full(0, { queueMs: 600, carrying: 2, reportedUpTo: 700, ackedKbps: undefined }))).toBe(2);
    // Feedback that stops altogether is congestion, whatever came before.
    expect(c.update(2600, full(0, { queueMs: null, carrying: 2, reportedUpTo: 700, stalled: true }))).toBe(3);
  });

  it('a long queue is no reason to jump when the path acknowledges what was sent (an encoder under its rung\'s bitrate)', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    // 240 kbit/s acknowledged of 250 sent: the path carries what it gets; the queue is one rung's matter.
    expect(c.update(0, full(0, { sentKbps: 250 }))).toBe(1);
    const j = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    // 240 of 600 sent: over capacity, straight to what fits.
    expect(j.update(0, full(0, { sentKbps: 600 }))).toBe(2);
  });

  it('after the jump, gives the queue the old rung left time to drain before stepping down again', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(c.update(0, full(0))).toBe(2);
    // Rung 2's first packets wait behind the backlog of rung 0: a long queue, but what arrives
    // (240 kbit/s plus audio) carries rung 2, and the trend is not overuse.
    expect(run(c, 1000, 2800, (t) => full(t, { queueMs: 250, carrying: 2, reportedUpTo: t - 250 }))).toBe(2);
    // A queue that still stands after the drain had its time (3 s) is congestion again.
    expect(c.update(3200, full(3200, { queueMs: 250, carrying: 2, reportedUpTo: 3000 }))).toBe(3);
  });

  it('after the jump, the trend\'s overuse does not take it lower while what is acknowledged carries the new rung', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(c.update(0, full(0))).toBe(2);
    // The backlog's packets arrive later and later: the trend says overuse, but 240 kbit/s plus
    // the audio arrives, more than rung 2's 234 needs with 10% to spare (300 >= 257)...
    expect(run(c, 1000, 2800, (t) => full(t, { queueMs: 400, overuse: true, carrying: 2, reportedUpTo: t - 400 }))).toBe(2);
    // ...and with less acknowledged (190 + 60 = 250 < 257), or no acknowledged rate to tell, the trend still takes it down.
    for (const ackedKbps of [190, undefined]) {
      const d = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
      expect(d.update(0, full(0))).toBe(2);
      expect(run(d, 1000, 2800, (t) => full(t, { queueMs: 400, overuse: true, carrying: 2, reportedUpTo: t - 400, ackedKbps }))).toBe(3);
    }
  });

  it('with padding probes only where the path was found narrow: a step up on a path with no limit found, padding after a jump', () => {
    const wide = new RungController(LADDER, { startRung: 1, audioKbps: 60, paddingProbes: 'narrow' });
    // A calm path, an estimate short of rung 0, nothing measured: the probe is the step up itself.
    expect(run(wide, 0, 1000, (t) => ({ ...calm(300), queueMs: 0, reportedUpTo: t - 50, carrying: wide.target }))).toBe(0);
    expect(wide.reason).toBe('probe');
    expect(wide.padProbe).toBeNull();
    // After a jump to what the path acknowledges, the next probe pads, of the rung above (not the
    // best rung, as a first probe on a path not yet measured does).
    const narrow = new RungController(LADDER, { startRung: 0, audioKbps: 60, paddingProbes: 'narrow' });
    expect(narrow.update(0, full(0))).toBe(2);
    let padded = false;
    for (let t = 200; t <= 40_000 && !padded; t += 200) {
      narrow.update(t, { ...calm(250), queueMs: 0, reportedUpTo: t - 50, carrying: narrow.target });
      padded = narrow.padProbe !== null;
    }
    expect(padded).toBe(true);
    expect(narrow.padProbe!.rung).toBe(1);
    expect(narrow.target).toBe(2);
  });

  it('takes no step up before any feedback, and steps up once feedback says the path is calm', () => {
    const c = new RungController(LADDER, { startRung: 1, audioKbps: 60 });
    expect(run(c, 0, 3000, () => ({ ...calm(2000), queueMs: null }))).toBe(1);
    expect(run(c, 3200, 6000, () => ({ ...calm(2000), queueMs: 0 }))).toBe(0);
  });

  it('climbs back to the measured capacity without a probe, and forgets it when that rung meets congestion', () => {
    const c = new RungController(LADDER, { startRung: 0, audioKbps: 60 });
    expect(c.update(0, full(0))).toBe(2);
    // The trend's overuse, or a short queue, on the rung above the keep-alive: it stays (the
    // keep-alive is a freeze; a keyframe on a narrow uplink queues a moment).
    expect(c.update(1200, { ...calm(150), overuse: true, queueMs: 10, reportedUpTo: 1100, carrying: 2 })).toBe(2);
    expect(c.update(1400, { ...calm(150), overuse: true, queueMs: 120, reportedUpTo: 1300, carrying: 2 })).toBe(2);
    // A queue past 150 ms of fresh packets: one rung down.
    expect(c.update(1600, { ...calm(150), overuse: true, queueMs: 200, reportedUpTo: 1500, carrying: 2 })).toBe(3);
    // Calm: back up to rung 2, which the measured 300 kbit/s carries: no probe.
    expect(run(c, 1800, 3400, (t) => ({ ...calm(150), queueMs: 0, reportedUpTo: t - 50, carrying: c.target }))).toBe(2);
    expect(c.reason).toBe('fits');
    // Cross traffic: rung 2 meets a long queue (no acknowledged rate to measure): down, and the
    // capacity is forgotten, so the next step up is a probe.
    expect(c.update(4600, { ...calm(150), queueMs: 200, reportedUpTo: 4500, carrying: 2 })).toBe(3);
    let t = 4800;
    for (; c.target === 3 && t < 10_000; t += 200) c.update(t, { ...calm(150), queueMs: 0, reportedUpTo: t - 50, carrying: c.target });
    expect(c.target).toBe(2);
    expect(c.reason).toBe('probe');
  });
});

describe('QueueDelayMeter', () => {
  it('counts loss only of packets sent after a given time, and says how far its feedback reaches', () => {
    const m = new QueueDelayMeter();
    for (let i = 0; i < 100; i++) m.onSent(i, i * 10);
    // 0-49 lost (sent before 495), 50-99 arrived.
    m.onFeedback(Array.from({ length: 100 }, (_, i) => ({ seq: i, arrivalMs: i < 50 ? null : 5000 + i * 10 })), 1000);
    expect(m.lossFraction(1000)).toBe(0.5);
    expect(m.lossFraction(1000, 495)).toBe(0);
    expect(m.reportedUpTo()).toBe(990);
  });

  it('a few packets are no loss rate: 5 lost of 40 reported (12%) under 5% random loss is chance', () => {
    const m = new QueueDelayMeter();
    for (let i = 0; i < 40; i++) m.onSent(i, i * 10);
    m.onFeedback(Array.from({ length: 40 }, (_, i) => ({ seq: i, arrivalMs: i % 8 === 0 ? null : 5000 + i * 10 })), 500);
    expect(m.lossFraction(500)).toBe(0);
    for (let i = 40; i < 80; i++) m.onSent(i, i * 10);
    m.onFeedback(Array.from({ length: 40 }, (_, i) => ({ seq: 40 + i, arrivalMs: i % 8 === 0 ? null : 6000 + i * 10 })), 1000);
    expect(m.lossFraction(1000)).toBe(0.125);
  });

  it('compares packets with packets of their size: the full packets of the 3 fps keep-alive on an empty link are no queue', () => {
    const m = new QueueDelayMeter();
    const seq = { n: 0 };
    // 15 fps frames of a full packet and a tail, or one short packet; then the keep-alive's two full packets a third of a second.
    let t = sendFrames(m, seq, 0, 4000, 66, RUNG_2_FRAMES);
    expect(m.queueMs(t)).toBeLessThan(2);
    t = sendFrames(m, seq, t, 8000, 333, [[1200, 1100]]);
    // Against the tails' base the full packets read 25 ms (their longer time on the link), past the 20 ms a step up needs.
    expect(m.queueMs(t)).toBeLessThan(2);
    // A padding probe's small packets are measured against small packets too.
    const probeFrom = t;
    t = sendFrames(m, seq, t, t + 250, 20, [[270]]);
    expect(m.queueOfSent(probeFrom, t)).toBeLessThan(2);
  });

  it('a standing queue shows whatever the sizes, also in a size class first seen in it', () => {
    const { m, seq, t: queued } = meterInQueue(120);
    let t = queued;
    expect(m.queueMs(t)).toBeGreaterThanOrEqual(119);
    // Medium packets never seen before, in the queue: measured against the base of all sizes, not their own.
    t = sendFrames(m, seq, t, t + 1500, 66, [[700]], 120);
    expect(m.queueMs(t)).toBeGreaterThanOrEqual(119);
    const from = t;
    t = sendFrames(m, seq, t, t + 250, 20, [[700]], 150);
    expect(m.queueOfSent(from, t)).toBeGreaterThanOrEqual(149);
  });

  it('bounds the queue an unreported packet met by the packets sent after it plus how much later they left', () => {
    const { m, seq, t: from } = meterInQueue(30);
    const t = sendFrames(m, seq, from, from + 200, 66, RUNG_2_FRAMES, 30);
    // Sent 10 ms before the next frame: it met at most that frame's 30 ms plus 10.
    expect(m.queueMetBy(from - 10, 70)).toBeGreaterThanOrEqual(29);
    expect(m.queueMetBy(from - 10, 70)).toBeLessThanOrEqual(41);
    expect(m.queueMetBy(t + 1000, 70)).toBeNull();
  });
});

/**
 * Frames through a 300 kbit/s bottleneck with a 30 ms path and `queueMs` of standing queue: each
 * packet's one-way delay is the path, the queue, and its own time on the link behind the packets
 * of its frame sent before it (as the lab's link and a real uplink delay them). The frames' packet
 * sizes are taken from `frames` in turn.
 */
function sendFrames(m: QueueDelayMeter, seq: { n: number }, from: number, to: number, everyMs: number, frames: readonly (readonly number[])[], queueMs = 0): number {
  let t = from;
  for (let i = 0; t < to; t += everyMs, i++) {
    let wire = 0;
    const results = frames[i % frames.length]!.map((size) => {
      wire += (size * 8) / 300;
      m.onSent(seq.n, t, size);
      return { seq: seq.n++, arrivalMs: t + 30 + queueMs + wire };
    });
    m.onFeedback(results, t + 30 + queueMs + wire + 20);
  }
  return t;
}

/** 15 fps frames of a full packet and a tail, or one short packet (the 150 kbit/s rung's, about). */
const RUNG_2_FRAMES = [[1200, 250], [400]] as const;

/** A meter that saw 4 s of {@link RUNG_2_FRAMES} through an empty link, then 600 ms of them behind a standing queue of `queueMs`. */
function meterInQueue(queueMs: number): { m: QueueDelayMeter; seq: { n: number }; t: number } {
  const m = new QueueDelayMeter();
  const seq = { n: 0 };
  const t = sendFrames(m, seq, 0, 4000, 66, RUNG_2_FRAMES);
  return { m, seq, t: sendFrames(m, seq, t, t + 600, 66, RUNG_2_FRAMES, queueMs) };
}

/** `packets` start with a whole VP8 keyframe (a keyframe's first packet ... a marker bit) `width` pixels wide. */
function expectWholeKeyframe(packets: readonly Buffer[], width: number): void {
  expect(packets.length).toBeGreaterThan(0);
  const h0 = parseRtp(packets[0]!)!;
  expect(payloadKind('vp8', packets[0]!.subarray(h0.payloadOffset)).keyframe).toBe(true);
  expect(frameSize(packets[0]!, h0.payloadOffset)).toBe(width);
  expect(parseRtp(packets[packets.length - 1]!)!.marker).toBe(true);
}

/** A stand-in for a werift track: keeps copies of what the fan-out writes. */
function recordingTrack(): MediaStreamTrack & { packets: Buffer[] } {
  const packets: Buffer[] = [];
  return { packets, writeRtp: (b: Buffer) => { packets.push(Buffer.from(b)); } } as unknown as MediaStreamTrack & { packets: Buffer[] };
}

/** A stand-in for a werift track that calls `onFrame` at each VP8 frame's first packet and `onKey` (with the packet and its payload offset) at a keyframe's. */
function frameTrack(onFrame: () => void, onKey: (packet: Buffer, payloadOffset: number) => void): MediaStreamTrack {
  return {
    writeRtp: (b: Buffer) => {
      const h = parseRtp(b)!;
      const k = payloadKind('vp8', b.subarray(h.payloadOffset));
      if (!k.frameStart) return;
      onFrame();
      if (k.keyframe) onKey(b, h.payloadOffset);
    },
  } as unknown as MediaStreamTrack;
}

describe('MediaSource with a ladder (real ffmpeg)', () => {
  let source: MediaSource | null = null;
  afterEach(async () => { await source?.close(); source = null; });

  it('switches a track to another rung at that rung\'s keyframe, with one continuous timeline', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'testsrc' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    expect(source.rungs).toHaveLength(4);
    const track = recordingTrack();
    const sink = source.attach(track, 0);
    await until(() => sink.framesSent >= 20, 10_000, 'frames on rung 0');
    source.setRung(sink, 2);
    expect(sink.targetRung).toBe(2);
    await until(() => sink.rung === 2, 5000, 'the switch to rung 2');
    await until(() => sink.framesSent >= 45, 10_000, 'frames on rung 2');
    expect(sink.switches).toBe(1);

    const parsed = track.packets.map((p) => ({ p, h: parseRtp(p)! }));
    // Sequence numbers are contiguous across the switch.
    for (let i = 1; i < parsed.length; i++) expect(parsed[i]!.h.sequenceNumber).toBe((parsed[i - 1]!.h.sequenceNumber + 1) & 0xffff);
    // Timestamps never go back and move on by the wall-clock time between frames: at most a
    // keyframe interval and a loaded machine's lag (the attach replays the last keyframe, then
    // waits for the next), never a rung's random base apart.
    const frameStarts = parsed.filter(({ p, h }) => payloadKind('vp8', p.subarray(h.payloadOffset)).frameStart);
    for (let i = 1; i < frameStarts.length; i++) {
      const d = (frameStarts[i]!.h.timestamp - frameStarts[i - 1]!.h.timestamp) >>> 0;
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(5 * 90_000);
    }
    // At the switch: a 320-wide keyframe right after a 640-wide frame, about a frame later
    // (6,000 ticks at 15 fps; under 0.3 s even on a loaded machine), with the next picture id.
    const at = frameStarts.findIndex(({ p, h }, i) => i > 0 && frameSize(p, h.payloadOffset) === 320);
    expect(at).toBeGreaterThan(0);
    const [prev, first] = [frameStarts[at - 1]!, frameStarts[at]!];
    expect((first.h.timestamp - prev.h.timestamp) >>> 0).toBeLessThan(27_000);
    const pid = (x: typeof prev) => readVp8PictureId(x.p, vp8PictureIdAt(x.p, x.h.payloadOffset)!);
    expect(pid(first)).toBe((pid(prev) + 1) & 0x7fff);
    // Within a rung, picture ids run on one by one.
    for (let i = at + 1; i < frameStarts.length; i++) expect(pid(frameStarts[i]!)).toBe((pid(frameStarts[i - 1]!) + 1) & 0x7fff);
    // Every keyframe after the switch is 320 wide (rung 2); before it, 640 (rung 0).
    const keyWidths = parsed.filter(({ p, h }) => payloadKind('vp8', p.subarray(h.payloadOffset)).keyframe).map(({ p, h }) => ({ w: frameSize(p, h.payloadOffset) }));
    expect(keyWidths[0]!.w).toBe(640);
    expect(keyWidths[keyWidths.length - 1]!.w).toBe(320);
  }, 30_000);

  it('starts the spare that replaces a fed one a while after its keyframe is out (at once when wanted sooner), so no ffmpeg starts while a new partner waits for that keyframe or connects', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'testsrc' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const before = new Set(source.pids);
    let atFirst: number[] | null = null;
    let keyframeOutAt: number | null = null;
    const track = {
      writeRtp: (b: Buffer) => {
        atFirst ??= source!.pids;
        if (parseRtp(b)!.marker) keyframeOutAt ??= performance.now();
      },
    } as unknown as MediaStreamTrack;
    source.attach(track, 0);
    await until(() => keyframeOutAt !== null, 10_000, 'the keyframe of rung 0');
    // No process was started between the attach and the keyframe's first packet...
    expect(atFirst!.filter((p) => !before.has(p))).toEqual([]);
    // ...and the replacement starts SPARE_AFTER_MS after it is out (a timer never fires early).
    await until(() => source!.pids.some((p) => !before.has(p)), 10_000, 'a new spare for rung 0');
    expect(performance.now() - keyframeOutAt!).toBeGreaterThanOrEqual(SPARE_AFTER_MS - 2);
    // A partner gone before its keyframe came: the rung's replacement starts all the same, and
    // the next partner on that rung gets a keyframe.
    const gone = source.attach({ writeRtp: () => {} } as unknown as MediaStreamTrack, 1);
    source.detach(gone);
    let next = false;
    source.attach({ writeRtp: (b: Buffer) => { if (parseRtp(b)!.marker) next = true; } } as unknown as MediaStreamTrack, 1);
    await until(() => next, 10_000, 'a keyframe of rung 1 for the next partner');
  }, 30_000);

  it('starts a waiting replacement spare at once when its rung\'s keyframe is wanted before its time (a new partner right after Next)', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    // The replacement would wait a minute: only the want can start it within the test.
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath, spareAfterMs: 60_000 });
    const sinkA = source.attach(recordingTrack(), 2);
    await until(() => sinkA.framesSent >= 3, 5000, 'the first call\'s fresh keyframe');
    const before = new Set(source.pids);
    source.detach(sinkA);
    expect(source.spareReady(2)).toBe(false);
    const sinkB = source.attach(recordingTrack(), 2);
    await until(() => source!.pids.some((p) => !before.has(p)), 10_000, 'the replacement spare, started for the new partner');
    await until(() => sinkB.framesSent >= 6, 10_000, 'frames from it');
  }, 30_000);

  it('a new partner\'s first picture goes out during the attach: the spare\'s held keyframe, then a fresh keyframe; not to a rung someone watches, and not when too old', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const keys = (t: { packets: Buffer[] }) => t.packets.filter((b) => { const h = parseRtp(b)!; return payloadKind('vp8', b.subarray(h.payloadOffset)).keyframe; });
    const first = recordingTrack();
    const sink = source.attach(first, 2);
    // Before attach() returned: a whole keyframe (it starts one and ends on the marker bit), 320 wide.
    expectWholeKeyframe(first.packets, 320);
    const heldCount = first.packets.length;
    // Then the fresh keyframe of the frame fed now, later on the timeline, and deltas after it.
    await until(() => sink.framesSent >= 5, 5000, 'frames after the held keyframe');
    const starts = first.packets.map((b) => ({ b, h: parseRtp(b)! })).filter(({ b, h }) => payloadKind('vp8', b.subarray(h.payloadOffset)).frameStart);
    expect(starts.map(({ b, h }) => payloadKind('vp8', b.subarray(h.payloadOffset)).keyframe).slice(0, 3)).toEqual([true, true, false]);
    expect((starts[1]!.h.timestamp - starts[0]!.h.timestamp) >>> 0).toBeGreaterThan(0);
    expect(first.packets.length).toBeGreaterThan(heldCount);
    // A second partner on the rung the first one watches: no held picture (the first would see
    // its picture jump back), one fresh keyframe for both.
    await until(() => source!.spareReady(2), 5000, 'a new spare for rung 2');
    const keysBefore = keys(first).length;
    const second = recordingTrack();
    source.attach(second, 2);
    expect(second.packets).toHaveLength(0);
    await until(() => keys(second).length >= 1, 5000, 'a fresh keyframe for the second partner');
    expect(keys(first).length).toBeGreaterThan(keysBefore);
    await source.close();
    // A held keyframe older than heldMaxAgeMs is not sent: the new partner waits for the fresh one.
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath, heldMaxAgeMs: 0 });
    const late = recordingTrack();
    source.attach(late, 2);
    expect(late.packets).toHaveLength(0);
    await until(() => keys(late).length >= 1, 5000, 'the fresh keyframe');
  }, 30_000);

  it('a second partner attached before the first one\'s fresh keyframe came joins that keyframe (no third one); a held keyframe older than heldMaxAgeMs is not sent', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath, heldMaxAgeMs: 1500 });
    const keys = (t: { packets: Buffer[] }) => t.packets.filter((b) => { const h = parseRtp(b)!; const k = payloadKind('vp8', b.subarray(h.payloadOffset)); return k.keyframe && k.frameStart; }).length;
    // A warmed-up spare of a moment ago: its held keyframe goes to a new partner at once.
    const fresh = async () => { await until(() => source!.spareReady(2), 5000, 'a new spare for rung 2'); };
    const first = recordingTrack();
    source.detach(source.attach(first, 2));
    await fresh();
    const a = recordingTrack();
    const b = recordingTrack();
    const sinkA = source.attach(a, 2);
    expect(keys(a)).toBe(1);
    const sinkB = source.attach(b, 2);
    // B waits for A's fresh keyframe and gets it with A; then 20 frames with no other keyframe.
    expect(b.packets).toHaveLength(0);
    await until(() => keys(b) >= 1, 5000, 'the fresh keyframe for both');
    const framesAt = sinkA.framesSent;
    await until(() => sinkA.framesSent >= framesAt + 20, 10_000, '20 more frames');
    expect(keys(a)).toBe(2);
    expect(keys(b)).toBe(1);
    // Nobody on the rung; its spare ready, then older than 1.5 s: a new partner waits for the fresh keyframe.
    source.detach(sinkA);
    source.detach(sinkB);
    await fresh();
    await new Promise((r) => setTimeout(r, 2000));
    const late = recordingTrack();
    source.attach(late, 2);
    expect(late.packets).toHaveLength(0);
    await until(() => keys(late) >= 1, 5000, 'the fresh keyframe');
  }, 30_000);

  it('a new partner whose rung\'s spare is still starting gets the rung\'s last keyframe at once, then the spare\'s keyframes on one timeline', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const starts = (t: { packets: Buffer[] }) => t.packets.map((b) => ({ b, h: parseRtp(b)! })).filter(({ b, h }) => payloadKind('vp8', b.subarray(h.payloadOffset)).frameStart);
    // A call takes rung 2's spare; once its fresh keyframe is out, a new spare starts.
    const first = recordingTrack();
    const sinkA = source.attach(first, 2);
    await until(() => sinkA.framesSent >= 3, 5000, 'the first call\'s fresh keyframe');
    source.detach(sinkA);
    // The next partner comes before that spare is ready (Next pressed at once).
    expect(source.spareReady(2)).toBe(false);
    const next = recordingTrack();
    const sinkB = source.attach(next, 2);
    // Before attach() returned: a whole keyframe of rung 2 (the first call's last), 320 wide.
    expectWholeKeyframe(next.packets, 320);
    // Then the new spare's keyframe(s) and frames after them, later on the timeline, picture ids one by one.
    await until(() => sinkB.framesSent >= 6, 10_000, 'frames from the new spare');
    const s = starts(next);
    expect(payloadKind('vp8', s[1]!.b.subarray(s[1]!.h.payloadOffset)).keyframe).toBe(true);
    const pid = (x: (typeof s)[number]) => readVp8PictureId(x.b, vp8PictureIdAt(x.b, x.h.payloadOffset)!);
    for (let i = 1; i < s.length; i++) {
      expect((s[i]!.h.timestamp - s[i - 1]!.h.timestamp) >>> 0).toBeGreaterThan(0);
      expect((s[i]!.h.timestamp - s[i - 1]!.h.timestamp) >>> 0).toBeLessThan(5 * 90_000);
      expect(pid(s[i]!)).toBe((pid(s[i - 1]!) + 1) & 0x7fff);
    }
    // Sequence numbers run on without a gap.
    const seqs = next.packets.map((b) => parseRtp(b)!.sequenceNumber);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) & 0xffff);
  }, 30_000);

  it('places each frame, for our Sender Reports, at when it was handed to its encoder, not when it came out', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'testsrc' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const frames: { ts: number; outAt: number }[] = [];
    const track = {
      writeRtp: (b: Buffer) => {
        const h = parseRtp(b)!;
        if (payloadKind('vp8', b.subarray(h.payloadOffset)).frameStart) frames.push({ ts: h.timestamp, outAt: performance.now() });
      },
    } as unknown as MediaStreamTrack;
    const sink = source.attach(track, 0);
    await until(() => sink.framesSent >= 30, 10_000, 'frames on rung 0');
    const clock = source.captureClock(sink)!;
    // No pacer on this sink: a frame reaches the track as it comes from the encoder. Its capture
    // is earlier by the encoder's delay (a few ms for a 640x480 VP8 frame on one thread).
    const early = frames.slice(5).map((f) => f.outAt - clock(f.ts)).sort((a, b) => a - b);
    const median = early[early.length >> 1]!;
    expect(median).toBeGreaterThan(1);
    expect(median).toBeLessThan(150);
  }, 30_000);

  it('sends a keyframe only when one is needed: two at the start (the held one and a fresh one), none while a track keeps its rung, a fresh one within a few frames of a PLI; a rung nobody follows runs no encoder', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'testsrc' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    // The decoder and a warmed-up spare per rung; no rung is encoded while nobody follows it.
    expect(source.pids).toHaveLength(1 + LADDER.length);
    const everSeen = new Set<number>();
    const note = () => { for (const p of source!.pids) everSeen.add(p); };
    const gone = (p: number) => { try { process.kill(p, 0); return false; } catch { return true; } };
    note();
    const keyframesAt: number[] = [];
    let frames = 0;
    const track = frameTrack(() => { frames++; }, () => { keyframesAt.push(performance.now()); });
    const attached = performance.now();
    const sink = source.attach(track, 2);
    // The spare's held keyframe at once, then its first fed frame within a few frame intervals, not a GOP.
    expect(keyframesAt).toHaveLength(1);
    await until(() => keyframesAt.length >= 2, 5000, 'the fresh keyframe on rung 2');
    expect(keyframesAt[1]! - attached).toBeLessThan(1000);
    // One rung encoded now, and its spare replaced.
    await until(() => source!.pids.length === 2 + LADDER.length, 5000, 'the rung\'s encoder and a new spare');
    note();
    // 75 frames (5 s) on the rung: no keyframe after the fresh one.
    await until(() => frames >= 75, 15_000, '75 frames on rung 2', 100);
    expect(keyframesAt).toHaveLength(2);
    expect(sink.rung).toBe(2);
    // A PLI: nothing of the broken picture, then a fresh keyframe within a few frames.
    const asked = performance.now();
    source.requestKeyframe(sink);
    source.requestKeyframe(sink);
    // (Nothing at once: a PLI's keyframe is a fresh one, never the spare's held picture.)
    expect(keyframesAt).toHaveLength(2);
    await until(() => keyframesAt.length >= 3, 3000, 'a keyframe after the PLI');
    expect(keyframesAt[2]! - asked).toBeLessThan(1000);
    note();
    // Asked twice before it came: one keyframe.
    await until(() => frames >= 100, 10_000, '25 more frames', 100);
    expect(keyframesAt).toHaveLength(3);
    expect(sink.keyframeRequests).toBe(2);
    // A rung change: the old rung's encoder stops once the new rung has taken over.
    source.setRung(sink, 3);
    await until(() => sink.rung === 3, 5000, 'the switch to rung 3');
    expect(keyframesAt).toHaveLength(4);
    await until(() => source!.pids.length === 2 + LADDER.length, 5000, 'one rung encoded after the switch');
    note();
    // The encoders replaced (the PLI's, the switch's) have exited, not only been forgotten.
    const running = new Set(source.pids);
    await until(() => [...everSeen].filter((p) => !running.has(p)).every(gone), 5000, 'the replaced encoders gone');
    source.detach(sink);
    await until(() => source!.pids.length === 1 + LADDER.length, 5000, 'no rung encoded without a track');
    await source.close();
    note();
    for (const p of everSeen) expect(gone(p), `ffmpeg ${p} still runs`).toBe(true);
  }, 40_000);

  it('a track paused while its step down waits for the new rung\'s keyframe switches when it resumes; paused, no rung is encoded for it', async () => {
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const keyWidths: number[] = [];
    let frames = 0;
    const track = frameTrack(() => { frames++; }, (b, at) => { keyWidths.push(frameSize(b, at)!); });
    const sink = source.attach(track, 0);
    await until(() => frames >= 10, 5000, '10 frames on rung 0');
    // A step down that holds the old rung back, and the partner's page hidden before the new
    // rung's keyframe could come: the keyframe goes by unseen.
    source.setRung(sink, 2, { hold: true });
    source.pause(sink);
    // Nothing but a warmed-up spare per rung (the stamped pattern has no decoder): no rung encoded.
    // (The spare that replaces the one fed for rung 2 starts SPARE_AFTER_MS after the pause.)
    await until(() => source!.pids.length === LADDER.length && LADDER.every((_, r) => source!.spareReady(r)), 10_000, () => `no rung encoded while paused (${source!.pids.length} processes)`);
    expect(sink.rung).toBe(0);
    const before = frames;
    source.resume(sink);
    await until(() => sink.rung === 2, 5000, 'the switch to rung 2 after the resume');
    await until(() => frames >= before + 10, 5000, '10 frames on rung 2');
    // (The start's two keyframes: the spare's held one and the fresh one.)
    expect(keyWidths).toEqual([640, 640, 320]);
    // Held back to its own rung again: it skipped frames, so it starts again from a keyframe.
    source.setRung(sink, 3, { hold: true });
    source.setRung(sink, 2);
    await until(() => keyWidths.length === 4, 5000, 'a keyframe after the hold ended on its own rung');
    expect(keyWidths[3]).toBe(320);
    expect(sink.rung).toBe(2);
  }, 30_000);

  it('stamps each frame with the time it came from the encoder, not with the encoder\'s nominal clock', async () => {
    // ffmpeg hands frames over tens of milliseconds off their nominal times (a keyframe takes
    // longer, four rungs share one process); a viewer's jitter buffer would grow by that.
    const ffmpegPath = resolveFfmpeg().path;
    source = await MediaSource.start({ kind: 'video', source: { type: 'stamped' }, encode: DEFAULT_VIDEO, ladder: LADDER }, { ffmpegPath });
    const sentAt: number[] = [];
    const packets: Buffer[] = [];
    const track = { writeRtp: (b: Buffer) => { packets.push(Buffer.from(b)); sentAt.push(performance.now()); } } as unknown as MediaStreamTrack;
    const sink = source.attach(track, 2);
    await until(() => sink.framesSent >= 30, 15_000, '30 frames on rung 2');
    const starts: { ts: number; at: number }[] = [];
    packets.forEach((p, i) => {
      const ts = parseRtp(p)!.timestamp;
      if (starts[starts.length - 1]?.ts !== ts) starts.push({ ts, at: sentAt[i]! });
    });
    expect(starts.length).toBeGreaterThanOrEqual(30);
    // Every frame's timestamp is its wall-clock time after the first, to within a few ms (the
    // pacer's timer may hand a frame over a little late on a busy machine: 2.95 ms seen; the
    // encoder's own clock was 29 ms off).
    for (const f of starts) {
      expect(Math.abs(((f.ts - starts[0]!.ts) >>> 0) / 90 - (f.at - starts[0]!.at))).toBeLessThan(6);
    }
  }, 30_000);
});

/** Width of a VP8 key frame from its first packet (RFC 6386 section 9.1), after the descriptor. */
function frameSize(packet: Buffer, payloadOffset: number): number | null {
  const p = packet.subarray(payloadOffset);
  let i = 1;
  if (p[0]! & 0x80) {
    const x = p[1]!;
    i = 2;
    if (x & 0x80) i += p[i]! & 0x80 ? 2 : 1;
    if (x & 0x40) i++;
    if (x & 0x30) i++;
  }
  if (p[i]! & 0x01) return null; // not a key frame
  return p.readUInt16LE(i + 6) & 0x3fff;
}
