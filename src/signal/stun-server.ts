/**
 * The built-in STUN responder: RFC 8489 Binding over UDP, plus the RFC 5780 behaviour-discovery
 * extensions (CHANGE-REQUEST, RESPONSE-PORT, OTHER-ADDRESS, RESPONSE-ORIGIN) when it is given a
 * second address and/or port.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import {
  Attr, CHANGE_IP, CHANGE_PORT, StunType, decodeStun, encodeAddress, encodeErrorCode, encodeStun, encodeXorAddress,
  getAttr, isStun, unmapAddress, type StunAddress, type StunMessage,
} from '../stun/message.js';

/** Settings of the STUN responder. */
export interface StunServerOptions {
  /** Primary address to bind (a specific address is needed for RFC 5780). */
  address: string;
  /** Primary port; 0 picks a free one. */
  port: number;
  /** Second IP address for CHANGE-REQUEST "change IP" (RFC 5780). */
  altAddress?: string;
  /** Second port for "change port"; 0 picks a free one. Defaults to none unless altAddress is set. */
  altPort?: number;
  log?: Logger;
}

const SOFTWARE = Buffer.from('chatzyo');

/** A running STUN responder. */
export class StunServer {
  readonly #sockets = new Map<string, dgram.Socket>();
  #primary!: { address: string; port: number };
  #alt: { address?: string; port?: number } = {};
  #closed = false;
  /** Requests answered (for tests and metrics). */
  answered = 0;

  private constructor(private readonly opts: StunServerOptions) {}

  /** Binds every socket and starts answering. */
  static async start(opts: StunServerOptions): Promise<StunServer> {
    const s = new StunServer(opts);
    try {
      await s.#bindAll();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** The primary port actually bound. */
  get port(): number { return this.#primary.port; }
  /** The alternate port, when RFC 5780 port changes are supported. */
  get altPort(): number | undefined { return this.#alt.port; }

  async #bindAll(): Promise<void> {
    const { address, port, altAddress } = this.opts;
    const p1 = await this.#bind(address, port, 'A1P1');
    this.#primary = { address, port: p1 };
    let p2: number | undefined;
    if (this.opts.altPort !== undefined || altAddress) {
      p2 = await this.#bind(address, this.opts.altPort ?? 0, 'A1P2');
    }
    if (altAddress) {
      await this.#bind(altAddress, p1, 'A2P1');
      await this.#bind(altAddress, p2!, 'A2P2');
    }
    this.#alt = { address: altAddress, port: p2 };
  }

  #bind(address: string, port: number, key: string): Promise<number> {
    const family = unmapAddress(address).family;
    const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    this.#sockets.set(key, sock);
    sock.on('message', (buf, rinfo) => this.#onMessage(key, buf, rinfo));
    sock.on('error', (err) => this.opts.log?.warn({ err, socket: key }, 'stun socket error'));
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, address, () => {
        sock.off('error', reject);
        resolve(sock.address().port);
      });
    });
  }

  #addressOf(key: string): StunAddress {
    const ip = key.startsWith('A1') ? this.#primary.address : this.#alt.address!;
    const port = key.endsWith('P1') ? this.#primary.port : this.#alt.port!;
    return { address: ip, port, family: unmapAddress(ip).family };
  }

  #onMessage(key: string, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed || !isStun(buf)) return;
    let req: StunMessage;
    try {
      req = decodeStun(buf);
    } catch {
      return; // Malformed datagrams are dropped silently (RFC 8489 section 6.3).
    }
    if (req.type !== StunType.BindingRequest) return;
    const from = unmapAddress(rinfo.address);
    const client: StunAddress = { address: from.address, port: rinfo.port, family: from.family };
    // Comprehension-required attributes we do not know get 420 (RFC 8489 section 6.3.1.1).
    const known = new Set<number>([Attr.ChangeRequest, Attr.ResponsePort, Attr.Padding, Attr.Username, Attr.MessageIntegrity, Attr.Fingerprint, Attr.Software]);
    const unknown = req.attributes.filter((a) => a.type < 0x8000 && !known.has(a.type)).map((a) => a.type);
    let sendKey = key;
    const change = getAttr(req, Attr.ChangeRequest);
    if (change && change.length === 4) {
      const flags = change.readUInt32BE(0);
      const wantIp = (flags & CHANGE_IP) !== 0;
      const wantPort = (flags & CHANGE_PORT) !== 0;
      if ((wantIp && !this.#alt.address) || (wantPort && this.#alt.port === undefined)) {
        unknown.push(Attr.ChangeRequest);
      } else {
        const a = wantIp ? (key[1] === '1' ? '2' : '1') : key[1];
        const p = wantPort ? (key[3] === '1' ? '2' : '1') : key[3];
        sendKey = `A${a}P${p}`;
      }
    }
    let toPort = rinfo.port;
    const responsePort = getAttr(req, Attr.ResponsePort);
    if (responsePort && responsePort.length >= 2) toPort = responsePort.readUInt16BE(0);

    let res: Buffer;
    if (unknown.length) {
      const ua = Buffer.alloc(unknown.length * 2);
      unknown.forEach((t, i) => ua.writeUInt16BE(t, i * 2));
      res = encodeStun({
        type: StunType.BindingError, transactionId: req.transactionId,
        attributes: [{ type: Attr.ErrorCode, value: encodeErrorCode(420, 'Unknown Attribute') }, { type: Attr.UnknownAttributes, value: ua }, { type: Attr.Software, value: SOFTWARE }],
      }, { fingerprint: true });
      sendKey = key;
      toPort = rinfo.port;
    } else {
      const attributes: StunMessage["attributes"] = [
        { type: Attr.XorMappedAddress, value: encodeXorAddress(client, req.transactionId) },
        { type: Attr.MappedAddress, value: encodeAddress(client) },
      ];
      if (this.#alt.port !== undefined) {
        const origin = this.#addressOf(sendKey);
        attributes.push({ type: Attr.ResponseOrigin, value: encodeAddress(origin) });
        const other = { address: this.#alt.address ?? this.#primary.address, port: this.#alt.port };
        attributes.push({ type: Attr.OtherAddress, value: encodeAddress({ ...other, family: unmapAddress(other.address).family }) });
      }
      attributes.push({ type: Attr.Software, value: SOFTWARE });
      res = encodeStun({ type: StunType.BindingSuccess, transactionId: req.transactionId, attributes }, { fingerprint: true });
    }
    const sock = this.#sockets.get(sendKey)!;
    this.answered++;
    sock.send(res, toPort, rinfo.address);
  }

  /** Closes every socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#sockets.values()].map((s) => new Promise<void>((resolve) => {
      try { s.close(() => resolve()); } catch { resolve(); }
    })));
  }
}
