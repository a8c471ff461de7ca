/**
 * NAT behaviour discovery: the RFC 5780 tests against a server that offers OTHER-ADDRESS
 * (mapping, section 4.3; filtering, 4.4; hairpinning, 4.5; mapping lifetime, 4.6), or, with
 * servers that do not, a comparison of the mappings several servers see. Each test uses its
 * own fresh socket so that one test's traffic cannot open the NAT for another.
 */
import type dgram from 'node:dgram';
import { StunClientError, stunBinding } from '../stun/client.js';
import { Attr, CHANGE_IP, CHANGE_PORT, StunType, encodeStun, isStun, newTransactionId } from '../stun/message.js';
import { checkError, toCheckError } from './errors.js';
import { classifyByComparison, classifyFiltering, classifyMapping, type FilteringObservations, type MappingObservations, type ServerView } from './nat-classify.js';
import type { Endpoint, LifetimeResult, NatResult, StunResult } from './report.js';
import { closeQuietly, localOf, openUdp, sameEndpoint } from './udp.js';

/** Settings of the NAT check. */
export interface NatCheckOptions {
  /** Deadline of a request that must be answered (mapping tests). */
  timeoutMs: number;
  /**
   * How long to wait for a reply that a filtering NAT may drop (filtering, hairpinning,
   * lifetime). Default: 4 x the server's median RTT + 400 ms, between 700 and 2000 ms.
   */
  behaviourTimeoutMs?: number;
  /** Measure the mapping lifetime up to this many seconds (RFC 5780 section 4.6). */
  lifetimeMaxS?: number;
}

/** Classifies the NAT from the STUN results (and more requests of its own). Never throws. */
export async function checkNat(stun: StunResult[], opts: NatCheckOptions): Promise<NatResult> {
  const result: NatResult = {
    mapping: 'unknown', filtering: 'unknown', method: 'none', confidence: 'none', server: null, mapped: null,
    udpBlocked: false, hairpinning: null, lifetime: null, notes: [],
  };
  const tried = stun.filter((s) => s.error?.code !== 'CHZ_ERR_PROBE_DNS' && s.error?.code !== 'CHZ_ERR_STUN_UNSUPPORTED');
  const reachable = stun.filter((s) => s.reachable && s.address && s.mapped && s.local);
  if (tried.length > 0 && reachable.length === 0 && tried.every((s) => s.error?.code === 'CHZ_ERR_STUN_TIMEOUT')) {
    result.udpBlocked = true;
    result.notes.push(`no STUN server answered over UDP (${tried.map((s) => s.url).join(', ')}): UDP is blocked, or every server is down`);
    return result;
  }
  if (reachable.length === 0) {
    result.notes.push(stun.length ? 'no STUN server could be used' : 'no STUN server was given');
    return result;
  }
  const rfc = reachable.find((s) => s.otherAddress);
  try {
    if (rfc) await rfc5780(rfc, opts, result);
    else await compare(reachable, opts, result);
  } catch (err) {
    result.notes.push(`the NAT tests stopped: ${toCheckError(err).message}`);
  }
  return result;
}

function behaviourTimeout(s: StunResult, opts: NatCheckOptions): number {
  if (opts.behaviourTimeoutMs !== undefined) return opts.behaviourTimeoutMs;
  const rtt = s.rttMs?.median ?? 100;
  return Math.round(Math.min(2000, Math.max(700, 4 * rtt + 400)));
}

