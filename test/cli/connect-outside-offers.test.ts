// `chatzyo connect` (the real process) against outside stacks' offers (issue 12 item 3): an offer
// without BUNDLE is refused at once with a typed reason instead of "no connection within 20 s of
// the match", and an offer whose bundled sections carry different ICE credentials connects.
import { afterEach, describe, expect, it } from 'vitest';
import { initialModel, reduce } from '../../src/cli/connect-model.js';
import type { SignalServer } from '../../src/signal/server.js';
import { until } from '../helpers/deadline.js';
import { startServer } from '../helpers/server.js';
import { Outsider } from '../helpers/werift-outsider.js';
import { CliProcess } from './cli-process.js';

let server: SignalServer | undefined;
const procs: CliProcess[] = [];
const outsiders: Outsider[] = [];

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  await Promise.all(outsiders.splice(0).map((o) => o.close()));
  await server?.close();
  server = undefined;
});

describe('chatzyo connect and outside offers', () => {
  it('refuses an unbundled offer with CHZ_ERR_NOT_BUNDLED, skips to the next stranger and connects to its per-section-credentials BUNDLE offer', async () => {
    server = await startServer({ rematchCooldownMs: 0 });
    const unbundled = await Outsider.join(server.wsUrl, { bundle: false, distinctCredentials: true });
    outsiders.push(unbundled);
    const cli = new CliProcess('connect', ['connect', '--json', '--server', server.url, '--room', 'tamil', '--no-video', '--no-audio', '--max-partners', '2', '--say', 'hi from connect']);
    procs.push(cli);
    const first = await cli.next('matched', 20_000);
    expect(first.role).toBe('answerer');
    // The next stranger waits already, so it offers when connect comes back to the queue.
    const bundled = await Outsider.join(server.wsUrl, { bundle: true, distinctCredentials: true });
    outsiders.push(bundled);
    await unbundled.offerOnMatch(5000);
    const gaveUp = await cli.next('gave-up', 5000);
    expect(gaveUp).toMatchObject({ matchId: first.matchId, code: 'CHZ_ERR_NOT_BUNDLED' });
    expect(String(gaveUp.reason)).toMatch(/^The partner's offer cannot be answered: the description has 3 media sections and no BUNDLE group/);
    expect((await unbundled.client.next('partner-left', 5000)).reason).toBe('next');

    await bundled.offerOnMatch(10_000);
    const second = await cli.next('connected', 15_000);
    expect(second.matchId).not.toBe(first.matchId);
    await until(() => bundled.chatReceived.includes('hi from connect'), 10_000, 'the outsider got --say');
    bundled.chat.send('hi from outside');
    expect(await cli.next('chat', 10_000)).toMatchObject({ text: 'hi from outside', from: 'partner' });
    cli.say('/quit');
    expect(await cli.exitCode(15_000)).toBe(0);
    expect(await cli.next('closed', 1000)).toMatchObject({ reason: 'closed', partners: 2, exitCode: 0 });
  });

  it('the terminal view shows the refusal with its code', () => {
    const reason = "The partner's offer cannot be answered: the description has 3 media sections and no BUNDLE group (RFC 8843).";
    const m = reduce(initialModel('hub tamil'), { type: 'gave-up', data: { matchId: 'x', reason, code: 'CHZ_ERR_NOT_BUNDLED' } });
    expect(m.notice).toBe(`${reason} [CHZ_ERR_NOT_BUNDLED] Finding another partner.`);
    expect(reduce(initialModel('hub tamil'), { type: 'gave-up', data: { matchId: 'x', reason: 'ICE failed again after a restart' } }).notice)
      .toBe('Could not connect to that partner (ICE failed again after a restart); finding another.');
  });
});
