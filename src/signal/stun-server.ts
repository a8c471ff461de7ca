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
import { errorForLog } from './log-safe.js';

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
/** Suffix of the key of the IPv4 socket that serves beside a udp6 socket bound to `::`. */
const V4_HALF = '/4';

/** A running STUN responder. */
export class StunServer {
  readonly #sockets = new Map<string, dgram.Socket>();
  #primary!: { address: string; port: number };
  #alt: { address?: string; port?: number } = {};
  #closed = false;
  /** Requests answered (for tests and metrics). */
  answered = 0;
  /** Datagrams that failed while being answered (logged, never thrown). */
  dropped = 0;

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

  /**
   * Binds `key`. The IPv6 unspecified address `::` means every address of both families: but
   * whether a udp6 socket on it also takes IPv4 is the OS's choice (Linux's
   * net.ipv6.bindv6only; some BSDs never do), so there the IPv4 half gets its own udp4 socket
   * on the same port, and an IPv4 client is answered from it with an IPv4 XOR-MAPPED-ADDRESS.
   */
  async #bind(address: string, port: number, key: string): Promise<number> {
    if (address !== '::') return this.#bindOne(unmapAddress(address).family === 6 ? 'udp6' : 'udp4', address, port, key);
    for (let attempt = 0; ; attempt++) {
      const p = await this.#bindOne('udp6', '::', port, key, true);
      try {
        await this.#bindOne('udp4', '0.0.0.0', p, `${key}${V4_HALF}`, false, key);
        return p;
      } catch (err) {
        // A free port picked for IPv6 may be taken for IPv4: with port 0, pick another.
        await this.#unbind(key);
        await this.#unbind(`${key}${V4_HALF}`);
        if (port !== 0 || attempt >= 4 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  #bindOne(type: 'udp4' | 'udp6', address: string, port: number, key: string, ipv6Only = false, messageKey = key): Promise<number> {
    const sock = dgram.createSocket({ type, reuseAddr: false, ipv6Only });
    this.#sockets.set(key, sock);
    sock.on('message', (buf, rinfo) => this.#onMessage(messageKey, buf, rinfo));
    return new Promise((resolve, reject) => {
      // A failed bind is the caller's to report (a busy port becomes CHZ_ERR_PORT_IN_USE), not a log line.
      sock.once('error', reject);
      sock.bind(port, address, () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.#logError(`stun socket ${key} error`, err));
        resolve(sock.address().port);
      });
    });
  }

  #unbind(key: string): Promise<void> {
    const sock = this.#sockets.get(key);
    this.#sockets.delete(key);
    return new Promise((resolve) => {
      try {
        if (sock) sock.close(() => resolve());
        else resolve();
      } catch { resolve(); }
    });
  }

  #addressOf(key: string): StunAddress {
    const ip = key.startsWith('A1') ? this.#primary.address : this.#alt.address!;
    const port = key.endsWith('P1') ? this.#primary.port : this.#alt.port!;
    return { address: ip, port, family: unmapAddress(ip).family };
  }

