/**
 * The `probe` screen at a TTY (ink): one block per check that shows a spinner while the check
 * runs and its results once it finishes, then the verdict and the advice. {@link ProbeView} is
 * a pure function of its props; {@link ProbeApp} feeds it from the probe's observer.
 */
import React, { useEffect, useState } from 'react';
import { Box, Text, render } from 'ink';
import type { Probe, ProbeProgress } from '../probe/probe.js';
import type { ProbeReport } from '../probe/report.js';
import { displaySafe } from '../protocol/index.js';
import { sections, type Tone } from './probe-text.js';

/** Spinner frames (the "dots" of cli-spinners). */
export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

const TONE_COLOR: Record<Tone, string | undefined> = { ok: 'green', warn: 'yellow', bad: 'red', info: undefined };
const TONE_MARK: Record<Tone, string> = { ok: '✔', warn: '!', bad: '✖', info: '·' };
const LEVEL_COLOR = { good: 'green', fair: 'yellow', poor: 'red' } as const;

/** Props of the pure view. */
export interface ProbeViewProps {
  progress: ProbeProgress;
  /** Set once the probe has finished. */
  report: ProbeReport | null;
  /** Spinner frame index. */
  frame: number;
}

/** The screen for one snapshot. */
export function ProbeView({ progress, report, frame }: ProbeViewProps): React.JSX.Element {
  return (
    <Box flexDirection="column">
      <Text bold>chatzyo probe</Text>
      {sections(progress).map((s) => (
        <Box key={s.check} flexDirection="column" marginTop={0}>
          <Text>
            {s.state === 'running' ? <Text color="cyan">{SPINNER[frame % SPINNER.length]} </Text> : s.state === 'pending' ? <Text color="gray">○ </Text> : <Text>  </Text>}
            <Text bold color={s.state === 'pending' || s.state === 'skipped' ? 'gray' : undefined}>{s.title}</Text>
            {s.state === 'running' ? <Text color="gray"> checking…</Text> : null}
          </Text>
          {s.rows.map((r, i) => (
            <Box key={i} paddingLeft={4}>
              <Box width={2} flexShrink={0}><Text color={s.state === 'skipped' ? 'gray' : TONE_COLOR[r.tone]}>{TONE_MARK[r.tone]}</Text></Box>
              <Text color={s.state === 'skipped' ? 'gray' : TONE_COLOR[r.tone]}>{r.text}</Text>
            </Box>
          ))}
        </Box>
      ))}
      {report ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold color={LEVEL_COLOR[report.verdict.level]}>{displaySafe(report.verdict.summary)}</Text>
          {report.advice.map((a, i) => <Box key={i} paddingLeft={2}><Box width={2} flexShrink={0}><Text>•</Text></Box><Text>{displaySafe(a)}</Text></Box>)}
          <Text color="gray">probe took {(report.durationMs / 1000).toFixed(1)} s · --json for the full report</Text>
        </Box>
      ) : null}
    </Box>
  );
}

/** The view wired to a probe's events. */
export function ProbeApp({ probe }: { probe: Probe }): React.JSX.Element {
  const [progress, setProgress] = useState<ProbeProgress>(probe.progress);
  const [report, setReport] = useState<ProbeReport | null>(null);
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const offs = [probe.on('progress', setProgress), probe.on('done', setReport)];
    return () => { for (const off of offs) off(); };
  }, [probe]);
  useEffect(() => {
    if (report) return;
    const t = setInterval(() => setFrame((f) => f + 1), 120);
    return () => clearInterval(t);
  }, [report]);
  return <ProbeView progress={progress} report={report} frame={frame} />;
}

/** Renders the app on a terminal; returns a function that unmounts it (after the last frame). */
export function mountProbeView(probe: Probe, stdout: NodeJS.WritableStream): () => Promise<void> {
  const instance = render(<ProbeApp probe={probe} />, {
    stdout: stdout as NodeJS.WriteStream,
    exitOnCtrlC: true,
    patchConsole: false,
    // Rendering shares the thread that times packets: fewer frames, less skew in the RTTs.
    maxFps: 10,
  });
  return async () => {
    // Let React commit the final state before unmounting, so the verdict stays on screen.
    await new Promise((r) => setTimeout(r, 50));
    instance.unmount();
    instance.cleanup();
  };
}
