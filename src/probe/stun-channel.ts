/**
 * One STUN/TURN control connection over UDP, TCP or TLS: request/response matching by
 * transaction id, indications, and the framing each transport needs. Over UDP requests are
 * retransmitted (RFC 8489 section 6.2.1); over TCP and TLS a STUN message is self-delimiting by
 * its length field and nothing is retransmitted (RFC 8489 section 6.2.2). ChannelData framing
 * is never used: the probe only sends Send indications.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { transact } from '../stun/client.js';
import { decodeStun, isStun, type StunMessage } from '../stun/message.js';
import type { TurnTransport } from './ice-url.js';
import { ProbeCheckError } from './errors.js';
import type { Endpoint } from './report.js';

/** How to open a {@link StunChannel}. */
export interface StunChannelOptions {
  transport: TurnTransport;
  /** A resolved IP address. */
  address: string;
  port: number;
  /** TLS server name (SNI and certificate check); the host name of the URL. */
  servername?: string;
  /** Extra CA certificates to trust for TLS (tests, private CAs). */
  ca?: string | Buffer | (string | Buffer)[];
  connectTimeoutMs: number;
}

/** A STUN/TURN control connection. */
export class StunChannel {
  readonly transport: TurnTransport;
  #udp: dgram.Socket | null = null;
  #stream: net.Socket | null = null;
  #buf: Buffer = Buffer.alloc(0);
  readonly #pending = new Map<string, (m: StunMessage) => void>();
  #onOther: (m: StunMessage) => void = () => {};
  #closed = false;
  #lostWhy: string | null = null;

  private constructor(private readonly opts: StunChannelOptions) {
    this.transport = opts.transport;
  }

