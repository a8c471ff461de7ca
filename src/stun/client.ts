/**
 * STUN and TURN client transactions over UDP (RFC 8489 Binding, RFC 8656 Allocate with the
 * long-term credential mechanism). Used by `chatzyo probe` and the tests.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import {
  Attr, StunType, decodeErrorCode, decodeStun, decodeXorAddress, decodeAddress, encodeStun, getAttr, isStun, longTermKey,
  newTransactionId, type StunAddress, type StunMessage,
} from './message.js';

/** A STUN/TURN failure with a stable code. */
export class StunClientError extends Error {
  override readonly name = 'StunClientError';
  constructor(readonly code: 'CHZ_ERR_STUN_TIMEOUT' | 'CHZ_ERR_TURN_AUTH' | 'CHZ_ERR_TURN_REJECTED' | 'CHZ_ERR_STUN_ERROR', message: string, readonly stunCode?: number) {
    super(message);
  }
}

/**
 * Resolves a host name to an address for UDP: IPv4 first, but only an address this host has
 * a route to (on an IPv6-only network a name with an A and an AAAA record resolves to the
 * AAAA one). With no routable address, the first one (the send then says why).
 */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  const all = await lookup(host, { all: true });
  const ordered = [...all.filter((a) => a.family === 4), ...all.filter((a) => a.family !== 4)];
  for (const a of ordered) if (await hasRoute(a.address)) return a.address;
  if (!ordered.length) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
  return ordered[0]!.address;
}

/**
 * True when the kernel has a route to `address`: connecting a UDP socket looks the route up
 * and sends nothing (ENETUNREACH when there is none).
 */
export async function hasRoute(address: string): Promise<boolean> {
  const sock = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  sock.on('error', () => { /* a failed connect goes to its callback */ });
  try {
    return await new Promise<boolean>((resolve) => {
      // Port 9 (discard): connect() only picks a route and a source address. Node hands a
      // failed connect to the callback (typed without the argument).
      const done = ((err?: Error) => resolve(!err)) as () => void;
      sock.connect(9, address, done);
    });
  } finally {
    try { sock.close(); } catch { /* closed */ }
  }
}

/**
 * Sends one request and waits for the response with the same transaction id, retransmitting
 * with doubling intervals (RFC 8489 section 6.2.1) until `timeoutMs`.
 */
