/**
 * ULPFEC in RED on a werift call (the packet format: src/peer/ulpfec.ts).
 *
 * Sending ({@link protectVideo}): werift has no video FEC, so a hook sits where werift hands each
 * finished RTP packet (sequence number, header extensions and all) to its DTLS transport. While
 * protection is on, each video packet goes out in RED and is kept; the media source writes a
 * placeholder after each frame or two ({@link fecSlots}: a padding packet it registered,
 * which took the next sequence number on werift's way), and the hook sends in its place the
 * ULPFEC packet of the packets since the last. Retransmissions and padding stay as they are (a partner takes plain VP8
 * and padding beside RED).
 *
 * Receiving ({@link acceptVideoRed}): a partner that negotiated RED sends all its video in it
 * (libwebrtc and Firefox do), and werift drops video RED. The hook hands werift each RED packet's
 * media as a plain packet, and each FEC packet as an empty one (so the sequence numbers stay
 * whole for NACKs and the recorder). Its FEC is not used to repair: our receivers NACK.
 */
import { codecParametersFromString, RtpHeader, RtpPacket, unwrapRtx, type RTCPeerConnection, type RTCRtpSender } from 'werift';
import { redPayload, redPrimaryBlock, ulpfecPayload, ULPFEC_MAX_PACKETS } from './ulpfec.js';
import type { Disposer } from './werift-seam.js';

/** The payload types of a video stream with FEC: its codec, RED, ULPFEC. */
export interface FecPayloadTypes { media: number; red: number; ulpfec: number }

interface CodecLike { mimeType?: string; name?: string; payloadType?: number; parameters?: string }

const nameOf = (c: CodecLike): string => (c.name ?? c.mimeType?.split('/')[1] ?? '').toLowerCase();

/** The FEC payload types negotiated beside `media`, or null when the partner took no RED or no ULPFEC. */
export function negotiatedFec(codecs: readonly CodecLike[], media: number): FecPayloadTypes | null {
  const red = codecs.find((c) => nameOf(c) === 'red')?.payloadType;
  const ulpfec = codecs.find((c) => nameOf(c) === 'ulpfec')?.payloadType;
  return red !== undefined && ulpfec !== undefined ? { media, red, ulpfec } : null;
}

/** Headers of the placeholders a media source wrote for FEC packets (the hook sends FEC in their place). */
export const fecSlots = new WeakSet<RtpHeader>();
/**
 * What a packet whose header the hook rewrote took on the wire (RTP bytes, before SRTP), for the
 * bandwidth estimate, which otherwise counts the packet werift was handed.
 */
export const wireSizes = new WeakMap<RtpHeader, number>();

/** Counters of a {@link protectVideo}. */
export interface FecCounts {
  /** ULPFEC packets sent. */
  fecPackets: number;
}

interface Protection { pts: FecPayloadTypes; on: boolean; group: Buffer[]; last: number | null; counts: FecCounts }
type SendRtp = (payload: Buffer, header: RtpHeader) => Promise<number>;
interface TransportLike { sendRtp: SendRtp }

const protections = new WeakMap<TransportLike, { byssrc: Map<number, Protection>; unhook: () => void }>();

/**
 * Installs the FEC hook for `sender`'s video on its DTLS transport (once per transport; `stop`
 * of the last protection on it takes the hook off), off until `setOn(true)`. The media source
 * writes the placeholders while it is on (MediaSource.setFec).
 */
export function protectVideo(sender: RTCRtpSender, pts: FecPayloadTypes): { counts: FecCounts; setOn: (on: boolean) => void; stop: Disposer } {
  const transport = sender.dtlsTransport as unknown as TransportLike;
  let table = protections.get(transport);
  if (!table) {
    const byssrc = new Map<number, Protection>();
    const original = transport.sendRtp;
    const hook: SendRtp = function (this: TransportLike, payload, header) {
      const p = byssrc.get(header.ssrc);
      return p ? sendProtected(p, (b, h) => original.call(this, b, h), payload, header) : original.call(this, payload, header);
    };
    transport.sendRtp = hook;
    table = { byssrc, unhook: () => { if (transport.sendRtp === hook) transport.sendRtp = original; protections.delete(transport); } };
    protections.set(transport, table);
  }
  const t = table;
  const counts: FecCounts = { fecPackets: 0 };
  const p: Protection = { pts, on: false, group: [], last: null, counts };
  const ssrc = sender.ssrc;
  t.byssrc.set(ssrc, p);
  return {
    counts,
    setOn: (on) => { p.on = on; if (!on) p.group = []; },
    stop: () => {
      if (t.byssrc.get(ssrc) === p) t.byssrc.delete(ssrc);
      if (t.byssrc.size === 0) t.unhook();
    },
  };
}

