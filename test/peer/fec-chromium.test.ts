/**
 * FEC for the CLI's video, against Chromium's decoder (src/peer/fec.ts, src/peer/ulpfec.ts): the
 * peer offers RED and ULPFEC, answers no NACK, and loses one in every ten of its video packets
 * on the way out (dropped after SRTP, where the RTP header is still readable). With FEC the page
 * rebuilds each lost packet and its video goes on; without, the same loss stops it. (Chromium
 * counts no ULPFEC in `fecPacketsReceived`, so the frame rate tells.) Chromium's own video to the peer comes in RED, which the peer
 * unwraps: it counts the page's frames.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { redReceived } from '../../src/peer/fec.js';
import type { PeerSession } from '../../src/peer/index.js';
import { useBrowserRig, CONNECTED, launchChromium, openChromiumPage, startIn, waitForStatus, waitForVideo } from '../helpers/browsers.js';
import { until, withTimeout } from '../helpers/deadline.js';
import { Sessions } from './helpers.js';

const rig = useBrowserRig(launchChromium);
const sessions = new Sessions();
afterEach(() => sessions.closeAll());

/** Drops every `nth` packet of the peer's video SSRC (media, RED and FEC alike, not RTX) as it leaves. */
function loseVideo(peer: PeerSession, nth: number): { dropped: () => number } {
  const call = peer.call!;
  const ssrc = call.videoTransceiver!.sender.ssrc;
  const conn = (call.pc.dtlsTransports[0] as unknown as { iceTransport: { connection: { send: (b: Buffer) => Promise<void> } } }).iceTransport.connection;
  const send = conn.send.bind(conn);
  let seen = 0;
  let dropped = 0;
  conn.send = (b: Buffer) => {
    const rtp = b.length >= 12 && (b[0]! & 0xc0) === 0x80 && ((b[1]! & 0x7f) < 72 || (b[1]! & 0x7f) > 79);
    if (rtp && b.readUInt32BE(8) === ssrc && ++seen % nth === 0) {
      dropped++;
      return Promise.resolve();
    }
    return send(b);
  };
  return { dropped: () => dropped };
}

interface Inbound { framesDecoded: number; pliCount: number; fecPacketsReceived: number; at: number }

async function pageVideo(page: Awaited<ReturnType<typeof openChromiumPage>>): Promise<Inbound> {
  return page.eval<Inbound>(`window.__chatzyo.stats().then((all) => { const v = all.find((x) => x.type === 'inbound-rtp' && x.kind === 'video') ?? {}; return { framesDecoded: v.framesDecoded ?? 0, pliCount: v.pliCount ?? 0, fecPacketsReceived: v.fecPacketsReceived ?? 0, at: v.timestamp ?? 0 }; })`);
}

async function lossyCall(fec: 'on' | 'off', name: string): Promise<{ before: Inbound; after: Inbound; dropped: number; peer: PeerSession }> {
  // The peer waits first, so it offers (RED and ULPFEC among its codecs).
  const [peer, rec] = sessions.create({ server: rig.server.url, adapt: true, retransmit: false, fec, encode: { codec: 'vp8', width: 320, height: 240, fps: 15, bitrateKbps: 300 } }, name);
  await withTimeout(peer.start(), 15_000, 'peer start');
  await rec.next('queued', 10_000);
  const page = await openChromiumPage(rig.browser, rig.server.url, `chromium (fec ${fec})`);
  rig.pages.push(page);
  await startIn(page, 'tamil');
  await rec.next('connected', 20_000);
  await waitForStatus(page, CONNECTED, 20_000, 'page connected');
  await waitForVideo(page, 15, 30_000);
  expect(peer.call!.fecPayloadTypes()).not.toBeNull();
  // The peer counts Chromium's video, which comes in RED since both took it.
  await until(() => (peer.call?.videoCounts.frames ?? 0) >= 15 && peer.call?.videoCounts.frameWidth !== null, 15_000, 'the peer reads the page\'s video sent in RED');
  expect(redReceived(peer.call!.pc).media).toBeGreaterThan(15);
  // Its FEC packets are handed on as empty packets: no gap in the sequence numbers.
  expect(peer.call!.videoCounts.lost).toBeLessThanOrEqual(2);
  const loss = loseVideo(peer, 10);
  const before = await pageVideo(page);
  // Five seconds of the lossy call, counted by the packets lost in it (about 45 a second).
  await until(() => loss.dropped() >= 15, 15_000, 'fifteen video packets were lost');
  const after = await pageVideo(page);
  expect(page.errors).toEqual([]);
  return { before, after, dropped: loss.dropped(), peer };
}

describe('FEC for the peer\'s video, decoded by Chromium', () => {
  it('with FEC the page rebuilds every lost packet: its video goes on at full rate without a keyframe request; without FEC the same loss stops it', async () => {
    const fps = (r: { before: Inbound; after: Inbound }) => (r.after.framesDecoded - r.before.framesDecoded) / ((r.after.at - r.before.at) / 1000);
    const on = await lossyCall('on', 'peer (fec on)');
    // Measured: 15.0 fps of 15 sent with one packet in ten lost (no frame lost).
    expect(fps(on)).toBeGreaterThan(12);
    expect(on.after.pliCount - on.before.pliCount).toBe(0);
    await sessions.closeAll();

    const off = await lossyCall('off', 'peer (fec off)');
    // Measured: 1.9 fps; each lost packet, never resent, leaves its frame and those after it undecodable.
    expect(fps(off)).toBeLessThan(fps(on) / 2);
  });
});
