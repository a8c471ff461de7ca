import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { CliProcess } from './cli-process.js';

let server: SignalServer;
let deadUrl: string;
const procs: CliProcess[] = [];

beforeAll(async () => {
  server = await startServer();
  // A port that was just free: nothing listens there.
  const gone = await startServer();
  deadUrl = gone.url;
  await gone.close();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await server?.close();
});

function run(name: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = new CliProcess(name, ['connect', '--json', '--width', '320', '--height', '240', ...args], env);
  procs.push(p);
  return p;
}

describe('chatzyo connect failure exits', () => {
  it('exits 3 when the server is unreachable, 4 when ffmpeg is missing, 5 when the camera or microphone is missing, 6 when nothing connects in time, 2 on bad usage', async () => {
    const unreachable = run('unreachable', ['--server', deadUrl, '--room', 'tamil']);
    const noFfmpeg = run('no-ffmpeg', ['--server', server.url, '--room', 'tamil'], { CHATZYO_FFMPEG: '/nonexistent/bin/ffmpeg' });
    const noCamera = run('no-camera', ['--server', server.url, '--room', 'tamil', '--video', 'camera:/dev/video97']);
    const noMic = run('no-mic', ['--server', server.url, '--room', 'tamil', '--no-video', '--audio', 'alsa:chatzyo_no_such_pcm']);
    const alone = run('alone', ['--server', server.url, '--room', 'usa', '--connect-timeout', '1.5']);
    const usage = run('usage', ['--server', server.url]);

    const [c1, c2, c3, c4, c5, c6] = await Promise.all([
      unreachable.exitCode(20_000), noFfmpeg.exitCode(20_000), noCamera.exitCode(20_000), alone.exitCode(30_000), usage.exitCode(20_000), noMic.exitCode(20_000),
    ]);
    expect(c1).toBe(3);
    expect(unreachable.stderr).toMatch(/Cannot reach the chatzyo server.*\[CHZ_ERR_SERVER_UNREACHABLE\]/);
    expect(await unreachable.next('error', 1000)).toMatchObject({ code: 'CHZ_ERR_SERVER_UNREACHABLE' });
    expect(await unreachable.next('closed', 1000)).toMatchObject({ reason: 'error', exitCode: 3 });

    expect(c2).toBe(4);
    expect(noFfmpeg.stderr).toMatch(/CHATZYO_FFMPEG=\/nonexistent\/bin\/ffmpeg.*\[CHZ_ERR_FFMPEG_MISSING\]/);

    expect(c3).toBe(5);
    expect(noCamera.stderr).toMatch(/\/dev\/video97.*\[CHZ_ERR_DEVICE_MISSING\]/);

    expect(c6).toBe(5);
    expect(noMic.stderr).toMatch(/ffmpeg \(audio\) exited[\s\S]*chatzyo_no_such_pcm[\s\S]*\[CHZ_ERR_DEVICE_MISSING\]/);

    expect(c4).toBe(6);
    await alone.next('queued', 1000);
    expect(alone.stderr).toMatch(/No peer connection within 1\.5 s.*\[CHZ_ERR_CONNECT_TIMEOUT\]/);
    expect(await alone.next('closed', 1000)).toMatchObject({ exitCode: 6 });

    expect(c5).toBe(2);
    expect(usage.stderr).toMatch(/exactly one of --room HUB, --private CODE or --create-private/);
    expect(usage.lines).toEqual([]);
  });

  it('--duration ends a run that never found a partner cleanly, with exit code 0', async () => {
    const p = run('duration', ['--server', server.url, '--room', 'hindi', '--no-video', '--no-audio', '--duration', '1.5']);
    expect(await p.next('queued', 15_000)).toMatchObject({ hub: 'hindi', position: 1 });
    expect(await p.exitCode(15_000)).toBe(0);
    expect(await p.next('closed', 1000)).toMatchObject({ reason: 'duration', partners: 0, exitCode: 0 });
  });
});