function sendProtected(p: Protection, send: SendRtp, payload: Buffer, header: RtpHeader): Promise<number> {
  if (fecSlots.has(header)) {
    if (!p.on || p.group.length === 0) return send(payload, header); // goes as the padding it is
    const fec = redPayload(p.pts.ulpfec, ulpfecPayload(p.group));
    p.group = [];
    const h = new RtpHeader({ ...header, payloadType: p.pts.red, marker: false, padding: false, paddingSize: 0 });
    wireSizes.set(header, h.serializeSize + fec.length);
    p.counts.fecPackets++;
    return send(fec, h);
  }
  if (!p.on || header.payloadType !== p.pts.media || header.padding || payload.length === 0) return send(payload, header);
  const seq = header.sequenceNumber;
  // A sequence number not after the last protected one is a retransmission (nack-limiter.ts
  // without RTX): it goes plain, and no FEC packet counts it.
  if (p.last !== null) {
    const ahead = (seq - p.last) & 0xffff;
    if (ahead === 0 || ahead >= 0x8000) return send(payload, header);
  }
  p.last = seq;
  if (p.group.length > 0 && ((seq - p.group[0]!.readUInt16BE(2)) & 0xffff) >= ULPFEC_MAX_PACKETS) p.group = [];
  p.group.push(new RtpPacket(header, payload).serialize());
  const h = new RtpHeader({ ...header, payloadType: p.pts.red });
  const red = redPayload(p.pts.media, payload);
  wireSizes.set(header, h.serializeSize + red.length);
  return send(red, h);
}

interface WeriftReceiverInternals {
  codecs: Record<number, CodecLike>;
  ssrcByRtx: Record<number, number>;
  handleRTP: (packet: RtpPacket, extensions: unknown, track: unknown) => void;
  trackBySSRC: Record<number, unknown>;
}

/** RED packets the video receivers of a call took ({@link acceptVideoRed}): media blocks, and FEC (or unknown) blocks. */
export interface RedCounts { media: number; fec: number }
const redCounts = new WeakMap<RTCPeerConnection, RedCounts>();
/** What {@link acceptVideoRed} took on `pc` so far. */
export function redReceived(pc: RTCPeerConnection): RedCounts { return { ...(redCounts.get(pc) ?? { media: 0, fec: 0 }) }; }

interface ReceiverTypes { red: number | undefined; redRtx: number | undefined; media: Set<number> }

/** The RED, RTX-of-RED and media (a codec, not RED, ULPFEC or RTX) payload types `r` negotiated. */
function payloadTypesOf(r: WeriftReceiverInternals): ReceiverTypes {
  const all = Object.values(r.codecs);
  const red = all.find((c) => nameOf(c) === 'red')?.payloadType;
  const redRtx = red === undefined ? undefined : all.find((c) => nameOf(c) === 'rtx' && Number(codecParametersFromString(c.parameters ?? '').apt) === red)?.payloadType;
  const media = new Set(all.filter((c) => !['red', 'ulpfec', 'rtx'].includes(nameOf(c))).map((c) => c.payloadType).filter((x): x is number => x !== undefined));
  return { red, redRtx, media };
}

/** Each hooked receiver's payload types, read again after every remote description ({@link acceptVideoRed}). */
const receiverTypes = new WeakMap<object, ReceiverTypes>();

/**
 * Makes the video receivers of `pc` take RED: each RED packet's primary block is handed on as a
 * plain packet of its payload type, an FEC block (or one of a type not negotiated) as an empty
 * packet of the media's type, and a retransmission of a RED packet (RTX whose apt is RED) the
 * same way after unwrapping it. Once per receiver (`seen`); call it after every remote
 * description, which may change the payload types (the hook reads them, worked out here, for
 * every packet received).
 */
export function acceptVideoRed(pc: RTCPeerConnection, seen: WeakSet<object>): Disposer[] {
  const disposers: Disposer[] = [];
  let counts = redCounts.get(pc);
  if (!counts) { counts = { media: 0, fec: 0 }; redCounts.set(pc, counts); }
  const c = counts;
  for (const t of pc.getTransceivers()) {
    if (t.kind !== 'video') continue;
    const r = t.receiver as unknown as WeriftReceiverInternals;
    receiverTypes.set(r, payloadTypesOf(r));
    if (seen.has(r)) continue;
    seen.add(r);
    const original = r.handleRTP;
    r.handleRTP = function (packet: RtpPacket, extensions: unknown, track: unknown) {
      const types = receiverTypes.get(r);
      if (types?.red === undefined) return original.call(this, packet, extensions, track);
      const { red, redRtx, media } = types;
      let pkt = packet;
      let trk = track;
      if (pkt.header.payloadType === redRtx && pkt.payload.length >= 2) {
        const originalSsrc = r.ssrcByRtx[pkt.header.ssrc];
        if (originalSsrc !== undefined) {
          pkt = unwrapRtx(pkt, red, originalSsrc);
          trk = r.trackBySSRC[originalSsrc] ?? track;
        }
      }
      if (pkt.header.payloadType === red) {
        const block = redPrimaryBlock(pkt.payload);
        const plain = block !== null && media.has(block.payloadType);
        const pt = plain ? block.payloadType : media.values().next().value;
        if (pt === undefined) return;
        if (plain) c.media++;
        else c.fec++;
        const h = new RtpHeader({ ...pkt.header, payloadType: pt, ...(plain ? {} : { marker: false }), padding: false, paddingSize: 0 });
        pkt = new RtpPacket(h, plain ? block.block : Buffer.alloc(0));
      }
      return original.call(this, pkt, extensions, trk);
    };
    disposers.push(() => { r.handleRTP = original; });
  }
  return disposers;
}
