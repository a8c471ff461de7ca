/** UDP socket helpers shared by the STUN and NAT checks. */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Endpoint } from './report.js';

/**
 * The local address the kernel would use to reach `address`: a connected UDP socket picks
 * its source address by route lookup without sending anything.
 */
export async function sourceAddressFor(address: string, port: number): Promise<string> {
  const sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  sock.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      // A failed connect (ENETUNREACH: no route) goes to the callback, which @types/node
      // declares without its argument; without this check the socket's unspecified
      // address (0.0.0.0 or ::) came back as if it were a route.
      sock.connect(port, address, ((err?: Error) => (err ? reject(err) : resolve())) as () => void);
    });
    return sock.address().address;
  } finally {
    sock.close();
  }
}

/** A UDP socket bound to `localAddress` on a free port. Close it with `closeQuietly`. */
export async function openUdp(localAddress: string): Promise<dgram.Socket> {
  const sock = dgram.createSocket(net.isIPv6(localAddress) ? 'udp6' : 'udp4');
  sock.on('error', () => { /* shows up as timeouts */ });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, localAddress, () => { sock.off('error', reject); resolve(); });
  });
  return sock;
}

/** Closes a socket that may already be closed. */
export function closeQuietly(sock: dgram.Socket | null | undefined): void {
  try { sock?.close(); } catch { /* already closed */ }
}

/** The bound address of a socket. */
export function localOf(sock: dgram.Socket): Endpoint {
  const a = sock.address();
  return { address: a.address, port: a.port };
}

/** Same address and port. */
export function sameEndpoint(a: Endpoint | null | undefined, b: Endpoint | null | undefined): boolean {
  return !!a && !!b && a.address === b.address && a.port === b.port;
}
