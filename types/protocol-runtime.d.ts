/**
 * The few globals src/protocol uses: the ones Node, worker threads and every browser share
 * (WHATWG timers, URL, TextEncoder, Web Crypto, console), declared as narrowly as the protocol
 * uses them. Only tsconfig.protocol.json includes this file; there, neither the DOM nor Node
 * types are loaded, so anything else a protocol file reached for would not compile.
 */
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;

declare class URL {
  constructor(url: string, base?: string);
  protocol: string;
  pathname: string;
  search: string;
  hash: string;
  host: string;
  hostname: string;
  port: string;
  href: string;
  toString(): string;
}

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare var crypto: {
  getRandomValues<T extends Uint8Array>(array: T): T;
  subtle: { digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer> };
};

declare var console: {
  error(...data: unknown[]): void;
};