export function transact(socket: dgram.Socket, request: Buffer, host: string, port: number, timeoutMs = 2000, firstRtoMs = 100):
  Promise<{ response: StunMessage; raw: Buffer; from: dgram.RemoteInfo; rttMs: number }> {
  const tid = request.subarray(8, 20);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let rto = firstRtoMs;
    let timer: NodeJS.Timeout;
    const deadline = setTimeout(() => finish(new StunClientError('CHZ_ERR_STUN_TIMEOUT', `no STUN response from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (buf: Buffer, from: dgram.RemoteInfo) => {
      if (!isStun(buf) || !buf.subarray(8, 20).equals(tid)) return;
      try {
        finish(null, { response: decodeStun(buf), raw: buf, from, rttMs: performance.now() - started });
      } catch { /* malformed: keep waiting */ }
    };
    const finish = (err: Error | null, value?: { response: StunMessage; raw: Buffer; from: dgram.RemoteInfo; rttMs: number }) => {
      clearTimeout(deadline);
      clearTimeout(timer);
      socket.off('message', onMessage);
      if (err) reject(err); else resolve(value!);
    };
    const send = () => {
      socket.send(request, port, host, () => { /* send errors show up as a timeout */ });
      timer = setTimeout(send, rto);
      rto *= 2;
    };
    socket.on('message', onMessage);
    send();
  });
}

/** Result of a Binding transaction. */
export interface BindingResult {
  mapped: StunAddress;
  responseOrigin?: StunAddress;
  otherAddress?: StunAddress;
  from: { address: string; port: number };
  rttMs: number;
}

/** Sends a Binding request (optionally with CHANGE-REQUEST flags) from `socket`. */
export async function stunBinding(socket: dgram.Socket, host: string, port: number, opts: { change?: number; timeoutMs?: number } = {}): Promise<BindingResult> {
  const transactionId = newTransactionId();
  const attributes: StunMessage['attributes'] = [];
  if (opts.change !== undefined) {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(opts.change, 0);
    attributes.push({ type: Attr.ChangeRequest, value: v });
  }
  const req = encodeStun({ type: StunType.BindingRequest, transactionId, attributes }, { fingerprint: true });
  const { response, from, rttMs } = await transact(socket, req, host, port, opts.timeoutMs ?? 2000);
  if (response.type !== StunType.BindingSuccess) {
    const ec = getAttr(response, Attr.ErrorCode);
    const e = ec ? decodeErrorCode(ec) : { code: 0, reason: 'unknown' };
    throw new StunClientError('CHZ_ERR_STUN_ERROR', `STUN error ${e.code} ${e.reason}`, e.code);
  }
  const xor = getAttr(response, Attr.XorMappedAddress);
  const plain = getAttr(response, Attr.MappedAddress);
  if (!xor && !plain) throw new StunClientError('CHZ_ERR_STUN_ERROR', 'Binding response without a mapped address');
  const ro = getAttr(response, Attr.ResponseOrigin);
  const oa = getAttr(response, Attr.OtherAddress);
  return {
    mapped: xor ? decodeXorAddress(xor, transactionId) : decodeAddress(plain!),
    responseOrigin: ro ? decodeAddress(ro) : undefined,
    otherAddress: oa ? decodeAddress(oa) : undefined,
    from: { address: from.address, port: from.port },
    rttMs,
  };
}

/** Result of a TURN allocation. */
export interface AllocationResult {
  relayed: StunAddress;
  mapped?: StunAddress;
  lifetimeSeconds: number;
  rttMs: number;
}

/**
 * Allocates a UDP relay on a TURN server (RFC 8656 section 7) with long-term credentials,
 * then releases it (Refresh with LIFETIME 0). Bad credentials give CHZ_ERR_TURN_AUTH;
 * no answer gives CHZ_ERR_STUN_TIMEOUT.
 */
export async function turnAllocate(host: string, port: number, username: string, password: string, opts: { timeoutMs?: number; keep?: boolean } = {}): Promise<AllocationResult & { socket?: dgram.Socket }> {
  const address = await resolveHost(host);
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  socket.on('error', () => { /* reported through timeouts */ });
  await new Promise<void>((r) => socket.bind(0, () => r()));
  const timeoutMs = opts.timeoutMs ?? 3000;
  const transport = Buffer.from([17, 0, 0, 0]); // UDP
  const started = performance.now();
  try {
    const first = await transact(socket, encodeStun({ type: StunType.AllocateRequest, transactionId: newTransactionId(), attributes: [{ type: Attr.RequestedTransport, value: transport }] }, { fingerprint: true }), address, port, timeoutMs);
    let response = first.response;
    let key: Buffer | undefined;
    let realm = '';
    let nonce: Buffer | undefined;
    for (let attempt = 0; attempt < 3 && response.type === StunType.AllocateError; attempt++) {
      const ec = errorCodeOf(response);
      if (ec.code !== 401 && ec.code !== 438) throw new StunClientError('CHZ_ERR_TURN_REJECTED', `TURN Allocate refused: ${ec.code} ${ec.reason}`, ec.code);
      if (ec.code === 401 && key) throw new StunClientError('CHZ_ERR_TURN_AUTH', `TURN server rejected the credentials (401 ${ec.reason})`, 401);
      realm = getAttr(response, Attr.Realm)?.toString('utf8') ?? realm;
      nonce = getAttr(response, Attr.Nonce) ?? nonce;
      if (!nonce) throw new StunClientError('CHZ_ERR_TURN_REJECTED', `TURN server asked for credentials (${ec.code}) without a NONCE`, ec.code);
      key = longTermKey(username, realm, password);
      const req = encodeStun({
        type: StunType.AllocateRequest, transactionId: newTransactionId(), attributes: [
          { type: Attr.RequestedTransport, value: transport },
          { type: Attr.Username, value: Buffer.from(username, 'utf8') },
          { type: Attr.Realm, value: Buffer.from(realm, 'utf8') },
          { type: Attr.Nonce, value: nonce! },
        ],
      }, { integrityKey: key, fingerprint: true });
      response = (await transact(socket, req, address, port, timeoutMs)).response;
    }
    if (response.type !== StunType.AllocateSuccess) {
      const ec = errorCodeOf(response);
      throw new StunClientError(ec.code === 401 ? 'CHZ_ERR_TURN_AUTH' : 'CHZ_ERR_TURN_REJECTED', `TURN Allocate failed: ${ec.code} ${ec.reason}`, ec.code);
    }
    const rttMs = performance.now() - started;
    const tid = response.transactionId;
    // The answer is the network's: a missing or short attribute is a refusal, not a TypeError.
    const relayedRaw = getAttr(response, Attr.XorRelayedAddress);
    if (!relayedRaw) throw new StunClientError('CHZ_ERR_TURN_REJECTED', 'TURN Allocate success without XOR-RELAYED-ADDRESS');
    let relayed: StunAddress;
    try {
      relayed = decodeXorAddress(relayedRaw, tid);
    } catch (err) {
      throw new StunClientError('CHZ_ERR_TURN_REJECTED', `TURN Allocate success with a bad XOR-RELAYED-ADDRESS (${(err as Error).message})`);
    }
    const mappedRaw = getAttr(response, Attr.XorMappedAddress);
    const lifetimeRaw = getAttr(response, Attr.Lifetime);
    const lifetime = lifetimeRaw && lifetimeRaw.length >= 4 ? lifetimeRaw.readUInt32BE(0) : 0;
    if (!opts.keep) {
      const release = encodeStun({
        type: StunType.RefreshRequest, transactionId: newTransactionId(), attributes: [
          { type: Attr.Lifetime, value: Buffer.from([0, 0, 0, 0]) },
          // A server that allocated without asking for credentials gets none back.
          ...(nonce ? [
            { type: Attr.Username, value: Buffer.from(username, 'utf8') },
            { type: Attr.Realm, value: Buffer.from(realm, 'utf8') },
            { type: Attr.Nonce, value: nonce },
          ] : []),
        ],
      }, nonce ? { integrityKey: key, fingerprint: true } : { fingerprint: true });
      await transact(socket, release, address, port, 1000).catch(() => undefined);
    }
    let mapped: StunAddress | undefined;
    try { mapped = mappedRaw ? decodeXorAddress(mappedRaw, tid) : undefined; } catch { mapped = undefined; }
    return { relayed, mapped, lifetimeSeconds: lifetime, rttMs, socket: opts.keep ? socket : undefined };
  } catch (err) {
    // With `keep`, the socket is the caller's only on success.
    if (opts.keep) socket.close();
    throw err;
  } finally {
    if (!opts.keep) socket.close();
  }
}

/** ERROR-CODE of an error response; a missing or malformed one reads as 0 (unknown). */
function errorCodeOf(response: StunMessage): { code: number; reason: string } {
  const raw = getAttr(response, Attr.ErrorCode);
  try {
    return raw ? decodeErrorCode(raw) : { code: 0, reason: 'no ERROR-CODE' };
  } catch {
    return { code: 0, reason: 'malformed ERROR-CODE' };
  }
}
