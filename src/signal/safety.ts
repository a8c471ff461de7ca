/**
 * Reports that lead somewhere, without identities: each client is known by an anonymous token
 * and a keyed hash of its address (anon-identity.ts). A report counts when the reporter was in
 * the call for a few seconds and is within its report quota; when people distinct in both token
 * and network (IPv4 address or IPv6 /48, see {@link distinctReporters}) reported one person
 * often enough within the ban window, that person's token and address are banned, for longer
 * each time. One reporter, or many from one address or one IPv6 /48, can never get anyone banned.
 */
import type { Logger } from 'pino';
import { ReportReason } from '../protocol/index.js';
import { AnonIdentity, randomSecret } from './anon-identity.js';
import type { ServerMetrics } from './metrics.js';
import type { SignalServerOptions } from './options.js';
import { RedisSafetyStore } from './redis-safety-store.js';
import {
  distinctReporters, MemorySafetyStore, subjectKey, subjectsOf, type Ban, type Identity, type ReportRecord, type SafetyStore, type Subject,
} from './safety-store.js';

/** How a report ended: counted toward a ban, or why not. */
export type ReportOutcome = 'counted' | 'too-short' | 'rate-limited' | 'unknown-partner';

/** Escalation is remembered this long after a ban by reports (at least; longer for long bans). */
const STRIKE_MEMORY_MS = 30 * 24 * 3_600_000;
/** Most subjects the admin API lists. */
const ADMIN_LIST_MAX = 500;

/** One reported subject as the admin API shows it. */
export interface ReportedSummary {
  kind: Subject['kind'];
  id: string;
  total: number;
  byReason: Record<string, number>;
  /** Reporters distinct in token and network (IPv4 address, IPv6 /48): the number compared with --ban-after-reports. */
  distinctReporters: number;
  lastAt: number;
}

