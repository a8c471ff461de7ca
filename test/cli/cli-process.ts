/** Spawns `chatzyo` from source as a real process and reads its JSON lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../helpers/deadline.js';

const RUNNER = path.resolve(fileURLToPath(import.meta.url), '../run-cli.ts');

/** A running CLI process. */
export class CliProcess {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];
  #cursor = new Map<string, number>();

  constructor(readonly name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', RUNNER, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try { this.lines.push(JSON.parse(line) as Record<string, unknown>); } catch { this.lines.push({ event: '(not json)', line }); }
        for (const w of this.#waiters.splice(0)) w();
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => {
      for (const w of this.#waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /** The next JSON line with `event` (after the last one taken) that passes `match`. */
  next(event: string, ms: number, match: (l: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return withTimeout(new Promise((resolve, reject) => {
      const look = () => {
        for (let i = this.#cursor.get(event) ?? 0; i < this.lines.length; i++) {
          const l = this.lines[i]!;
          if (l.event === event && match(l)) { this.#cursor.set(event, i + 1); resolve(l); return; }
        }
        if (this.proc.exitCode !== null) { reject(new Error(`${this.name} exited (${this.proc.exitCode}) before "${event}"; stderr: ${this.stderr.slice(-1500)}`)); return; }
        this.#waiters.push(look);
      };
      look();
    }), ms, `${this.name} waiting for "${event}" (events: ${this.lines.map((l) => l.event).join(',')}; stderr: ${this.stderr.slice(-800)})`);
  }

  /** Writes a line to stdin (chat text, /next, /quit). */
  say(line: string): void { this.proc.stdin!.write(line + '\n'); }

  /** Waits for the exit code. */
  exitCode(ms: number): Promise<number | null> {
    return withTimeout(this.exited, ms, `${this.name} exit (stderr: ${this.stderr.slice(-800)})`);
  }

  /** Stops the process if it still runs: SIGTERM (a clean end), SIGKILL after 5 s. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    await withTimeout(this.exited, 5000, `${this.name} exit after SIGTERM`).catch(async () => {
      this.proc.kill('SIGKILL');
      await this.exited;
    });
  }
}

/** ffprobe's view of a file's first video stream, decoding every frame. */
export async function probe(file: string): Promise<{ codec: string; width: number; height: number; frames: number }> {
  const child = spawn('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await withTimeout(new Promise<number | null>((r) => child.once('exit', r)), 30_000, 'ffprobe');
  if (code !== 0) throw new Error(`ffprobe failed (${code}): ${err}`);
  const s = (JSON.parse(out) as { streams: Record<string, unknown>[] }).streams[0];
  if (!s) throw new Error(`ffprobe found no video stream in ${file}: ${out}`);
  return { codec: String(s.codec_name), width: Number(s.width), height: Number(s.height), frames: Number(s.nb_read_frames) };
}

