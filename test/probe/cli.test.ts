// `chatzyo probe` on the command line: help with examples, option parsing and usage errors.
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { capture } from './helpers.js';

function program(out: ReturnType<typeof capture>) {
  const p = buildProgram({ out: out.stream, err: out.stream }).exitOverride();
  for (const c of p.commands) c.exitOverride();
  return p;
}

describe('chatzyo probe (command line)', () => {
  it('is listed, and probe --help explains the checks with examples', async () => {
    const top = capture();
    await expect(program(top).parseAsync(['node', 'chatzyo', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    expect(top.text()).toMatch(/probe/);
    const out = capture();
    await expect(program(out).parseAsync(['node', 'chatzyo', 'probe', '--help'])).rejects.toMatchObject({ exitCode: 0 });
    const help = out.text();
    for (const opt of ['--server', '--stun', '--turn', '--turn-user', '--turn-pass', '--lifetime', '--no-ice', '--ca', '--json', '--require']) expect(help).toContain(opt);
    expect(help).toMatch(/choices:\s+"direct",\s+"relay",\s+"any"/);
    expect(help).toMatch(/With --require KIND:\s+0 calls of that kind will work here, 1 they will not, 3 it could not be measured/);
    expect(help).toMatch(/Examples:\n {2}\$ chatzyo probe --server https:\/\/chat\.example\.com/);
    expect(help).toMatch(/CHATZYO_SERVER/);
  });

  it('refuses a bad --lifetime, and nothing to probe, as usage errors', async () => {
    const out = capture();
    await expect(program(out).parseAsync(['node', 'chatzyo', 'probe', '--stun', 'stun:127.0.0.1', '--lifetime', 'soon'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(out.text()).toMatch(/--lifetime must be a whole number of seconds/);
    const out2 = capture();
    await expect(program(out2).parseAsync(['node', 'chatzyo', 'probe', '--json'])).rejects.toMatchObject({ code: 'CHZ_ERR_USAGE', exitCode: 2, message: expect.stringMatching(/nothing to probe/) });
  });
});
