import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectApp, ConnectView } from '../../src/cli/connect-view.js';
import { initialModel, reduce, type ConnectEvent, type ConnectModel } from '../../src/cli/connect-model.js';
import { PeerSession, type PeerStats } from '../../src/peer/index.js';
import { until } from '../helpers/deadline.js';

const STATS: PeerStats = {
  matchId: 'm1', partner: 2, candidateType: 'host', localCandidateType: 'host', ipFamily: 4, rttMs: 1.2, framesReceived: 120, keyframesReceived: 2,
  bytesReceived: 400_000, packetsReceived: 500, packetsLost: 1, lossPercent: 0.4, framesSent: 118, bytesSent: 380_000,
  audioPacketsReceived: 200, fps: 15, sendKbps: 310, recvKbps: 905, pliReceived: 0,
  pliSent: 1, frameWidth: 320, frameHeight: 240, codec: 'VP8', audioCodec: 'opus',
};

function play(events: ConnectEvent[], where = 'hub tamil'): ConnectModel {
  return events.reduce((m, e) => reduce(m, e, 'http://localhost:8080'), initialModel(where));
}

const sessions: PeerSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

describe('connect screen model', () => {
  it('follows a call: waiting, connecting, connected with numbers and chat, partner left', () => {
    let m = play([{ type: 'queued', data: { hub: 'tamil', position: 1 } }]);
    expect(m).toMatchObject({ status: 'waiting', queuePosition: 1 });
    m = play([
      { type: 'queued', data: { hub: 'tamil', position: 1 } },
      { type: 'matched', data: { matchId: 'm1', role: 'offerer', hub: 'tamil', private: false, commonInterests: ['cricket'], partner: 2 } },
      { type: 'connected', data: { matchId: 'm1', candidateType: 'srflx', localCandidateType: 'host', ipFamily: 4, msFromMatch: 300, restarted: false, reconnected: false } },
      { type: 'safety', data: { matchId: 'm1', safetyNumber: '0412 9981 3307' } },
      { type: 'stats', data: STATS },
      { type: 'chat', data: { matchId: 'm1', text: 'vanakkam' } },
      { type: 'chat-sent', data: { matchId: 'm1', text: 'hello' } },
    ]);
    expect(m).toMatchObject({ status: 'connected', partner: 2, role: 'offerer', candidateType: 'host', ipFamily: 4, safetyNumber: '0412 9981 3307', notice: 'You both like cricket.' });
    expect(m.chat).toEqual([{ from: 'partner', text: 'vanakkam' }, { from: 'you', text: 'hello' }]);
    m = reduce(m, { type: 'partner-left', data: { matchId: 'm1', reason: 'next' } });
    expect(m).toMatchObject({ status: 'partner left', notice: 'Your partner pressed Next.', safetyNumber: null });
  });

  it('shows a private link and a reconnect', () => {
    const m = play([{ type: 'private-created', data: { code: 'abcdefghijklmnopqrstuv', expiresAt: 0 } }], 'private call');
    expect(m.privateLink).toBe('http://localhost:8080/#/call/abcdefghijklmnopqrstuv');
    const r = reduce(m, { type: 'disconnected', data: { code: 4005, willReconnect: true, delayMs: 1500, attempt: 0 } });
    expect(r).toMatchObject({ status: 'reconnecting', notice: 'Lost the server; reconnecting in 1.5 s.' });
  });
});

