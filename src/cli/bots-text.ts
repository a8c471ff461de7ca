/** The summary of a `chatzyo bots` run as text for a person (the table printed after the run). */
import type { BotsSummary, Percentiles } from '../bots/index.js';
import { PHASES } from '../bots/index.js';
import { displaySafe } from '../protocol/index.js';

function ms(n: number | undefined): string {
  if (n === undefined) return '-';
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ').trimEnd());
}

/** Rows of the timing table. */
function timingRows(s: Pick<BotsSummary, 'mode' | 'timeToSignalMs' | 'timeToMatchMs' | 'timeToIceMs' | 'timeToDtlsMs' | 'timeToConnectMs' | 'timeToFirstMediaMs'>): string[][] {
  const rows: [string, Percentiles | null][] = [
    ['signal (welcome)', s.timeToSignalMs],
    ['match', s.timeToMatchMs],
    ...(s.mode === 'media'
      ? [['ice', s.timeToIceMs], ['dtls', s.timeToDtlsMs], ['connect', s.timeToConnectMs], ['first media', s.timeToFirstMediaMs]] as [string, Percentiles | null][]
      : [['connect (exchange)', s.timeToConnectMs]] as [string, Percentiles | null][]),
  ];
  return [
    ['time to', 'p50', 'p95', 'p99', 'max', 'count'],
    ...rows.map(([name, p]) => [name, ms(p?.p50), ms(p?.p95), ms(p?.p99), ms(p?.max), String(p?.count ?? 0)]),
  ];
}

/** The summary as lines of text (each through {@link displaySafe}: codes, messages and URLs come from servers). */
export function summaryText(s: BotsSummary): string {
  const out: string[] = [];
  const where = s.servers.length === 1 ? s.servers[0] : `${s.servers.length} servers`;
  out.push(`chatzyo bots · ${s.mode}${s.source === 'ffmpeg' ? ' (ffmpeg per bot)' : ''} · ${s.bots} bots → ${where} · ${(s.durationMs / 1000).toFixed(1)} s (${s.endReason}) · ${s.workers} worker${s.workers === 1 ? '' : 's'}`);
  const failedTotal = s.attempts.failed;
  out.push(`  started ${s.started}/${s.bots}   matched ${s.matched}   connected ${s.connected}   matches ${s.matches}   failed attempts ${failedTotal} (${(s.failRate * 100).toFixed(2)}%)${s.attempts.unfinished ? `   unfinished ${s.attempts.unfinished}` : ''}`);
  out.push('');
  for (const line of pad(timingRows(s))) out.push(`  ${line}`);
  out.push('');
  out.push(`  failed by phase: ${PHASES.filter((p) => s.mode === 'media' ? p !== 'exchange' : !['ice', 'dtls', 'media'].includes(p)).map((p) => `${p} ${s.failed[p]}`).join(' · ')}`);
  const codes = Object.entries(s.failureCodes);
  if (codes.length) out.push(`  failures: ${codes.map(([c, n]) => `${c} ×${n}`).join(', ')}`);
  if (s.mode === 'media') {
    if (s.recvBitrateKbps && s.lossPercent) {
      out.push(`  receive per bot: ${s.recvBitrateKbps.p50} kbit/s median, ${s.recvBitrateKbps.p5} p5, ${s.recvBitrateKbps.min} min (video ${s.recvVideoKbps?.p50} median; clip ${s.clip?.videoKbps ?? '?'} + ${s.clip?.audioKbps ?? '?'} kbit/s)`);
      out.push(`  loss per bot: ${s.lossPercent.p50}% median, ${s.lossPercent.p95}% p95, ${s.lossPercent.max}% max, ${s.lossPercent.overall}% overall`);
    } else {
      out.push('  receive per bot: no bot received media for a second');
    }
    const q = s.quality;
    if (q) {
      out.push(`  viewer per bot${q.network ? ` (behind ${q.network})` : ''}: ${q.fps.p50} fps median, ${q.fps.p5} p5 · freeze ratio ${q.freezeRatio.p50} median, ${q.freezeRatio.p95} p95`
        + `${q.latencyMs ? ` · latency ${ms(q.latencyMs.p50)} p50, ${ms(q.latencyMs.p95)} p95` : ''}${q.mos ? ` · MOS ${q.mos.p50} median, ${q.mos.p5} p5` : ''}${q.rttMs ? ` · call RTT ${ms(q.rttMs.p50)} p50` : ''}`);
    } else if (s.quality === null) {
      out.push('  viewer per bot: no bot rendered video');
    }
  }
  out.push(`  signals relayed: ${s.signals.sent} sent, ${s.signals.received} received`);
  const errs = Object.entries(s.serverErrors);
  out.push(`  server errors: ${errs.length ? errs.map(([c, n]) => `${c} ×${n}`).join(', ') : 'none'}`);
  if (s.serverErrors.CHZ_ERR_TOO_MANY_CONNECTIONS) {
    out.push(`  hint: the server limits connections per address; start it with --max-connections-per-address ${s.bots + 10} for this run.`);
  }
  if (s.serverGone) out.push(`  the server ${s.serverGone.server} went away (close ${s.serverGone.code})`);
  const c = s.cpu;
  out.push(`  bots' CPU: ${c.percentOfCore}% of a core${c.childrenMs ? ` (encoders ${(c.childrenMs / 1000).toFixed(1)} s)` : ''}${c.steadyPercentOfCore !== null ? `, steady ${c.steadyPercentOfCore}% (${c.perBotPercent}% per bot)` : ''} · memory ${s.memory.rssMb} MB (peak ${s.memory.peakRssMb} MB, ${s.memory.perBotKb} KB per bot)`);
  for (const w of s.warnings.slice(0, 5)) out.push(`  warning: ${w}`);
  out.push('');
  for (const t of s.thresholds) out.push(`  ${t.passed ? '✔' : '✖'} ${t.message}`);
  out.push(s.passed ? 'PASSED' : 'FAILED');
  return out.map(displaySafe).join('\n') + '\n';
}
