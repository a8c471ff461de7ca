/**
 * TURN check: one allocation per server and transport (RFC 8656 section 7) with the long-term
 * credential mechanism (RFC 8489 section 9.2), then, when it can, a round trip through the
 * relay: a local UDP "peer" socket and the client bounce a few datagrams off each other via
 * CreatePermission, Send and Data indications (RFC 8656 sections 9-11). Bad credentials (401
 * after authenticating), a refusal (403, 486, 508, ...), an unreachable server and a TLS failure
 * are told apart.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import {
  Attr, StunType, decodeErrorCode, decodeXorAddress, encodeStun, encodeXorAddress, getAttr, longTermKey, newTransactionId,
  type StunMessage,
} from '../stun/message.js';
import { resolveHost } from '../stun/client.js';
import { ProbeCheckError, checkError, toCheckError } from './errors.js';
import type { TurnTransport, TurnUri } from './ice-url.js';
import type { Endpoint, TurnResult, TurnStatus } from './report.js';
import { StunChannel } from './stun-channel.js';
import { median, ms } from './stats.js';

/** TURN methods and attributes beyond src/stun/message.ts (RFC 8656 sections 17 and 18). */
const TurnType = {
  CreatePermissionRequest: 0x0008,
  CreatePermissionSuccess: 0x0108,
  SendIndication: 0x0016,
  DataIndication: 0x0017,
} as const;
const ATTR_DATA = 0x0013;
const UDP_TRANSPORT = Buffer.from([17, 0, 0, 0]);

/** Credentials for one TURN server. */
export interface TurnCredentials { username?: string; credential?: string }

/** Settings of one TURN check. */
export interface TurnCheckOptions {
  /** Deadline for connecting and for each transaction. */
  timeoutMs: number;
  /** Round trips through the relay to measure (0: none). */
  relayPings: number;
  /** Extra CA certificates for turns: (tests, private CAs). */
  ca?: string | Buffer | (string | Buffer)[];
}

const STATUS_FOR: Record<string, TurnStatus> = {
  CHZ_ERR_TURN_AUTH: 'auth-failed',
  CHZ_ERR_TURN_REJECTED: 'refused',
  CHZ_ERR_TURN_TLS: 'tls-error',
  CHZ_ERR_TURN_UNREACHABLE: 'unreachable',
  CHZ_ERR_STUN_TIMEOUT: 'unreachable',
  CHZ_ERR_PROBE_DNS: 'unreachable',
  CHZ_ERR_PROBE_TIMEOUT: 'unreachable',
};

/** A result row for a transport that was not tested, and why. */
export function notTested(uri: Pick<TurnUri, 'url' | 'host' | 'port'>, transport: TurnTransport, note: string): TurnResult {
  return { url: uri.url, host: uri.host, port: uri.port, transport, status: 'not-tested', relayed: null, mapped: null, allocateMs: null, relayRttMs: null, lifetimeSeconds: null, note };
}

/** Allocates on one TURN server over one transport and measures what it can. Never throws. */
export async function checkTurn(uri: TurnUri, transport: TurnTransport, creds: TurnCredentials, opts: TurnCheckOptions): Promise<TurnResult> {
  const result: TurnResult = {
    url: uri.url, host: uri.host, port: uri.port, transport, status: 'unreachable',
    relayed: null, mapped: null, allocateMs: null, relayRttMs: null, lifetimeSeconds: null,
  };
  let channel: StunChannel | null = null;
  try {
    let address: string;
    try {
      address = await resolveHost(uri.host);
    } catch {
      throw new ProbeCheckError('CHZ_ERR_PROBE_DNS', `${uri.host} did not resolve`);
    }
    const started = performance.now();
    channel = await StunChannel.open({ transport, address, port: uri.port, servername: uri.host, ca: opts.ca, connectTimeoutMs: opts.timeoutMs });
    const session = await allocate(channel, creds, opts.timeoutMs);
    result.allocateMs = ms(performance.now() - started);
    result.relayed = session.relayed;
    result.mapped = session.mapped;
    result.lifetimeSeconds = session.lifetime;
    result.status = 'ok';
    if (opts.relayPings > 0) {
      try {
        result.relayRttMs = await relayRoundTrip(channel, session, opts);
      } catch (err) {
        result.note = `allocation works, but the round trip through the relay was not measured: ${(err as Error).message}`;
      }
    }
    await release(channel, session, Math.min(opts.timeoutMs, 1000)).catch(() => { /* the allocation expires anyway */ });
  } catch (err) {
    const e = toCheckError(err);
    result.status = STATUS_FOR[e.code] ?? 'refused';
    result.error = e;
    if (e.code === 'CHZ_ERR_STUN_TIMEOUT') {
      result.error = checkError('CHZ_ERR_TURN_UNREACHABLE', `no TURN answer over ${transport.toUpperCase()} from ${uri.host}:${uri.port}: ${e.message}`);
    }
  } finally {
    channel?.close();
  }
  return result;
}

