/**
 * Ports for servers a test starts in another process (redis-server, coturn, chatzyo nodes,
 * nginx): chosen free, then bound by that process a moment later. Binding port 0 and reading
 * the number would hand out a port from the kernel's ephemeral range, where any outgoing
 * connection (a Redis client, a WebSocket, a browser) may take it as its local port before the
 * server binds it: a CI run failed that way with "port in use". These come from below that
 * range, where the kernel never assigns ports on its own.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The first port of the kernel's ephemeral range (Linux default 32768). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A loopback port outside the ephemeral range, free now for TCP (and UDP when `udp`). */
export async function serverPort(opts: { udp?: boolean } = {}): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(10_000, high - 20_000);
  for (let attempt = 0; attempt < 200 && high > low; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await tcpFree(port) && (!opts.udp || await udpFree(port))) return port;
  }
  throw new Error(`no loopback port free below the ephemeral range (${low}-${high})`);
}
