/**
 * Errors that stop `chatzyo serve` before it serves: an impossible configuration, or a port
 * that something else holds. They never cross the wire; the CLI prints the message and code
 * and exits with 1. Defined in src/protocol/errors.ts.
 */
import type { AnyErrorCode } from '../protocol/index.js';

/** Thrown for an impossible server configuration. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: AnyErrorCode = 'CHZ_ERR_CONFIG';
}

/** Which listener could not bind. */
export type PortRole = 'http' | 'metrics' | 'stun';

/**
 * A port the server must bind is in use (EADDRINUSE). The message names the port, what
 * probably holds it and the options that fix it; `port`, `address`, `role` say the same for code.
 */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly code: AnyErrorCode = 'CHZ_ERR_PORT_IN_USE';

  constructor(readonly role: PortRole, readonly port: number, readonly address: string, options: { cause?: unknown } = {}) {
    super(portInUseMessage(role, port, address), options);
  }
}

function portInUseMessage(role: PortRole, port: number, address: string): string {
  const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  switch (role) {
    case 'stun':
      return `UDP port ${port} of the built-in STUN responder is in use (${where}), most likely by another chatzyo node or by coturn on this host. `
        + `Fix: --stun-port N to run it on another free port, --no-stun to run without it, or --stun stun:HOST:${port} to announce the STUN server that holds the port `
        + '(coturn answers STUN on its TURN port).';
    case 'metrics':
      return `TCP port ${port} of the metrics listener is in use (${where}), most likely by another chatzyo node or a Prometheus exporter. Fix: --metrics-port N (0 = any free port).`;
    case 'http':
      return `TCP port ${port} (HTTP and WebSocket) is in use (${where}), most likely by another chatzyo node or a web server. Fix: --port N (0 = any free port), or stop what holds it.`;
  }
}