type Auth = Pick<Allocation, 'username' | 'realm' | 'nonce' | 'key'>;

interface Allocation {
  relayed: Endpoint;
  mapped: Endpoint | null;
  lifetime: number | null;
  username: string;
  realm: string;
  nonce: Buffer;
  key: Buffer;
}

function errorOf(m: StunMessage): { code: number; reason: string } {
  const ec = getAttr(m, Attr.ErrorCode);
  return ec ? decodeErrorCode(ec) : { code: 0, reason: 'no ERROR-CODE' };
}

function authAttrs(a: { username: string; realm: string; nonce: Buffer }): StunMessage['attributes'] {
  return [
    { type: Attr.Username, value: Buffer.from(a.username, 'utf8') },
    { type: Attr.Realm, value: Buffer.from(a.realm, 'utf8') },
    { type: Attr.Nonce, value: a.nonce },
  ];
}

/** Allocate, answering the 401 challenge (and one 438 stale nonce). */
async function allocate(ch: StunChannel, creds: TurnCredentials, timeoutMs: number): Promise<Allocation> {
  const base = [{ type: Attr.RequestedTransport, value: UDP_TRANSPORT }];
  let { response } = await ch.request(encodeStun({ type: StunType.AllocateRequest, transactionId: newTransactionId(), attributes: base }, { fingerprint: true }), timeoutMs);
  let auth = null as Auth | null;
  for (let attempt = 0; response.type === StunType.AllocateError && attempt < 3; attempt++) {
    const e = errorOf(response);
    if (e.code !== 401 && e.code !== 438) throw new ProbeCheckError('CHZ_ERR_TURN_REJECTED', `Allocate refused: ${e.code} ${e.reason}`.trim());
    if (e.code === 401 && auth) throw new ProbeCheckError('CHZ_ERR_TURN_AUTH', `the TURN server rejected the credentials for "${auth.username}" (401 ${e.reason})`.trim());
    if (creds.username === undefined || creds.credential === undefined) {
      throw new ProbeCheckError('CHZ_ERR_TURN_AUTH', 'the TURN server wants credentials and none were given (--turn-user/--turn-pass, or --server for credentials from the chatzyo server)');
    }
    const realm: string = getAttr(response, Attr.Realm)?.toString('utf8') ?? auth?.realm ?? '';
    const nonce: Buffer | undefined = getAttr(response, Attr.Nonce) ?? auth?.nonce;
    if (!nonce) throw new ProbeCheckError('CHZ_ERR_TURN_REJECTED', `the TURN server sent ${e.code} without a NONCE`);
    auth = { username: creds.username, realm, nonce, key: longTermKey(creds.username, realm, creds.credential) };
    const req = encodeStun({ type: StunType.AllocateRequest, transactionId: newTransactionId(), attributes: [...base, ...authAttrs(auth)] }, { integrityKey: auth.key, fingerprint: true });
    response = (await ch.request(req, timeoutMs)).response;
  }
  if (response.type !== StunType.AllocateSuccess) {
    const e = errorOf(response);
    throw new ProbeCheckError(e.code === 401 ? 'CHZ_ERR_TURN_AUTH' : 'CHZ_ERR_TURN_REJECTED', `Allocate failed: ${e.code} ${e.reason}`.trim());
  }
  const relayedRaw = getAttr(response, Attr.XorRelayedAddress);
  if (!relayedRaw) throw new ProbeCheckError('CHZ_ERR_TURN_REJECTED', 'Allocate success without XOR-RELAYED-ADDRESS');
  const tid = response.transactionId;
  const relayed = decodeXorAddress(relayedRaw, tid);
  const mappedRaw = getAttr(response, Attr.XorMappedAddress);
  const mapped = mappedRaw ? decodeXorAddress(mappedRaw, tid) : null;
  const lifetime = getAttr(response, Attr.Lifetime)?.readUInt32BE(0) ?? null;
  // A server that allocated without asking for credentials still gets well-formed (empty) auth for later requests.
  const a = auth ?? { username: '', realm: '', nonce: Buffer.alloc(0), key: Buffer.alloc(0) };
  return {
    relayed: { address: relayed.address, port: relayed.port },
    mapped: mapped ? { address: mapped.address, port: mapped.port } : null,
    lifetime, ...a,
  };
}

