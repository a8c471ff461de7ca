import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import { startServer } from '../helpers/server.js';
import { webmVideoSizes } from '../helpers/webm.js';
import { CliProcess, probe } from './cli-process.js';

let server: SignalServer;
let dir: string;
const procs: CliProcess[] = [];

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(path.join(tmpdir(), 'chatzyo-private-'));
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SMALL = ['--width', '320', '--height', '240', '--fps', '15', '--video-bitrate', '300'];

function connect(name: string, args: string[]): CliProcess {
  const p = new CliProcess(name, ['connect', '--json', '--server', server.url, ...SMALL, ...args]);
  procs.push(p);
  return p;
}

describe('chatzyo connect private calls and H.264', () => {
  it('--create-private prints a code and link, --private LINK joins it with H.264, the recording is H.264, and leaving ends the private call', async () => {
    const file = path.join(dir, 'host.webm');
    // The host captures at 640x480; it records the guest's 320x240, the size its SPS announces.
    const host = connect('host', ['--create-private', '--codec', 'h264', '--record', file, '--width', '640', '--height', '480']);
    const created = await host.next('private-created', 15_000);
    expect(created.code).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(created.link).toBe(`${server.url}/#/call/${created.code}`);

    const guest = connect('guest', ['--private', String(created.link), '--codec', 'h264', '--say', 'knock knock']);
    const [mh, mg] = await Promise.all([host.next('matched', 15_000), guest.next('matched', 15_000)]);
    expect(mh).toMatchObject({ role: 'offerer', private: true, hub: null });
    expect(mg.matchId).toBe(mh.matchId);
    expect(await host.next('chat', 20_000)).toMatchObject({ text: 'knock knock' });
    // Long enough that the recording (which starts on the first keyframe) holds 20+ frames.
    const s = await host.next('stats', 20_000, (x) => Number(x.framesReceived) >= 60 && x.frameWidth === 320); // the guest's full size, once it stepped up
    expect(s).toMatchObject({ codec: 'H264', audioCodec: 'opus', frameWidth: 320, frameHeight: 240 });

    guest.say('/quit');
    expect(await guest.exitCode(15_000)).toBe(0);
    expect(await host.next('partner-left', 10_000)).toMatchObject({ reason: 'leave' });
    // No hub to go back to: the private call is over, and so is the run.
    expect(await host.exitCode(15_000)).toBe(0);
    expect(await host.next('closed', 1000)).toMatchObject({ reason: 'partner-left', partners: 1, exitCode: 0 });

    // The guest's size, not the host's: the first keyframe's (calls start on the rung the start
    // estimate fits, 160x120 of the guest's 320x240, and step up: one of the guest's rungs).
    const sizes = webmVideoSizes(file);
    expect(sizes).toHaveLength(1);
    expect([[160, 120], [240, 180], [320, 240]]).toContainEqual([sizes[0]!.width, sizes[0]!.height]);
    const p = await probe(file);
    expect(p.codec).toBe('h264');
    // ffprobe reads the size from the stream itself (H.264's SPS may be a later one's).
    expect([[160, 120], [240, 180], [320, 240]]).toContainEqual([p.width, p.height]);
    expect(p.frames).toBeGreaterThanOrEqual(20);
  });

  it('--private with an unknown code ends with the server\'s error code', async () => {
    const lost = connect('lost', ['--private', 'AAAAAAAAAAAAAAAAAAAAAAAA', '--no-video', '--no-audio']);
    expect(await lost.exitCode(15_000)).toBe(1);
    expect(await lost.next('error', 1000)).toMatchObject({ code: 'CHZ_ERR_PRIVATE_NOT_FOUND' });
    expect(lost.stderr).toMatch(/\[CHZ_ERR_PRIVATE_NOT_FOUND\]/);
  });
});