/** The safety policy of one server: identities, reports, bans. */
export class Safety {
  readonly identity: AnonIdentity;
  readonly #store: SafetyStore;
  readonly #o: SignalServerOptions;
  readonly #metrics: ServerMetrics;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(store: SafetyStore, secret: string, o: SignalServerOptions, metrics: ServerMetrics, log: Logger, now: () => number = Date.now) {
    this.#store = store;
    this.identity = new AnonIdentity(secret);
    this.#o = o;
    this.#metrics = metrics;
    this.#log = log;
    this.#now = now;
  }

  /**
   * Opens the store (Redis with `redisUrl`) and settles the secret: `safetySecret`, else the
   * one the deployment stored in Redis (the first node to start stores it), else a random one.
   */
  static async start(o: SignalServerOptions, metrics: ServerMetrics, log: Logger): Promise<Safety> {
    const store: SafetyStore = o.redisUrl ? await RedisSafetyStore.connect(o.redisUrl, { log }) : new MemorySafetyStore();
    try {
      const secret = o.safetySecret ?? await store.sharedSecret(randomSecret());
      return new Safety(store, secret, o, metrics, log);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Reports older than this no longer count toward a ban. */
  get banWindowMs(): number { return this.#o.banWindowMs; }

  /** The identity a hello's token carries, or a fresh one (with its token) when it has none or a forged one. */
  identify(token: string | undefined): { anonId: string; token: string } {
    const anonId = token === undefined ? null : this.identity.verify(token);
    return anonId !== null && token !== undefined ? { anonId, token } : this.identity.mint();
  }

  /** Makes a connected client's identity known to reporters on every node. */
  async register(clientId: string, who: Identity): Promise<void> {
    await this.#store.register(clientId, who);
  }

  /** The client disconnected: its identity stays known to reporters for WHO_KEEP_AFTER_DISCONNECT_MS (safety-store.ts). */
  async forget(clientId: string): Promise<void> {
    await this.#store.forget(clientId);
  }

  /** Milliseconds until the longest ban on this identity ends, or null when it is not banned. */
  async bannedFor(who: Identity): Promise<number | null> {
    const bans = await this.#store.bansOf(subjectsOf(who));
    if (!bans.length) return null;
    return Math.max(1, Math.max(...bans.map((b) => b.until)) - this.#now());
  }

  /**
   * Handles one report of the partner `reportedClientId` by `reporter`, who has been in the call
   * for `inCallMs`. Counted per reason in /metrics whatever the outcome.
   */
  async report(r: { reporter: Identity; reporterSession: string; reportedClientId: string; reason: ReportReason; inCallMs: number }): Promise<{ outcome: ReportOutcome; retryAfterMs?: number }> {
    this.#metrics.reports.inc({ reason: r.reason });
    const outcome = await this.#judge(r);
    this.#metrics.reportOutcomes.inc({ outcome: outcome.outcome });
    return outcome;
  }

  async #judge(r: { reporter: Identity; reporterSession: string; reportedClientId: string; reason: ReportReason; inCallMs: number }): Promise<{ outcome: ReportOutcome; retryAfterMs?: number }> {
    const o = this.#o;
    // Seconds in a call are the price of a report: a reporter cannot skip through strangers reporting each.
    if (r.inCallMs < o.reportMinCallMs) return { outcome: 'too-short' };
    const wait = await this.#store.takeReportQuota(subjectsOf(r.reporter), o.maxReports, o.reportWindowMs);
    if (wait > 0) return { outcome: 'rate-limited', retryAfterMs: wait };
    const reported = await this.#store.identityOf(r.reportedClientId);
    if (!reported || reported.anonId === r.reporter.anonId) return { outcome: 'unknown-partner' };
    const record: ReportRecord = {
      at: this.#now(), reporterAnon: r.reporter.anonId, reporterAddr: r.reporter.addressHash,
      // Reporters are told apart by network (IPv6 /48), bans still hold per address (IPv6 /64).
      ...(r.reporter.reporterNetHash !== undefined ? { reporterNet: r.reporter.reporterNetHash } : {}),
      reason: r.reason,
    };
    const subjects = subjectsOf(reported);
    const recent = await this.#store.addReport(subjects, record, o.banWindowMs);
    if (recent.some((reports) => distinctReporters(reports) >= o.banAfterReports)) {
      const strikeTtl = Math.max(STRIKE_MEMORY_MS, 2 * Math.max(...o.banDurationsMs));
      const bans = await this.#store.banByReports(subjects, o.banDurationsMs, strikeTtl);
      if (bans) {
        this.#metrics.bans.inc({ by: 'reports' });
        this.#log.info({ anonId: reported.anonId, addr: reported.addressHash, level: bans[0]!.level, untilMs: bans[0]!.until, reporterSession: r.reporterSession }, 'banned after reports');
      }
    }
    return { outcome: 'counted' };
  }

  /** Subjects reported within the ban window, most recent first (the admin API's `reports`). */
  async recentReports(): Promise<ReportedSummary[]> {
    const rows = await this.#store.recentReports(this.#o.banWindowMs, ADMIN_LIST_MAX);
    return rows.map(({ subject, reports }) => {
      const byReason: Record<string, number> = {};
      for (const rep of reports) byReason[rep.reason] = (byReason[rep.reason] ?? 0) + 1;
      return {
        kind: subject.kind, id: subject.id, total: reports.length, byReason,
        distinctReporters: distinctReporters(reports), lastAt: Math.max(...reports.map((x) => x.at)),
      };
    });
  }

  /** Bans in force. */
  async bans(): Promise<Ban[]> {
    return this.#store.bans(ADMIN_LIST_MAX);
  }

  /** An admin's ban of a token's id or an address hash. */
  async ban(subject: Subject, durationMs: number): Promise<Ban> {
    const ban = await this.#store.banByAdmin(subject, durationMs);
    this.#metrics.bans.inc({ by: 'admin' });
    this.#log.info({ subject: subjectKey(subject), durationMs }, 'banned by an admin');
    return ban;
  }

  /** An admin lifts a ban; false when there was none. */
  async unban(subject: Subject): Promise<boolean> {
    const had = await this.#store.unban(subject);
    this.#log.info({ subject: subjectKey(subject), had }, 'unbanned by an admin');
    return had;
  }

  /** Everything the safety records hold, as counts (the admin API's `export`). */
  async export(): Promise<{ exportedAt: string; banWindowMs: number; reasons: Record<string, number>; reported: ReportedSummary[]; bans: Ban[] }> {
    const [totals, reported, bans] = await Promise.all([this.#store.reasonTotals(), this.recentReports(), this.bans()]);
    const reasons = Object.fromEntries(ReportReason.options.map((r) => [r, totals[r] ?? 0]));
    return { exportedAt: new Date(this.#now()).toISOString(), banWindowMs: this.#o.banWindowMs, reasons, reported, bans };
  }

  async close(): Promise<void> {
    await this.#store.close();
  }
}
