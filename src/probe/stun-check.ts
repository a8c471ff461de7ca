/**
 * STUN check: for one server, a few Binding requests (RFC 8489) from one socket: reachable or
 * not, RTT min/median/max, the mapped address, and whether the server offers RFC 5780
 * behaviour discovery (OTHER-ADDRESS).
 */
import { resolveHost, stunBinding } from '../stun/client.js';
import { ProbeCheckError, checkError, toCheckError } from './errors.js';
import type { StunUri } from './ice-url.js';
import type { StunResult } from './report.js';
import { median, ms } from './stats.js';
import { closeQuietly, localOf, openUdp, sourceAddressFor } from './udp.js';

/** Settings of the STUN check. */
export interface StunCheckOptions {
  /** Binding requests to send (one after the other). */
  samples: number;
  /** Deadline of the first request (with retransmissions); later ones get the same. */
  timeoutMs: number;
}

/** Checks one STUN server. Never throws. */
export async function checkStun(uri: StunUri, opts: StunCheckOptions): Promise<StunResult> {
  const result: StunResult = {
    url: uri.url, host: uri.host, port: uri.port, address: null, reachable: false, rttMs: null, mapped: null, local: null,
    otherAddress: null, rfc5780: false,
  };
  if (uri.secure) {
    result.error = checkError('CHZ_ERR_STUN_UNSUPPORTED', 'stuns: (STUN over TLS) is not tested; browsers use stun: over UDP');
    return result;
  }
  let sock = null;
  try {
    try {
      result.address = await resolveHost(uri.host);
    } catch {
      throw new ProbeCheckError('CHZ_ERR_PROBE_DNS', `${uri.host} did not resolve`);
    }
    const local = await sourceAddressFor(result.address, uri.port).catch(() => {
      throw new ProbeCheckError('CHZ_ERR_STUN_TIMEOUT', `no route to ${result.address}`);
    });
    sock = await openUdp(local);
    result.local = localOf(sock);
    const rtts: number[] = [];
    for (let i = 0; i < opts.samples; i++) {
      try {
        const r = await stunBinding(sock, result.address, uri.port, { timeoutMs: opts.timeoutMs });
        rtts.push(r.rttMs);
        result.reachable = true;
        result.mapped = { address: r.mapped.address, port: r.mapped.port };
        if (r.otherAddress) {
          result.otherAddress = { address: r.otherAddress.address, port: r.otherAddress.port };
          result.rfc5780 = true;
        }
      } catch (err) {
        // The first request decides reachability; a later loss just leaves a sample out.
        if (i === 0) throw err;
      }
    }
    result.rttMs = { min: ms(Math.min(...rtts)), median: ms(median(rtts)), max: ms(Math.max(...rtts)), samples: rtts.length };
  } catch (err) {
    result.error = toCheckError(err);
  } finally {
    closeQuietly(sock);
  }
  return result;
}