async function rfc5780(s: StunResult, opts: NatCheckOptions, result: NatResult): Promise<void> {
  const primary: Endpoint = { address: s.address!, port: s.port };
  const other = s.otherAddress!;
  const portOnly = other.address === primary.address;
  const localIp = s.local!.address;
  const waitMs = behaviourTimeout(s, opts);
  result.method = portOnly ? 'rfc5780-port-only' : 'rfc5780';
  result.server = s.url;

  const mappingAndHairpin = async () => {
    const sock = await openUdp(localIp);
    try {
      const local = localOf(sock);
      const t1 = (await stunBinding(sock, primary.address, primary.port, { timeoutMs: opts.timeoutMs })).mapped;
      result.mapped = { address: t1.address, port: t1.port };
      const obs: MappingObservations = { local, test1: result.mapped, portOnly };
      if (!sameEndpoint(result.mapped, local)) {
        const hairpin = testHairpin(sock, result.mapped, localIp, waitMs);
        const ask = (dest: Endpoint) => stunBinding(sock, dest.address, dest.port, { timeoutMs: opts.timeoutMs })
          .then((r) => ({ address: r.mapped.address, port: r.mapped.port }), () => null);
        obs.test2 = await ask(portOnly ? { address: primary.address, port: other.port } : { address: other.address, port: primary.port });
        if (!portOnly && obs.test2 && !sameEndpoint(obs.test2, obs.test1)) obs.test3 = await ask(other);
        result.hairpinning = await hairpin;
      } else {
        result.notes.push('hairpinning: not applicable without a NAT');
      }
      return obs;
    } finally {
      closeQuietly(sock);
    }
  };

  const filtering = async (): Promise<FilteringObservations> => {
    const sock = await openUdp(localIp);
    try {
      // Test I on this socket: a mapping toward the primary address only.
      await stunBinding(sock, primary.address, primary.port, { timeoutMs: opts.timeoutMs });
      const changed = (flags: number, from: Endpoint) => stunBinding(sock, primary.address, primary.port, { change: flags, timeoutMs: waitMs }).then(
        (r) => {
          if (!sameEndpoint(r.from, from)) {
            throw new Error(`the server answered a CHANGE-REQUEST from ${r.from.address}:${r.from.port} instead of ${from.address}:${from.port}`);
          }
          return true;
        },
        (err: unknown) => {
          if (err instanceof StunClientError && err.code === 'CHZ_ERR_STUN_TIMEOUT') return false;
          throw err;
        },
      );
      // Both at once: neither reply can open the NAT for the other (only our outbound packets do).
      const [changeIpAndPort, changePort] = await Promise.all([
        portOnly ? Promise.resolve(null) : changed(CHANGE_IP | CHANGE_PORT, other),
        changed(CHANGE_PORT, { address: primary.address, port: other.port }),
      ]);
      return { changeIpAndPort, changePort };
    } finally {
      closeQuietly(sock);
    }
  };

  const lifetime = opts.lifetimeMaxS ? measureLifetime(primary, localIp, opts.lifetimeMaxS, waitMs, opts.timeoutMs) : Promise.resolve(null);
  const [m, f, l] = await Promise.allSettled([mappingAndHairpin(), filtering(), lifetime]);
  if (m.status === 'fulfilled') {
    const c = classifyMapping(m.value);
    result.mapping = c.value;
    result.confidence = c.confidence;
    result.notes.push(`mapping: ${c.note}`);
  } else {
    result.notes.push(`mapping: test I failed: ${toCheckError(m.reason).message}`);
  }
  if (f.status === 'fulfilled') {
    const c = classifyFiltering(f.value);
    result.filtering = c.value;
    result.notes.push(`filtering: ${c.note}`);
    if (c.confidence === 'low' || c.confidence === 'none') result.confidence = lower(result.confidence, c.confidence);
  } else {
    result.notes.push(`filtering: ${toCheckError(f.reason).message}`);
  }
  if (result.hairpinning !== null) {
    result.notes.push(result.hairpinning ? 'hairpinning: a packet to our own public address came back in' : 'hairpinning: a packet to our own public address did not come back');
  }
  if (l.status === 'fulfilled') result.lifetime = l.value;
  else result.lifetime = { aliveAfterS: null, goneAfterS: null, waitsS: [], error: toCheckError(l.reason) };
  if (result.method === 'rfc5780-port-only') {
    result.notes.push('the server has a second port but no second IP (OTHER-ADDRESS shares the primary IP): some behaviours cannot be told apart');
  }
}

function lower(a: NatResult['confidence'], b: NatResult['confidence']): NatResult['confidence'] {
  const order = ['none', 'low', 'medium', 'high'] as const;
  return order[Math.min(order.indexOf(a), order.indexOf(b))]!;
}

