/**
 * The `bots` screen at a TTY (ink): the ramp as a progress bar, bots by state, rolling
 * percentiles of time to match, connect and first media, failures by phase, server errors and
 * the latest failure messages. {@link BotsView} is a pure function of a progress snapshot;
 * {@link BotsApp} feeds it from the controller's observer.
 */
import React, { useEffect, useState } from 'react';
import { Box, Text, render } from 'ink';
import { PHASES, type BotController, type BotsProgress, type BotState, type Percentiles } from '../bots/index.js';
import { displaySafe } from '../protocol/index.js';

/** Width of the progress bar, in cells. */
export const BAR_WIDTH = 30;

/** A text progress bar: `done` of `total` filled. */
export function bar(done: number, total: number, width = BAR_WIDTH): string {
  const f = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return '█'.repeat(f) + '░'.repeat(width - f);
}

const STATE_COLOR: Partial<Record<BotState, string>> = {
  signaling: 'gray', ready: 'gray', queued: 'yellow', matched: 'cyan', connected: 'green', streaming: 'green', failed: 'red', ended: 'gray',
};

function fmtMs(n: number | undefined): string {
  if (n === undefined) return '-';
  return n >= 1000 ? `${(n / 1000).toFixed(2)}s` : `${Math.round(n)}ms`;
}

function PercentileRow({ name, p }: { name: string; p: Percentiles | null }): React.JSX.Element {
  return (
    <Text>
      <Text>{name.padEnd(12)}</Text>
      {p
        ? <Text>p50 <Text bold>{fmtMs(p.p50).padStart(7)}</Text>  p95 <Text bold>{fmtMs(p.p95).padStart(7)}</Text>  p99 {fmtMs(p.p99).padStart(7)}  max {fmtMs(p.max).padStart(7)}  <Text color="gray">({p.count})</Text></Text>
        : <Text color="gray">-</Text>}
    </Text>
  );
}

/**
 * The screen for one snapshot. Error codes, failure messages and warnings come from servers:
 * shown through {@link displaySafe}.
 */
export function BotsView({ progress: p, servers }: { progress: BotsProgress; servers: string[] }): React.JSX.Element {
  const states = (['signaling', 'ready', 'queued', 'matched', 'connected', 'streaming', 'failed', 'ended'] as BotState[])
    .filter((s) => p.mode === 'media' || s !== 'streaming');
  const phases = PHASES.filter((ph) => (p.mode === 'media' ? ph !== 'exchange' : !['ice', 'dtls', 'media'].includes(ph)));
  const errs = Object.entries(p.serverErrors).map(([c, n]) => [displaySafe(c), n] as const);
  const elapsed = (p.elapsedMs / 1000).toFixed(1);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>chatzyo bots</Text> · {p.mode} · {p.bots} bots → {servers.length === 1 ? displaySafe(servers[0]!) : `${servers.length} servers`}
        {p.stopping ? <Text color="yellow"> · stopping ({p.stopping})</Text> : null}
      </Text>
      <Text>
        ramp <Text color="cyan">{bar(p.started, p.bots)}</Text> {p.started}/{p.bots}  · {elapsed} s{p.durationMs ? ` / ${p.durationMs / 1000} s` : ''}
      </Text>
      <Text>
        {states.map((s, i) => (
          <Text key={s}>{i ? ' · ' : ''}<Text color={p.states[s] ? STATE_COLOR[s] : 'gray'}>{s} {p.states[s]}</Text></Text>
        ))}
      </Text>
      <Text>matched {p.matchedBots} · connected {p.connectedBots} · matches {p.matches} · attempts ok {p.succeeded}, failed <Text color={p.failedTotal ? 'red' : undefined}>{p.failedTotal}</Text></Text>
      <Box flexDirection="column" marginTop={1}>
        <Text color="gray">time to (last 500)</Text>
        <PercentileRow name="match" p={p.rolling.match} />
        <PercentileRow name="connect" p={p.rolling.connect} />
        {p.mode === 'media' ? <PercentileRow name="first media" p={p.rolling.media} /> : null}
      </Box>
      <Box marginTop={1}>
        <Text>failed by phase: {phases.map((ph, i) => <Text key={ph} color={p.failed[ph] ? 'red' : undefined}>{i ? ' · ' : ''}{ph} {p.failed[ph]}</Text>)}</Text>
      </Box>
      <Text>server errors: {errs.length ? <Text color="red">{errs.map(([c, n]) => `${c} ×${n}`).join(', ')}</Text> : <Text color="gray">none</Text>}</Text>
      {p.serverGone ? <Text color="red">the server {displaySafe(p.serverGone.server)} went away (close {p.serverGone.code})</Text> : null}
      {p.errors.map((e, i) => <Text key={`e${i}`} color="red" wrap="truncate-end">  {displaySafe(e)}</Text>)}
      {p.warnings.slice(-3).map((w, i) => <Text key={`w${i}`} color="yellow" wrap="truncate-end">  {displaySafe(w)}</Text>)}
      <Text color="gray">CPU {p.cpuPercent}% of a core · RSS {p.rssMb} MB · Ctrl-C stops and prints the summary</Text>
    </Box>
  );
}

/** The view wired to a controller's progress events. */
export function BotsApp({ controller }: { controller: BotController }): React.JSX.Element | null {
  const [progress, setProgress] = useState<BotsProgress | null>(null);
  useEffect(() => controller.on('progress', setProgress), [controller]);
  if (!progress) return <Text color="gray">chatzyo bots: starting {controller.options.count} {controller.options.mode} bots…</Text>;
  return <BotsView progress={progress} servers={controller.options.servers} />;
}

/** Renders the app on a terminal; returns a function that unmounts it (after the last frame). */
export function mountBotsView(controller: BotController, stdout: NodeJS.WritableStream): () => Promise<void> {
  const instance = render(<BotsApp controller={controller} />, {
    stdout: stdout as NodeJS.WriteStream,
    // Ctrl-C stops the bots (runBots listens for SIGINT) and the summary follows.
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 4,
  });
  return async () => {
    await new Promise((r) => setTimeout(r, 50));
    instance.unmount();
    instance.cleanup();
  };
}
