/** Spawns `chatzyo` from source as a real process and reads its JSON lines. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until, withTimeout } from '../helpers/deadline.js';

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
      // A session of its own, as from a terminal of its own: `connect` raises its session's
      // autogroup (src/peer/thread-priority.ts), which must not be the test runner's.
      detached: true,
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

/**
 * `chatzyo` (from source) in a real pseudo-terminal (util-linux script(1)), 120x50, as a person
 * at a terminal runs it; with CI=true as on a CI runner, where ink would draw nothing until exit
 * unless chatzyo asks for a live view.
 */
export class PtyCli {
  readonly proc: ChildProcess;
  /** Everything the terminal was sent, read byte for byte (latin1), so no 8-bit byte hides in a decoded character. */
  raw = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.error || script.status !== 0) throw new Error(`util-linux script(1) is needed for a real pseudo-terminal (install bsdutils): ${script.error?.message ?? script.stderr}`);
    const cmd = `stty cols 120 rows 50; exec ${process.execPath} --import tsx ${RUNNER} ${args.join(' ')}`;
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', CI: 'true' };
    delete env.CHATZYO_JSON;
    this.proc = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.proc.stdout!.on('data', (d: Buffer) => { this.raw += d.toString('latin1'); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.raw += d.toString('latin1'); });
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
  }

  /** The screen's bytes decoded as UTF-8. */
  get text(): string { return Buffer.from(this.raw, 'latin1').toString('utf8'); }

  /** Waits until the screen shows `needle` (ASCII). */
  async shows(needle: string, ms: number, what: string): Promise<void> {
    await until(() => this.raw.includes(needle), ms, `${what} (output so far: ${JSON.stringify(this.raw.slice(-600))})`);
  }

  /** One write to the terminal (keys, a paste). */
  write(keys: string): void { this.proc.stdin!.write(keys); }

  /** Kills the terminal if it still runs. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
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