/** An authenticated request, retried once on 438 Stale Nonce (RFC 8489 section 9.2.4). */
async function authed(ch: StunChannel, a: Allocation, type: number, attrs: (tid: Buffer) => StunMessage['attributes'], timeoutMs: number): Promise<StunMessage> {
  for (let attempt = 0; ; attempt++) {
    const transactionId = newTransactionId();
    const withAuth = a.username ? [...attrs(transactionId), ...authAttrs(a)] : attrs(transactionId);
    const req = encodeStun({ type, transactionId, attributes: withAuth }, a.username ? { integrityKey: a.key, fingerprint: true } : { fingerprint: true });
    const { response } = await ch.request(req, timeoutMs);
    if ((response.type & 0x0110) !== 0x0110) return response;
    const e = errorOf(response);
    if (e.code === 438 && attempt === 0) {
      a.nonce = getAttr(response, Attr.Nonce) ?? a.nonce;
      continue;
    }
    throw new ProbeCheckError(e.code === 401 ? 'CHZ_ERR_TURN_AUTH' : 'CHZ_ERR_TURN_REJECTED', `${e.code} ${e.reason}`.trim());
  }
}

/** Releases the allocation: Refresh with LIFETIME 0 (RFC 8656 section 8). */
async function release(ch: StunChannel, a: Allocation, timeoutMs: number): Promise<void> {
  await authed(ch, a, StunType.RefreshRequest, () => [{ type: Attr.Lifetime, value: Buffer.alloc(4) }], timeoutMs);
}

/**
 * Median round trip client -> TURN -> peer -> TURN -> client, with a local UDP socket as the
 * peer. The permission is for our own public IP (the MAPPED address of the allocation), which
 * is where the peer socket's datagrams come from too (RFC 8656 permissions are per IP).
 */
async function relayRoundTrip(ch: StunChannel, a: Allocation, opts: TurnCheckOptions): Promise<number> {
  const family = net.isIPv6(a.relayed.address) ? 6 : 4;
  const permitIp = a.mapped && (net.isIPv6(a.mapped.address) ? 6 : 4) === family ? a.mapped.address : null;
  if (!permitIp) throw new Error('the allocation did not say our public address in the same IP family');
  await authed(ch, a, TurnType.CreatePermissionRequest, (tid) => [{ type: Attr.XorPeerAddress, value: encodeXorAddress({ address: permitIp, port: 0, family }, tid) }], opts.timeoutMs)
    .catch((err: Error) => { throw new Error(`the TURN server did not permit ${permitIp} as a peer (${err.message})`); });
  const peer = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  peer.on('error', () => { /* reported as lost pings */ });
  try {
    await new Promise<void>((resolve) => peer.bind(0, () => resolve()));
    // The peer echoes whatever reaches it back to the sender (the relay).
    peer.on('message', (buf, rinfo) => peer.send(buf, rinfo.port, rinfo.address));
    const waiters = new Map<string, (peer: Endpoint) => void>();
    ch.onMessage((m) => {
      if (m.type !== TurnType.DataIndication) return;
      const data = getAttr(m, ATTR_DATA);
      const from = getAttr(m, Attr.XorPeerAddress);
      if (!data || !from) return;
      const fromAddr = decodeXorAddress(from, m.transactionId);
      waiters.get(data.toString('utf8'))?.({ address: fromAddr.address, port: fromAddr.port });
    });
    const wait = (token: string, timeoutMs: number) => new Promise<Endpoint | null>((resolve) => {
      const t = setTimeout(() => { waiters.delete(token); resolve(null); }, timeoutMs);
      waiters.set(token, (p) => { clearTimeout(t); waiters.delete(token); resolve(p); });
    });
    // 1. The peer writes to the relayed address (opening its own NAT toward the relay); the
    //    relay hands it to us in a Data indication, which tells us the peer's address as the relay sees it.
    const hello = 'chatzyo-probe-hello';
    const seen = wait(hello, Math.min(opts.timeoutMs, 1500));
    const resend = setInterval(() => peer.send(hello, a.relayed.port, a.relayed.address), 100);
    peer.send(hello, a.relayed.port, a.relayed.address);
    const peerAddr = await seen.finally(() => clearInterval(resend));
    if (!peerAddr) throw new Error('datagrams from this machine to the relayed address never came back through the relay (UDP to the relay blocked?)');
    // 2. Round trips: Send indication -> relay -> peer -> echo -> relay -> Data indication.
    const rtts: number[] = [];
    for (let i = 0; i < opts.relayPings; i++) {
      const token = `chatzyo-probe-${i}`;
      const tid = newTransactionId();
      const back = wait(token, 500);
      const t0 = performance.now();
      ch.indicate(encodeStun({
        type: TurnType.SendIndication, transactionId: tid, attributes: [
          { type: Attr.XorPeerAddress, value: encodeXorAddress({ address: peerAddr.address, port: peerAddr.port, family }, tid) },
          { type: ATTR_DATA, value: Buffer.from(token, 'utf8') },
        ],
      }));
      if (await back) rtts.push(performance.now() - t0);
    }
    if (!rtts.length) throw new Error(`none of ${opts.relayPings} datagrams came back through the relay`);
    return ms(median(rtts));
  } finally {
    ch.onMessage(() => {});
    peer.close();
  }
}
