// Baseline for bench:signal: a bare `ws` echo server, in its own process like ours.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(JSON.stringify({ event: 'listening', port: a && typeof a === 'object' ? a.port : 0 }) + '\n');
});
process.on('SIGTERM', () => { wss.close(); process.exit(0); });
