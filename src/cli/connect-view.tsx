/**
 * The `connect` screen at a TTY (ink): hub, state, partner's candidate type, RTT, bitrates,
 * frame rate, loss, what the partner sends (codecs, picture size), safety number, chat, and the
 * keys n (next), q (quit), Enter (send chat).
 * {@link ConnectView} is a pure function of its props; {@link ConnectApp} feeds it from the
 * session's observer events and turns keys into session calls.
 */
import React, { useEffect, useReducer, useRef, useState } from 'react';
import { Box, Text, render, useInput } from 'ink';
import type { PeerSession, PeerSessionEvents } from '../peer/index.js';
import { displaySafe } from '../protocol/index.js';
import { initialModel, reduce, type ConnectEvent, type ConnectModel } from './connect-model.js';
import { applyChunk, parseReportCommand } from './chat-input.js';

/** Props of the pure view. */
export interface ConnectViewProps {
  model: ConnectModel;
  /** The chat line being typed. */
  input: string;
  /** Enter was pressed on an empty line: every key is text until the next Enter or Esc. */
  composing: boolean;
}

const STATUS_COLOR: Record<ConnectModel['status'], string> = {
  starting: 'gray', waiting: 'yellow', connecting: 'cyan', connected: 'green', 'partner left': 'magenta', reconnecting: 'red', ended: 'gray',
};

function fmt(n: number | null | undefined, unit: string, digits = 0): string {
  return n === null || n === undefined ? '-' : `${n.toFixed(digits)}${unit}`;
}

/** What the partner sends, e.g. `VP8 320x240 + opus` (null before any media). Codec names come from the partner's SDP. */
function receivedMedia(s: ConnectModel['stats']): string | null {
  if (!s || (!s.codec && !s.audioCodec)) return null;
  const video = s.codec ? `${displaySafe(s.codec)}${s.frameWidth && s.frameHeight ? ` ${s.frameWidth}x${s.frameHeight}` : ''}` : '';
  return [video, s.audioCodec ? displaySafe(s.audioCodec) : ''].filter(Boolean).join(' + ');
}

/** What the partner turned off, e.g. "Partner's camera is off" (null when nothing is, or it has not said). */
function partnerMediaLine(p: ConnectModel['partnerMedia']): string | null {
  if (!p || (p.camera && p.mic)) return null;
  return !p.camera && !p.mic ? 'Partner\'s camera and microphone are off' : !p.camera ? 'Partner\'s camera is off' : 'Partner\'s microphone is off';
}

/**
 * The screen for one model. Chat and notices (server errors, partner-supplied interests) are
 * outside text: shown through {@link displaySafe}, so no escape sequence reaches the terminal.
 */
export function ConnectView({ model: m, input, composing }: ConnectViewProps): React.JSX.Element {
  const s = m.stats;
  const media = receivedMedia(s);
  const waiting = m.queuePosition ? `waiting (position ${m.queuePosition})` : 'waiting';
  const statusWords = m.status === 'waiting' ? waiting : m.status === 'partner left' && m.queuePosition ? `partner left · ${waiting}` : m.status;
  const partnerOff = partnerMediaLine(m.partnerMedia);
  return (
    <Box flexDirection="column">
      <Box>
        <Text bold>chatzyo</Text>
        <Text> · {m.where} · </Text>
        <Text color={STATUS_COLOR[m.status]} bold>{statusWords}</Text>
        {m.partner > 0 ? <Text> · partner {m.partner}{m.role ? ` (${m.role})` : ''}</Text> : null}
        {m.candidateType ? <Text> · via {m.candidateType}{m.ipFamily ? ` over IPv${m.ipFamily}` : ''}</Text> : null}
      </Box>
      {m.privateLink ? <Text>Private link: <Text color="cyan">{m.privateLink}</Text></Text> : null}
      <Text>
        RTT {fmt(s?.rttMs, ' ms', 1)}  send {fmt(s?.sendKbps, ' kbit/s')}  recv {fmt(s?.recvKbps, ' kbit/s')}  {fmt(s?.fps, ' fps', 1)}  loss {fmt(s?.lossPercent, '%', 1)}  frames in {s?.framesReceived ?? '-'} / out {s?.framesSent ?? '-'}
      </Text>
      {s?.rungSize ? <Text>Sending {s.rungSize} at {s.targetKbps} kbit/s (rung {(s.rung ?? 0) + 1}), estimate {fmt(s.estimateKbps, ' kbit/s')}{s.fec ? ', with FEC' : ''}</Text> : null}
      {media ? <Text>Receiving {media}</Text> : null}
      {partnerOff ? <Text color="yellow">{partnerOff}</Text> : null}
      <Text>Safety number: {m.safetyNumber ? <Text bold color="green">{m.safetyNumber}</Text>
        : m.safetyProblem === 'failed' ? <Text bold color="red">FAILED (someone may be in the middle)</Text>
          : m.safetyProblem === 'unavailable' ? <Text color="yellow">unavailable</Text> : <Text color="gray">-</Text>}</Text>
      <Box flexDirection="column" borderStyle="round" borderColor="gray" paddingX={1} minHeight={4}>
        {m.chat.length === 0 ? <Text color="gray">No messages yet.</Text> : m.chat.slice(-8).map((c, i) => (
          <Text key={i}>
            <Text color={c.from === 'you' ? 'cyan' : c.from === 'partner' ? 'green' : 'gray'} bold>{c.from === 'you' ? 'You' : c.from === 'partner' ? 'Stranger' : '*'}:</Text> {displaySafe(c.text)}
          </Text>
        ))}
      </Box>
      <Text>{'> '}{input}<Text inverse> </Text></Text>
      <Text color="gray">
        {composing || input ? 'Enter sends · Esc clears' : 'n next · q quit · type to chat, Enter sends (press Enter first to start a line with n or q)'}
      </Text>
      {m.notice ? <Text color="yellow">{displaySafe(m.notice)}</Text> : null}
    </Box>
  );
}

