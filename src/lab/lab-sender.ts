/**
 * The lab's CLI sender: a werift PeerSession sending the stamped test video (src/peer/
 * stamped-frames.ts) and a sine, relay-only, its TURN rewritten to a lab relay. The call-quality
 * measurements (src/lab/call-quality.ts, test/helpers/browser-call-quality.ts) and the sender
 * process (src/lab/sender-main.ts) all send with these options.
 */
import type { IceServer } from '../protocol/index.js';
import type { PeerSessionOptions, VideoEncodeOptions } from '../peer/index.js';

/** What differs between the lab's senders. */
export interface LabSenderSpec {
  server: string;
  hub: string;
  /** Follow the bandwidth estimate with the ladder (default true). */
  adapt?: boolean;
  /** Answer NACKs (default true). */
  retransmit?: boolean;
  /** FEC for the video (PeerSession `fec`, default auto). */
  fec?: 'auto' | 'on' | 'off';
  encode?: Partial<VideoEncodeOptions>;
  ffmpegPath?: string;
}

/** The PeerSession options of a lab sender behind the relay that `mapIceServers` points TURN at. */
export function labSenderOptions(o: LabSenderSpec, mapIceServers: (servers: IceServer[]) => IceServer[]): PeerSessionOptions {
  return {
    server: o.server, target: { kind: 'hub', hub: o.hub }, video: { type: 'stamped' }, audio: { type: 'sine' }, ...(o.encode ? { encode: o.encode } : {}),
    adapt: o.adapt !== false, retransmit: o.retransmit !== false, ...(o.fec ? { fec: o.fec } : {}), relayOnly: true, mapIceServers, ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
  };
}