/** Without RFC 5780: ask every reachable server from one socket and compare. */
async function compare(servers: StunResult[], opts: NatCheckOptions, result: NatResult): Promise<void> {
  const localIp = servers[0]!.local!.address;
  const sock = await openUdp(localIp);
  try {
    const local = localOf(sock);
    const views: ServerView[] = [];
    const seen = new Set<string>();
    for (const s of servers) {
      const key = `${s.address}:${s.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const r = await stunBinding(sock, s.address!, s.port, { timeoutMs: opts.timeoutMs }).catch(() => null);
      if (r) views.push({ server: { address: s.address!, port: s.port }, mapped: { address: r.mapped.address, port: r.mapped.port } });
    }
    const c = classifyByComparison(local, views);
    result.mapping = c.value;
    result.confidence = c.confidence;
    result.method = views.length > 1 ? 'two-server' : 'single-server';
    result.server = servers.map((s) => s.url).join(' + ');
    result.mapped = views[0]?.mapped ?? null;
    result.notes.push(`mapping: ${c.note}`);
    result.notes.push('filtering: not tested (needs a server with RFC 5780 support, e.g. chatzyo serve --stun-alt-address)');
    if (opts.lifetimeMaxS) result.lifetime = { aliveAfterS: null, goneAfterS: null, waitsS: [], error: checkError('CHZ_ERR_STUN_UNSUPPORTED', 'the mapping lifetime test needs a server with RFC 5780 support (RESPONSE-PORT)') };
  } finally {
    closeQuietly(sock);
  }
}

/**
 * Hairpinning (RFC 5780 section 4.5): a second socket sends a Binding request to our own
 * public address; it works if the NAT delivers it to the first socket.
 */
async function testHairpin(target: dgram.Socket, publicAddr: Endpoint, localIp: string, waitMs: number): Promise<boolean> {
  const sender = await openUdp(localIp);
  try {
    const tid = newTransactionId();
    const req = encodeStun({ type: StunType.BindingRequest, transactionId: tid, attributes: [] }, { fingerprint: true });
    return await arrivesOn([target], tid, () => sender.send(req, publicAddr.port, publicAddr.address, () => {}), waitMs).then((s) => s !== null);
  } finally {
    closeQuietly(sender);
  }
}

/**
 * Sends with `send` (again at 100, 300, 700 ms ... like RFC 8489 retransmissions) until a STUN
 * message with transaction id `tid` arrives on one of `socks`; resolves with that socket, or null.
 */
function arrivesOn(socks: dgram.Socket[], tid: Buffer, send: () => void, waitMs: number): Promise<{ sock: dgram.Socket; msg: Buffer } | null> {
  return new Promise((resolve) => {
    const listeners = socks.map((sock) => {
      const l = (buf: Buffer) => {
        if (isStun(buf) && buf.subarray(8, 20).equals(tid)) finish({ sock, msg: buf });
      };
      sock.on('message', l);
      return () => sock.off('message', l);
    });
    let rto = 100;
    let retry: NodeJS.Timeout;
    const again = () => {
      send();
      retry = setTimeout(again, rto);
      rto *= 2;
    };
    const timer = setTimeout(() => finish(null), waitMs);
    function finish(v: { sock: dgram.Socket; msg: Buffer } | null) {
      clearTimeout(timer);
      clearTimeout(retry);
      for (const off of listeners) off();
      resolve(v);
    }
    again();
  });
}

/** Waits tried by the lifetime test, in seconds (each on its own socket, all at once). */
const LIFETIME_WAITS_S = [1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600];

/** The waits for a maximum: the standard ones below it, and the maximum itself. */
function lifetimeWaits(maxS: number): number[] {
  const w = LIFETIME_WAITS_S.filter((s) => s < maxS);
  return [...w, maxS];
}

/**
 * Mapping lifetime (RFC 5780 section 4.6): socket X makes a mapping; after a wait, socket Y
 * asks the server (with RESPONSE-PORT = X's mapped port) to answer to X's mapping. If X hears
 * it, the mapping outlived the wait. Every wait runs on its own pair of sockets in parallel,
 * so the test takes as long as the longest wait.
 */
async function measureLifetime(primary: Endpoint, localIp: string, maxS: number, waitMs: number, timeoutMs: number): Promise<LifetimeResult> {
  const waits = lifetimeWaits(maxS);
  const socks: dgram.Socket[] = [];
  try {
    const outcomes = await Promise.all(waits.map(async (w) => {
      const x = await openUdp(localIp);
      socks.push(x);
      const mx = (await stunBinding(x, primary.address, primary.port, { timeoutMs })).mapped;
      await new Promise((r) => setTimeout(r, w * 1000));
      const y = await openUdp(localIp);
      socks.push(y);
      const tid = newTransactionId();
      const rp = Buffer.alloc(4);
      rp.writeUInt16BE(mx.port, 0);
      const req = encodeStun({ type: StunType.BindingRequest, transactionId: tid, attributes: [{ type: Attr.ResponsePort, value: rp }] }, { fingerprint: true });
      const got = await arrivesOn([x, y], tid, () => y.send(req, primary.port, primary.address, () => {}), waitMs);
      if (got?.sock === y) {
        // Only an error (420: RESPONSE-PORT not understood) comes back to Y itself.
        throw Object.assign(new Error('the server does not support RESPONSE-PORT (RFC 5780 section 7.5)'), { code: 'CHZ_ERR_STUN_UNSUPPORTED' });
      }
      return { w, alive: got !== null && decodeType(got.msg) === StunType.BindingSuccess };
    }));
    const firstGone = outcomes.find((o) => !o.alive);
    const alive = outcomes.filter((o) => o.alive && (!firstGone || o.w < firstGone.w));
    return {
      aliveAfterS: alive.length ? Math.max(...alive.map((o) => o.w)) : null,
      goneAfterS: firstGone?.w ?? null,
      waitsS: waits,
    };
  } finally {
    for (const s of socks) closeQuietly(s);
  }
}

function decodeType(buf: Buffer): number {
  return buf.readUInt16BE(0);
}