/** Props of the connected app. */
export interface ConnectAppProps {
  session: PeerSession;
  where: string;
  serverUrl: string;
}

const EVENTS: (keyof PeerSessionEvents)[] = [
  'welcome', 'queued', 'private-created', 'matched', 'connected', 'safety', 'safety-problem', 'chat', 'chat-sent', 'partner-media', 'partner-left', 'next', 'reported',
  'gave-up', 'ice-restart', 'stats', 'disconnected', 'server-error', 'warning', 'ended',
];

/** The view wired to a session: events in, keys out. */
export function ConnectApp({ session, where, serverUrl }: ConnectAppProps): React.JSX.Element {
  const [model, dispatch] = useReducer((m: ConnectModel, e: ConnectEvent) => reduce(m, e, serverUrl), where, initialModel);
  const [input, setInputState] = useState('');
  const [composing, setComposingState] = useState(false);
  // Keys can arrive before React re-registers the input handler with fresh state: the handler
  // reads these refs, which are always current.
  const line = useRef({ input: '', composing: false });
  const setInput = (v: string) => { line.current.input = v; setInputState(v); };
  const setComposing = (v: boolean) => { line.current.composing = v; setComposingState(v); };

  useEffect(() => {
    const offs = EVENTS.map((type) => session.on(type, ((data: never) => dispatch({ type, data } as ConnectEvent)) as never));
    return () => { for (const off of offs) off(); };
  }, [session]);

  const tell = (text: string) => dispatch({ type: 'warning', data: { message: text } });

  useInput((ch, key) => {
    if (key.ctrl && ch === 'c') { void session.close('closed'); return; }
    if (key.escape) { setInput(''); setComposing(false); return; }
    // ink names a lone key (Enter, Backspace) and leaves `ch` empty; a burst ("hello\r" from a
    // paste or a script) arrives as text with no flag. Both go through the same line editor.
    const chunk = key.return ? '\r' : key.backspace || key.delete ? '\u007f' : key.ctrl || key.meta ? '' : ch;
    if (!chunk) return;
    const { line: next, actions } = applyChunk(line.current, chunk);
    setInput(next.input);
    setComposing(next.composing);
    for (const a of actions) {
      if (a.type === 'quit') { void session.close('closed'); return; }
      if (a.type === 'next') {
        try { session.next(); } catch { tell('No partner to skip right now.'); }
        continue;
      }
      const report = parseReportCommand(a.text);
      if (report) {
        if ('error' in report) tell(report.error);
        else try { session.report(report.reason); } catch { tell('No partner to report right now.'); }
        continue;
      }
      try {
        if (!session.sendChat(a.text)) tell('The chat is not open yet; message not sent.');
      } catch (err) {
        tell((err as Error).message);
      }
    }
  });

  return <ConnectView model={model} input={input} composing={composing} />;
}

/** Renders the app on a terminal; returns a function that unmounts it. */
export function mountConnectView(
  session: PeerSession,
  opts: { where: string; serverUrl: string; stdout: NodeJS.WritableStream; stdin?: NodeJS.ReadableStream },
): () => void {
  const instance = render(<ConnectApp session={session} where={opts.where} serverUrl={opts.serverUrl} />, {
    stdout: opts.stdout as NodeJS.WriteStream,
    stdin: (opts.stdin ?? process.stdin) as NodeJS.ReadStream,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return () => {
    instance.unmount();
    instance.cleanup();
  };
}
