/** A raw protocol client for server tests: records every server message and waits for types. */
import WebSocket from 'ws';
import { parseServerFrame, PROTOCOL_VERSION, type ServerMessage, type ServerMessageOf, type ServerMessageType } from '../../src/protocol/index.js';
import { withTimeout } from './deadline.js';

export class TestClient {
  readonly ws: WebSocket;
  readonly received: ServerMessage[] = [];
  readonly raw: string[] = [];
  #cursor = 0;
  #waiters: (() => void)[] = [];
  closeCode: number | null = null;
  closed: Promise<number>;
  sessionId = '';
  matchId: string | null = null;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('error', () => { /* surfaced through close */ });
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      const parsed = parseServerFrame(text);
      if (!parsed.ok) throw new Error(`server sent an invalid message: ${text}`);
      const m = parsed.value;
      if (m.type === 'matched') this.matchId = m.matchId;
      if (m.type === 'partner-left') this.matchId = null;
      this.received.push(m);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.#waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /** Connects and says hello (with `hello`'s extra fields); resolves after welcome. */
  static async connect(url: string, options: WebSocket.ClientOptions = {}, hello: Record<string, unknown> = {}): Promise<TestClient> {
    const c = new TestClient(url, options);
    await withTimeout(new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('close', (code) => reject(new Error(`closed ${code} before open`)));
    }), 5000, 'websocket open');
    c.send({ type: 'hello', version: PROTOCOL_VERSION, ...hello });
    const w = await c.next('welcome');
    c.sessionId = w.sessionId;
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next unread message of `type` (messages of other types are skipped over, not lost). */
  async next<T extends ServerMessageType>(type: T, ms = 5000): Promise<ServerMessageOf<T>> {
    return withTimeout(new Promise<ServerMessageOf<T>>((resolve, reject) => {
      const look = () => {
        for (let i = this.#cursor; i < this.received.length; i++) {
          const m = this.received[i]!;
          if (m.type === type) {
            this.received.splice(i, 1);
            resolve(m as ServerMessageOf<T>);
            return;
          }
        }
        if (this.closeCode !== null) { reject(new Error(`closed (${this.closeCode}) while waiting for ${type}`)); return; }
        this.#waiters.push(look);
      };
      look();
    }), ms, `client ${this.sessionId.slice(0, 6)} waiting for "${type}" (have: ${this.received.map((m) => m.type).join(',')})`);
  }

  /** Waits for an error with `code`. */
  async error(code: string, ms = 5000): Promise<ServerMessageOf<'error'>> {
    const e = await this.next('error', ms);
    if (e.code !== code) throw new Error(`expected error ${code}, got ${e.code}: ${e.message}`);
    return e;
  }

  /** Messages of a type received so far and not consumed. */
  pending<T extends ServerMessageType>(type: T): ServerMessageOf<T>[] {
    return this.received.filter((m) => m.type === type) as ServerMessageOf<T>[];
  }

  /** A ping/pong round trip: everything the server sent before the pong has arrived. */
  async sync(): Promise<void> {
    const id = Math.floor(Math.random() * 1e9);
    this.send({ type: 'ping', id });
    for (;;) {
      const p = await this.next('pong');
      if (p.id === id) return;
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await withTimeout(this.closed, 5000, 'client close');
  }
}
