/**
 * A bots run as JUnit XML (`chatzyo bots --junit FILE`), the format GitHub Actions (test
 * reporters), GitLab (`artifacts:reports:junit`) and Jenkins (`junit` step) read: one
 * testsuite `chatzyo bots`, one testcase per threshold (classname `chatzyo.bots.thresholds`)
 * and one per phase of a bot's attempt (classname `chatzyo.bots.phases`), a `<failure>` with
 * the measured value and the limit for each that did not hold, and the summary's numbers as
 * `<properties>`. Pure: the CLI writes the string.
 */
import type { BotsSummary, Percentiles } from './stats.js';
import { PHASES, type Phase } from './links.js';
import { BOTS_DEFAULTS } from './options.js';

/** XML 1.0 text: escaped, and without the control characters XML cannot carry. */
function esc(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The phases a run of this mode goes through. */
function phasesOf(mode: BotsSummary['mode']): Phase[] {
  return PHASES.filter((p) => (mode === 'media' ? p !== 'exchange' : !['ice', 'dtls', 'media'].includes(p)));
}

function timingOf(s: BotsSummary, p: Phase): Percentiles | null {
  switch (p) {
    case 'signal': return s.timeToSignalMs;
    case 'match': return s.timeToMatchMs;
    case 'exchange': return s.timeToConnectMs;
    case 'ice': return s.timeToIceMs;
    case 'dtls': return s.timeToDtlsMs;
    case 'media': return s.timeToFirstMediaMs;
  }
}

/** The summary's numbers, flat, for `<properties>`. */
function summaryProperties(s: BotsSummary): [string, string][] {
  const out: [string, string][] = [
    ['mode', s.mode], ['servers', s.servers.join(',')], ['bots', String(s.bots)], ['started', String(s.started)],
    ['matched', String(s.matched)], ['connected', String(s.connected)], ['matches', String(s.matches)],
    ['attempts.succeeded', String(s.attempts.succeeded)], ['attempts.failed', String(s.attempts.failed)], ['failRate', String(s.failRate)],
    ['endReason', s.endReason], ['durationMs', String(s.durationMs)], ['passed', String(s.passed)],
  ];
  const pct = (name: string, p: Percentiles | null) => { if (p) out.push([`${name}.p50`, String(p.p50)], [`${name}.p95`, String(p.p95)], [`${name}.max`, String(p.max)]); };
  pct('timeToMatchMs', s.timeToMatchMs);
  pct('timeToConnectMs', s.timeToConnectMs);
  pct('timeToFirstMediaMs', s.timeToFirstMediaMs);
  if (s.recvBitrateKbps) out.push(['recvBitrateKbps.p50', String(s.recvBitrateKbps.p50)], ['recvBitrateKbps.p5', String(s.recvBitrateKbps.p5)]);
  if (s.lossPercent) out.push(['lossPercent.p50', String(s.lossPercent.p50)], ['lossPercent.overall', String(s.lossPercent.overall)]);
  const q = s.quality;
  if (q) {
    if (q.network) out.push(['network', q.network]);
    out.push(['quality.bots', String(q.bots)], ['fps.p50', String(q.fps.p50)], ['fps.p5', String(q.fps.p5)],
      ['freezeRatio.p50', String(q.freezeRatio.p50)], ['freezeRatio.p95', String(q.freezeRatio.p95)]);
    if (q.latencyMs) out.push(['latencyMs.p50', String(q.latencyMs.p50)], ['latencyMs.p95', String(q.latencyMs.p95)]);
    if (q.mos) out.push(['mos.p50', String(q.mos.p50)], ['mos.p5', String(q.mos.p5)]);
  }
  return out;
}

/**
 * The JUnit XML of a run. A phase fails when the attempts that failed in it are more than the
 * allowed fail rate (`--max-fail-rate`, default 1%) of all finished attempts.
 */
export function junitXml(s: BotsSummary, opts: { maxFailRate?: number; timestamp?: Date } = {}): string {
  const maxFailRate = opts.maxFailRate ?? BOTS_DEFAULTS.maxFailRate;
  const cases: string[] = [];
  let failures = 0;
  for (const t of s.thresholds) {
    const body = t.passed ? '' : `\n      <failure type="${esc(t.name)}" message="${esc(`${t.message} (measured ${t.value ?? 'nothing'}, limit ${t.limit ?? 'none'})`)}">measured: ${esc(String(t.value ?? 'nothing'))}\nlimit: ${esc(String(t.limit ?? 'none'))}\n${esc(t.message)}</failure>\n    `;
    if (!t.passed) failures++;
    cases.push(`    <testcase classname="chatzyo.bots.thresholds" name="${esc(t.name)}" time="0">${body}</testcase>`);
  }
  const finished = s.attempts.failed + s.attempts.succeeded;
  for (const p of phasesOf(s.mode)) {
    const failed = s.failed[p] ?? 0;
    const share = finished > 0 ? failed / finished : 0;
    const timing = timingOf(s, p);
    const ok = share <= maxFailRate;
    if (!ok) failures++;
    const codes = Object.entries(s.failureCodes).map(([c, n]) => `${c} x${n}`).join(', ');
    const out = timing ? `<system-out>${esc(`p50 ${timing.p50} ms, p95 ${timing.p95} ms, p99 ${timing.p99} ms, max ${timing.max} ms over ${timing.count}`)}</system-out>` : '';
    const body = ok ? out : `\n      <failure type="phase-${esc(p)}" message="${esc(`${failed} of ${finished} attempts failed in ${p} (${(share * 100).toFixed(2)}% > ${(maxFailRate * 100).toFixed(2)}%)`)}">measured: ${esc((share * 100).toFixed(2))}%\nlimit: ${esc((maxFailRate * 100).toFixed(2))}%\n${esc(codes)}</failure>\n      ${out}\n    `;
    cases.push(`    <testcase classname="chatzyo.bots.phases" name="${esc(p)}" time="${((timing?.p95 ?? 0) / 1000).toFixed(3)}">${body}</testcase>`);
  }
  const props = summaryProperties(s).map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v)}"/>`).join('\n');
  const ts = (opts.timestamp ?? new Date()).toISOString().replace(/\.\d+Z$/, '');
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="chatzyo bots" tests="${cases.length}" failures="${failures}" errors="0" time="${(s.durationMs / 1000).toFixed(3)}">
  <testsuite name="chatzyo bots" tests="${cases.length}" failures="${failures}" errors="0" skipped="0" time="${(s.durationMs / 1000).toFixed(3)}" timestamp="${ts}">
    <properties>
${props}
    </properties>
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}