  #onMessage(key: string, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    // A datagram's source can be forged, so nothing it carries may throw out of this listener:
    // a throw here is an uncaught exception that ends `chatzyo serve`.
    try {
      this.#answer(key, buf, rinfo);
    } catch (err) {
      this.dropped++;
      this.#logError('stun request dropped', err);
    }
  }

  #lastLogAt = 0;
  #unlogged = 0;

  /**
   * Logs an error by code and message only (a send error can name the destination address),
   * at most once a second: forged sources can make every answer fail.
   */
  #logError(msg: string, err: unknown): void {
    const now = Date.now();
    if (now - this.#lastLogAt < 1000) { this.#unlogged++; return; }
    this.#lastLogAt = now;
    const suppressed = this.#unlogged;
    this.#unlogged = 0;
    this.opts.log?.warn({ ...errorForLog(err), ...(suppressed ? { suppressed } : {}) }, msg);
  }

  /** True when the server was given a second port (and maybe address): RFC 5780 mode. */
  get #rfc5780(): boolean { return this.#alt.port !== undefined; }

  #answer(key: string, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed || !isStun(buf)) return;
    let req: StunMessage;
    try {
      req = decodeStun(buf);
    } catch {
      return; // Malformed datagrams are dropped silently (RFC 8489 section 6.3).
    }
    if (req.type !== StunType.BindingRequest) return;
    if (!isValidPort(rinfo.port)) return; // Nothing to answer to.
    const from = unmapAddress(rinfo.address);
    const client: StunAddress = { address: from.address, port: rinfo.port, family: from.family };
    // Comprehension-required attributes we do not know get 420 (RFC 8489 section 6.3.1.1).
    // CHANGE-REQUEST and RESPONSE-PORT are known only in RFC 5780 mode: a server that is not
    // configured for behaviour discovery must answer them with 420 (RFC 5780 sections 7.2, 7.5).
    const known = new Set<number>([Attr.Padding, Attr.Username, Attr.MessageIntegrity, Attr.Fingerprint, Attr.Software]);
    if (this.#rfc5780) { known.add(Attr.ChangeRequest); known.add(Attr.ResponsePort); }
    const unknown = [...new Set(req.attributes.filter((a) => a.type < 0x8000 && !known.has(a.type)).map((a) => a.type))];
    let sendKey = key;
    let toPort = rinfo.port;
    let bad: string | null = null;
    if (!unknown.length && this.#rfc5780) {
      const change = getAttr(req, Attr.ChangeRequest);
      if (change) {
        if (change.length !== 4) bad = 'CHANGE-REQUEST must be 4 bytes';
        else {
          const flags = change.readUInt32BE(0);
          const wantIp = (flags & CHANGE_IP) !== 0;
          const wantPort = (flags & CHANGE_PORT) !== 0;
          // Asked to change an address we do not have: RFC 5780 section 7.2 says 420.
          if (wantIp && !this.#alt.address) unknown.push(Attr.ChangeRequest);
          else {
            const a = wantIp ? (key[1] === '1' ? '2' : '1') : key[1];
            const p = wantPort ? (key[3] === '1' ? '2' : '1') : key[3];
            sendKey = `A${a}P${p}`;
          }
        }
      }
      const responsePort = getAttr(req, Attr.ResponsePort);
      if (responsePort && !bad) {
        // RFC 5780 section 7.5: a 16-bit port followed by 2 bytes of padding.
        if (responsePort.length !== 4) bad = 'RESPONSE-PORT must be 4 bytes';
        else {
          const port = responsePort.readUInt16BE(0);
          if (!isValidPort(port)) bad = 'RESPONSE-PORT must be 1-65535';
          else toPort = port;
        }
      }
    }

    let res: Buffer;
    if (unknown.length || bad) {
      const attributes: StunMessage['attributes'] = [];
      if (unknown.length) {
        const ua = Buffer.alloc(unknown.length * 2);
        unknown.forEach((t, i) => ua.writeUInt16BE(t, i * 2));
        attributes.push({ type: Attr.ErrorCode, value: encodeErrorCode(420, 'Unknown Attribute') }, { type: Attr.UnknownAttributes, value: ua });
      } else {
        attributes.push({ type: Attr.ErrorCode, value: encodeErrorCode(400, `Bad Request: ${bad}`) });
      }
      attributes.push({ type: Attr.Software, value: SOFTWARE });
      res = encodeStun({ type: StunType.BindingError, transactionId: req.transactionId, attributes }, { fingerprint: true });
      sendKey = key;
      toPort = rinfo.port;
    } else {
      const attributes: StunMessage['attributes'] = [
        { type: Attr.XorMappedAddress, value: encodeXorAddress(client, req.transactionId) },
        { type: Attr.MappedAddress, value: encodeAddress(client) },
      ];
      if (this.#rfc5780) {
        const origin = this.#addressOf(sendKey);
        attributes.push({ type: Attr.ResponseOrigin, value: encodeAddress(origin) });
        const other = { address: this.#alt.address ?? this.#primary.address, port: this.#alt.port! };
        attributes.push({ type: Attr.OtherAddress, value: encodeAddress({ ...other, family: unmapAddress(other.address).family }) });
      }
      attributes.push({ type: Attr.Software, value: SOFTWARE });
      res = encodeStun({ type: StunType.BindingSuccess, transactionId: req.transactionId, attributes }, { fingerprint: true });
    }
    // Bound to `::`: an IPv4 client is answered from the IPv4 half.
    const sock = (client.family === 4 ? this.#sockets.get(`${sendKey}${V4_HALF}`) : undefined) ?? this.#sockets.get(sendKey);
    if (!sock) return;
    this.answered++;
    // dgram.send throws synchronously for a bad port or a closed socket, and reports network
    // errors (EHOSTUNREACH, EPERM from a firewall) to the callback: both stay here.
    sock.send(res, toPort, rinfo.address, (err) => { if (err) this.#logError('stun send failed', err); });
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

function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}
