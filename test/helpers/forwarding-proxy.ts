/**
 * A reverse proxy on loopback that tells the server behind it (started with `trustProxy: 1`)
 * that every request comes from `clientIp`, as a real proxy's X-Forwarded-For would: a test's
 * browsers, all on 127.0.0.1, become people at different addresses. Each proxy is its own
 * origin (its own port), so each browser page also keeps its own storage. Plain HTTP requests
 * are forwarded with the header; a WebSocket upgrade gets it in its request head and is then
 * piped both ways.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { withTimeout } from './deadline.js';

export interface ForwardingProxy {
  /** http://127.0.0.1:PORT (a secure context for getUserMedia, like the server's own URL). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startForwardingProxy(upstream: string, clientIp: string): Promise<ForwardingProxy> {
  const up = new URL(upstream);
  const host = up.hostname;
  const port = Number(up.port);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const out = http.request({ host, port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': clientIp } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const out = net.connect(port, host);
    sockets.add(out);
    out.once('close', () => { sockets.delete(out); socket.destroy(); });
    socket.once('close', () => out.destroy());
    out.on('error', () => socket.destroy());
    socket.on('error', () => out.destroy());
    out.once('connect', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i]!.toLowerCase() !== 'x-forwarded-for') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      lines.push(`X-Forwarded-For: ${clientIp}`, '', '');
      out.write(lines.join('\r\n'));
      if (head.length) out.write(head);
      socket.pipe(out).pipe(socket);
    });
  });
  await withTimeout(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 5000, 'proxy listen');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await withTimeout(new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }), 5000, 'proxy close');
    },
  };
}