  /**
   * Opens the channel. TCP failures reject with CHZ_ERR_TURN_UNREACHABLE; TLS handshake and
   * certificate failures with CHZ_ERR_TURN_TLS.
   */
  static async open(opts: StunChannelOptions): Promise<StunChannel> {
    const ch = new StunChannel(opts);
    if (opts.transport === 'udp') {
      const sock = dgram.createSocket(net.isIPv6(opts.address) ? 'udp6' : 'udp4');
      sock.on('error', () => { /* shows up as timeouts */ });
      await new Promise<void>((resolve) => sock.bind(0, () => resolve()));
      sock.on('message', (buf) => ch.#onDatagram(buf));
      ch.#udp = sock;
      return ch;
    }
    ch.#stream = await ch.#connectStream();
    return ch;
  }

  #connectStream(): Promise<net.Socket> {
    const o = this.opts;
    const where = `${o.address}:${o.port}`;
    return new Promise((resolve, reject) => {
      let done = false;
      const fail = (err: ProbeCheckError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      const isTls = o.transport === 'tls';
      const sock: net.Socket = isTls
        ? tls.connect({
          host: o.address, port: o.port, ca: o.ca ? [...tls.rootCertificates, ...(Array.isArray(o.ca) ? o.ca : [o.ca])] : undefined,
          // SNI carries names only (RFC 6066 section 3); an IP literal is checked against the certificate's IP SANs.
          servername: o.servername && !net.isIP(o.servername) ? o.servername : undefined,
          checkServerIdentity: (_host, cert) => tls.checkServerIdentity(o.servername ?? o.address, cert),
        })
        : net.connect({ host: o.address, port: o.port });
      const timer = setTimeout(() => fail(new ProbeCheckError('CHZ_ERR_TURN_UNREACHABLE', `no ${o.transport.toUpperCase()} connection to ${where} within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
      // Once TCP is up, a TLS socket's errors are handshake or certificate errors.
      let tcpUp = false;
      sock.once('connect', () => { tcpUp = true; });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? '';
        const tlsProblem = isTls && (tcpUp || /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code));
        fail(tlsProblem
          ? new ProbeCheckError('CHZ_ERR_TURN_TLS', `TLS with ${o.servername ?? where} failed: ${err.message}`)
          : new ProbeCheckError('CHZ_ERR_TURN_UNREACHABLE', `cannot connect over ${o.transport.toUpperCase()} to ${where}: ${code || err.message}`));
      });
      sock.once(isTls ? 'secureConnect' : 'connect', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.setNoDelay(true);
        sock.on('error', (err) => { this.#lostWhy = err.message; });
        sock.on('close', () => { this.#lostWhy ??= 'connection closed by the server'; });
        sock.on('data', (d: Buffer) => this.#onStreamData(d));
        resolve(sock);
      });
    });
  }

  /** The local end of the control connection. */
  get local(): Endpoint | null {
    const a = this.#udp?.address() ?? (this.#stream ? { address: this.#stream.localAddress ?? '', port: this.#stream.localPort ?? 0 } : null);
    return a ? { address: a.address, port: a.port } : null;
  }

  /** Called for every message that is not the response to a pending request (Data indications). */
  onMessage(handler: (m: StunMessage) => void): void {
    this.#onOther = handler;
  }

  #onDatagram(buf: Buffer): void {
    if (!isStun(buf)) return;
    try { this.#deliver(decodeStun(buf)); } catch { /* malformed: ignore */ }
  }

  #onStreamData(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    while (this.#buf.length >= 4) {
      const first = this.#buf[0]!;
      let total: number;
      if ((first & 0xc0) === 0x40) {
        // ChannelData (RFC 8656 section 12.5): padded to 4 bytes over streams. Not ours: skip it.
        total = 4 + this.#buf.readUInt16BE(2);
        total += (4 - (total % 4)) % 4;
      } else {
        if (this.#buf.length < 20) return;
        total = 20 + this.#buf.readUInt16BE(2);
      }
      if (this.#buf.length < total) return;
      const frame = this.#buf.subarray(0, total);
      this.#buf = this.#buf.subarray(total);
      if ((first & 0xc0) === 0 && isStun(frame)) {
        try { this.#deliver(decodeStun(Buffer.from(frame))); } catch { /* malformed: ignore */ }
      }
    }
  }

  #deliver(m: StunMessage): void {
    const key = m.transactionId.toString('hex');
    const waiter = this.#pending.get(key);
    if (waiter) {
      this.#pending.delete(key);
      waiter(m);
      return;
    }
    // Only indications (class bits 01, RFC 8489 section 5) are unsolicited; a late duplicate response is dropped.
    if ((m.type & 0x0110) === 0x0010) this.#onOther(m);
  }

  /**
   * Sends a request and resolves with the response carrying its transaction id; rejects with
   * CHZ_ERR_STUN_TIMEOUT after `timeoutMs`, or CHZ_ERR_TURN_UNREACHABLE when the stream is gone.
   */
  async request(raw: Buffer, timeoutMs: number): Promise<{ response: StunMessage; rttMs: number }> {
    if (this.#closed) throw new ProbeCheckError('CHZ_ERR_PROBE_INTERNAL', 'channel closed');
    const o = this.opts;
    if (this.#udp) {
      // transact() installs its own listener; our own #onDatagram also sees the response, finds no waiter and ignores it.
      const tidKey = raw.subarray(8, 20).toString('hex');
      this.#pending.set(tidKey, () => {});
      try {
        const r = await transact(this.#udp, raw, o.address, o.port, timeoutMs);
        return { response: r.response, rttMs: r.rttMs };
      } finally {
        this.#pending.delete(tidKey);
      }
    }
    const stream = this.#stream!;
    if (this.#lostWhy || stream.destroyed) throw new ProbeCheckError('CHZ_ERR_TURN_UNREACHABLE', `the ${o.transport.toUpperCase()} connection dropped: ${this.#lostWhy ?? 'closed'}`);
    const started = performance.now();
    const key = raw.subarray(8, 20).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        reject(new ProbeCheckError('CHZ_ERR_STUN_TIMEOUT', `no answer over ${o.transport.toUpperCase()} from ${o.address}:${o.port} within ${timeoutMs} ms${this.#lostWhy ? ` (${this.#lostWhy})` : ''}`));
      }, timeoutMs);
      this.#pending.set(key, (response) => {
        clearTimeout(timer);
        resolve({ response, rttMs: performance.now() - started });
      });
      stream.write(raw);
    });
  }

  /** Sends a message that expects no response (an indication). */
  indicate(raw: Buffer): void {
    if (this.#closed) return;
    if (this.#udp) this.#udp.send(raw, this.opts.port, this.opts.address, () => { /* loss is loss */ });
    else if (this.#stream && !this.#stream.destroyed) this.#stream.write(raw);
  }

  /** Closes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending.clear();
    try { this.#udp?.close(); } catch { /* already closed */ }
    this.#stream?.destroy();
  }
}