describe('ConnectView (ink)', () => {
  it('renders hub, state, candidate type, RTT, bitrates, fps, loss, safety number, chat and keys', () => {
    const model = play([
      { type: 'matched', data: { matchId: 'm1', role: 'answerer', hub: 'tamil', private: false, commonInterests: [], partner: 2 } },
      { type: 'connected', data: { matchId: 'm1', candidateType: 'relay', localCandidateType: 'relay', ipFamily: 6, msFromMatch: 300, restarted: false, reconnected: false } },
      { type: 'safety', data: { matchId: 'm1', safetyNumber: '0412 9981 3307' } },
      { type: 'stats', data: { ...STATS, candidateType: 'relay', ipFamily: 6 } },
      { type: 'chat', data: { matchId: 'm1', text: 'hi there' } },
      { type: 'chat-sent', data: { matchId: 'm1', text: 'hello back' } },
    ]);
    const { lastFrame, unmount } = render(<ConnectView model={model} input="typing" composing={false} />);
    const f = lastFrame()!;
    unmount();
    expect(f).toMatch(/chatzyo · hub tamil · connected · partner 2 \(answerer\) · via relay over IPv6/);
    expect(f).toMatch(/RTT 1\.2 ms {2}send 310 kbit\/s {2}recv 905 kbit\/s {2}15\.0 fps {2}loss 0\.4% {2}frames in 120 \/ out 118/);
    expect(f).toMatch(/Receiving VP8 320x240 \+ opus/);
    expect(f).toMatch(/Safety number: 0412 9981 3307/);
    expect(f).toMatch(/Stranger: hi there/);
    expect(f).toMatch(/You: hello back/);
    expect(f).toMatch(/> typing/);
    expect(f).toMatch(/Enter sends · Esc clears/);
  });

  it('shows a failed safety check as a warning, never a number, and an unavailable one as such', () => {
    const matched: ConnectEvent = { type: 'matched', data: { matchId: 'm1', role: 'offerer', hub: 'tamil', private: false, commonInterests: [], partner: 1 } };
    const failed = play([matched, { type: 'safety-problem', data: { matchId: 'm1', state: 'failed', reason: 'the partner\'s nonce does not match its commitment' } }]);
    expect(failed).toMatchObject({ safetyNumber: null, safetyProblem: 'failed', notice: expect.stringMatching(/safety check FAILED/) });
    const unavailable = play([matched, { type: 'safety-problem', data: { matchId: 'm1', state: 'unavailable', reason: 'the partner did not take part' } }]);
    expect(unavailable).toMatchObject({ safetyNumber: null, safetyProblem: 'unavailable' });
    const frames = [failed, unavailable].map((model) => {
      const { lastFrame, unmount } = render(<ConnectView model={model} input="" composing={false} />);
      const f = lastFrame()!;
      unmount();
      return f;
    });
    expect(frames[0]).toMatch(/Safety number: FAILED \(someone may be in the middle\)/);
    expect(frames[1]).toMatch(/Safety number: unavailable/);
    // The next partner starts clean.
    expect(reduce(failed, matched)).toMatchObject({ safetyNumber: null, safetyProblem: null });
  });

  it('shows the waiting position and the key help when idle', () => {
    const { lastFrame, unmount } = render(<ConnectView model={play([{ type: 'queued', data: { hub: 'usa', position: 3 } }], 'hub usa')} input="" composing={false} />);
    const f = lastFrame()!;
    unmount();
    expect(f).toMatch(/hub usa · waiting \(position 3\)/);
    expect(f).toMatch(/n next · q quit · type to chat/);
    expect(f).toMatch(/Safety number: -/);
  });

  it('after a partner left, says so while waiting for the next one', () => {
    const model = play([
      { type: 'matched', data: { matchId: 'm1', role: 'offerer', hub: 'tamil', private: false, commonInterests: [], partner: 1 } },
      { type: 'partner-left', data: { matchId: 'm1', reason: 'leave' } },
      { type: 'queued', data: { hub: 'tamil', position: 1 } },
    ]);
    const { lastFrame, unmount } = render(<ConnectView model={model} input="" composing={false} />);
    const f = lastFrame()!;
    unmount();
    expect(f).toMatch(/hub tamil · partner left · waiting \(position 1\)/);
    expect(f).toMatch(/Your partner left\./);
  });
});

describe('ConnectApp (ink) on a real session', () => {
  function app() {
    const session = new PeerSession({ server: 'http://127.0.0.1:9', target: { kind: 'hub', hub: 'tamil' }, video: null, audio: null });
    sessions.push(session);
    const r = render(<ConnectApp session={session} where="hub tamil" serverUrl="http://127.0.0.1:9" />);
    return { session, ...r };
  }

  it('follows the session\'s events', async () => {
    const { session, lastFrame, unmount } = app();
    try {
      await until(() => lastFrame()!.includes('starting'), 2000, 'first frame');
      session.emit('queued', { hub: 'tamil', position: 2 });
      await until(() => /waiting \(position 2\)/.test(lastFrame()!), 2000, 'waiting shown');
      session.emit('chat', { matchId: 'm', text: 'hello from afar' });
      await until(() => lastFrame()!.includes('Stranger: hello from afar'), 2000, 'chat shown');
    } finally {
      unmount();
    }
  });

  it('n with nothing to skip says so; typed text with no call explains why it was not sent; q ends the session', async () => {
    const { session, lastFrame, stdin, unmount } = app();
    try {
      await until(() => lastFrame()!.includes('starting'), 2000, 'first frame');
      stdin.write('n');
      await until(() => lastFrame()!.includes('No partner to skip right now.'), 2000, 'n explained');
      stdin.write('hey');
      await until(() => lastFrame()!.includes('> hey'), 2000, 'typed text shown');
      stdin.write('\r');
      await until(() => /sendChat\(\) is not allowed in state idle/.test(lastFrame()!), 2000, 'send refused with the state');
      await until(() => /^>\s*$/m.test(lastFrame()!), 2000, 'line cleared');
      // Enter on an empty line starts a message, so it may begin with n or q.
      stdin.write('\r');
      stdin.write('no');
      await until(() => lastFrame()!.includes('> no'), 2000, 'a line starting with n');
      stdin.write('\u001b');
      await until(() => !lastFrame()!.includes('> no'), 2000, 'Esc clears');
      stdin.write('q');
      await until(() => session.state === 'ended', 5000, 'q ends the session');
    } finally {
      unmount();
    }
  });
});
