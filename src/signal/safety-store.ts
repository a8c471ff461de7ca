/**
 * Where reports, bans and the anonymous identities of connected clients live: in this process
 * ({@link MemorySafetyStore}, one node) or in Redis (redis-safety-store.ts, every node sees the
 * same). The rules (who counts as a distinct reporter, how bans escalate) are in safety.ts; a
 * store only keeps and returns records, atomically where two nodes could race.
 */
import type { ReportReason } from '../protocol/index.js';
import { randomSecret } from './anon-identity.js';

/** What a ban or a report attaches to: an anonymous id (token) or an address hash. */
export interface Subject {
  kind: 'anon' | 'addr';
  id: string;
}

/**
 * How long a disconnected client's identity (its token's id and address hash) stays known after
 * it disconnects: someone who shows something and leaves at once can still be reported by the
 * partner of that call.
 */
export const WHO_KEEP_AFTER_DISCONNECT_MS = 2 * 60_000;

/** Most disconnected identities the memory store keeps for {@link WHO_KEEP_AFTER_DISCONNECT_MS} (the oldest go first). */
const WHO_KEEP_MAX = 100_000;

/** A connected client's anonymous identity. */
export interface Identity {
  anonId: string;
  addressHash: string;
  /**
   * The keyed hash of the network reporters are told apart by (anon-identity.ts
   * `hashReporterNet`: the IPv4 address, or the IPv6 /48). Absent: `addressHash` stands for it.
   */
  reporterNetHash?: string | undefined;
}

/** One counted report, kept under each subject of the reported person. */
export interface ReportRecord {
  at: number;
  reporterAnon: string;
  reporterAddr: string;
  /** The reporter's {@link Identity.reporterNetHash}; absent (older records): `reporterAddr` counts instead. */
  reporterNet?: string | undefined;
  reason: ReportReason;
}

/** A ban in force. */
export interface Ban {
  subject: Subject;
  /** When it ends, ms since the epoch. */
  until: number;
  /** 1 for a first ban by reports, 2 for the second, ...; 0 for a ban an admin set. */
  level: number;
  by: 'reports' | 'admin';
}

/** Storage of the safety records; every method may reject when the storage is unreachable. */
export interface SafetyStore {
  /** The deployment's shared secret: the stored one, or `candidate` stored now if there was none. */
  sharedSecret(candidate: string): Promise<string>;
  /** Records who a client on this node is, so a reporter on any node can name it. */
  register(clientId: string, who: Identity): Promise<void>;
  /** The client disconnected: its identity stays known for {@link WHO_KEEP_AFTER_DISCONNECT_MS}, then goes. */
  forget(clientId: string): Promise<void>;
  /** A connected client's identity, or a disconnected one's for {@link WHO_KEEP_AFTER_DISCONNECT_MS}; else null. */
  identityOf(clientId: string): Promise<Identity | null>;
  /**
   * Counts one report against each of the reporter's subjects (fixed window of `windowMs`);
   * 0 when within `limit` for all, else the ms until the fullest window ends.
   */
  takeReportQuota(subjects: Subject[], limit: number, windowMs: number): Promise<number>;
  /** Adds `report` under each subject (dropping reports older than `windowMs`); returns each subject's recent reports. */
  addReport(subjects: Subject[], report: ReportRecord, windowMs: number): Promise<ReportRecord[][]>;
  /**
   * Bans every subject for the next duration of the escalation (the most bans any of them had
   * within `strikeTtlMs`, plus one), unless one of them is banned already (null then), and
   * clears their reports. Atomic: two nodes never ban one person twice for the same reports.
   */
  banByReports(subjects: Subject[], durationsMs: number[], strikeTtlMs: number): Promise<Ban[] | null>;
  /** An admin's ban: replaces any ban of the subject; the escalation count is not touched. */
  banByAdmin(subject: Subject, durationMs: number): Promise<Ban>;
  /** Lifts a ban; false when there was none. The escalation count stays. */
  unban(subject: Subject): Promise<boolean>;
  /** The bans in force on any of the subjects. */
  bansOf(subjects: Subject[]): Promise<Ban[]>;
  /** Every ban in force (at most `max`). */
  bans(max: number): Promise<Ban[]>;
  /** Subjects reported within `windowMs` with their reports (at most `max` subjects, most recent first). */
  recentReports(windowMs: number, max: number): Promise<{ subject: Subject; reports: ReportRecord[] }[]>;
  /** Reports counted per reason since the store began. */
  reasonTotals(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** `anon:ID` / `addr:HASH`. */
export function subjectKey(s: Subject): string {
  return `${s.kind}:${s.id}`;
}

/** The inverse of {@link subjectKey}. */
export function parseSubject(key: string): Subject | null {
  const m = /^(anon|addr):(.+)$/.exec(key);
  return m ? { kind: m[1] as Subject['kind'], id: m[2]! } : null;
}

/** The subjects of an identity: its anonymous id and its address hash. */
export function subjectsOf(who: Identity): Subject[] {
  return [{ kind: 'anon', id: who.anonId }, { kind: 'addr', id: who.addressHash }];
}

/**
 * How many of `reports` come from reporters who are distinct in both token and network: a
 * reporter counts only when neither its token nor its network counted before (greedy, in
 * arrival order, so it never overcounts). The network is the reporter's IPv4 address or IPv6
 * /48 (`reporterNet`; the address hash for records without one). One person with many tokens,
 * many people behind one address, or one subscriber's many IPv6 /64s, count once.
 */
export function distinctReporters(reports: readonly ReportRecord[]): number {
  const anons = new Set<string>();
  const nets = new Set<string>();
  for (const r of [...reports].sort((a, b) => a.at - b.at)) {
    const net = r.reporterNet ?? r.reporterAddr;
    if (anons.has(r.reporterAnon) || nets.has(net)) continue;
    anons.add(r.reporterAnon);
    nets.add(net);
  }
  return anons.size;
}

/** The ban duration for a person banned `previous` times before (the last duration repeats). */
function banDuration(durationsMs: readonly number[], previous: number): number {
  return durationsMs[Math.min(previous, durationsMs.length - 1)]!;
}

/** The in-process {@link SafetyStore}: one node; everything is gone when the process ends. */
export class MemorySafetyStore implements SafetyStore {
  readonly #now: () => number;
  #secret: string | null = null;
  readonly #who = new Map<string, Identity>();
  /** Disconnected clients still in {@link #who}, by when they left (insertion order is that order). */
  readonly #gone = new Map<string, number>();
  readonly #quota = new Map<string, { count: number; resetAt: number }>();
  readonly #reports = new Map<string, ReportRecord[]>();
  readonly #bans = new Map<string, Ban>();
  readonly #strikes = new Map<string, { count: number; expiresAt: number }>();
  readonly #totals: Record<string, number> = {};

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  sharedSecret(candidate: string): Promise<string> {
    this.#secret ??= candidate || randomSecret();
    return Promise.resolve(this.#secret);
  }

  register(clientId: string, who: Identity): Promise<void> {
    this.#pruneGone(this.#now());
    this.#gone.delete(clientId);
    this.#who.set(clientId, who);
    return Promise.resolve();
  }

  forget(clientId: string): Promise<void> {
    const now = this.#now();
    this.#pruneGone(now);
    if (this.#who.has(clientId) && !this.#gone.has(clientId)) {
      this.#gone.set(clientId, now);
      // Bounded: past the cap the identity that left first is forgotten first.
      if (this.#gone.size > WHO_KEEP_MAX) {
        const [oldest] = this.#gone.keys();
        this.#gone.delete(oldest!);
        this.#who.delete(oldest!);
      }
    }
    return Promise.resolve();
  }

  identityOf(clientId: string): Promise<Identity | null> {
    const now = this.#now();
    this.#pruneGone(now);
    const left = this.#gone.get(clientId);
    if (left !== undefined && now - left >= WHO_KEEP_AFTER_DISCONNECT_MS) return Promise.resolve(null);
    return Promise.resolve(this.#who.get(clientId) ?? null);
  }

  /** How many identities the store holds, connected and recently disconnected (for tests). */
  get identities(): number { return this.#who.size; }

  takeReportQuota(subjects: Subject[], limit: number, windowMs: number): Promise<number> {
    const now = this.#now();
    let wait = 0;
    for (const s of subjects) {
      const key = subjectKey(s);
      let q = this.#quota.get(key);
      if (!q || q.resetAt <= now) { q = { count: 0, resetAt: now + windowMs }; this.#quota.set(key, q); }
      q.count++;
      if (q.count > limit) wait = Math.max(wait, q.resetAt - now);
    }
    this.#prune(now);
    return Promise.resolve(wait);
  }

  addReport(subjects: Subject[], report: ReportRecord, windowMs: number): Promise<ReportRecord[][]> {
    const since = this.#now() - windowMs;
    this.#totals[report.reason] = (this.#totals[report.reason] ?? 0) + 1;
    const recent = subjects.map((s) => {
      const key = subjectKey(s);
      const kept = [...(this.#reports.get(key) ?? []).filter((r) => r.at > since), report];
      // Delete and set: the map's order is the order of the latest report (recentReports).
      this.#reports.delete(key);
      this.#reports.set(key, kept);
      return kept;
    });
    this.#prune(since + windowMs, since);
    return Promise.resolve(recent);
  }

  banByReports(subjects: Subject[], durationsMs: number[], strikeTtlMs: number): Promise<Ban[] | null> {
    const now = this.#now();
    if (subjects.some((s) => this.#banOf(s, now))) return Promise.resolve(null);
    const previous = Math.max(0, ...subjects.map((s) => this.#strikesOf(s, now)));
    const until = now + banDuration(durationsMs, previous);
    const bans = subjects.map((subject): Ban => ({ subject, until, level: previous + 1, by: 'reports' }));
    this.#trimBans(now);
    for (const b of bans) {
      const key = subjectKey(b.subject);
      this.#bans.delete(key);
      this.#bans.set(key, b);
      this.#strikes.set(key, { count: previous + 1, expiresAt: now + strikeTtlMs });
      this.#reports.delete(key);
    }
    return Promise.resolve(bans);
  }

  banByAdmin(subject: Subject, durationMs: number): Promise<Ban> {
    const now = this.#now();
    this.#trimBans(now);
    const ban: Ban = { subject, until: now + durationMs, level: 0, by: 'admin' };
    // Delete and set: the map's order stays the order bans were made (see #trimBans).
    this.#bans.delete(subjectKey(subject));
    this.#bans.set(subjectKey(subject), ban);
    return Promise.resolve(ban);
  }

  unban(subject: Subject): Promise<boolean> {
    const had = this.#banOf(subject, this.#now()) !== null;
    this.#bans.delete(subjectKey(subject));
    return Promise.resolve(had);
  }

  bansOf(subjects: Subject[]): Promise<Ban[]> {
    const now = this.#now();
    return Promise.resolve(subjects.map((s) => this.#banOf(s, now)).filter((b): b is Ban => b !== null));
  }

  bans(max: number): Promise<Ban[]> {
    const now = this.#now();
    return Promise.resolve([...this.#bans.values()].filter((b) => b.until > now).slice(0, max));
  }

  recentReports(windowMs: number, max: number): Promise<{ subject: Subject; reports: ReportRecord[] }[]> {
    const since = this.#now() - windowMs;
    const out: { subject: Subject; reports: ReportRecord[] }[] = [];
    for (const [key, reports] of [...this.#reports].reverse()) {
      const recent = reports.filter((r) => r.at > since);
      const subject = parseSubject(key);
      if (recent.length && subject) out.push({ subject, reports: recent });
      if (out.length >= max) break;
    }
    return Promise.resolve(out);
  }

  reasonTotals(): Promise<Record<string, number>> {
    return Promise.resolve({ ...this.#totals });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #banOf(s: Subject, now: number): Ban | null {
    const b = this.#bans.get(subjectKey(s));
    return b && b.until > now ? b : null;
  }

  #strikesOf(s: Subject, now: number): number {
    const st = this.#strikes.get(subjectKey(s));
    return st && st.expiresAt > now ? st.count : 0;
  }

  /** Drops disconnected identities kept past {@link WHO_KEEP_AFTER_DISCONNECT_MS} (oldest first; at most 256 a call). */
  #pruneGone(now: number): void {
    let n = 0;
    for (const [id, left] of this.#gone) {
      if (now - left < WHO_KEEP_AFTER_DISCONNECT_MS || ++n > 256) break;
      this.#gone.delete(id);
      this.#who.delete(id);
    }
  }

  /** Drops ended bans from the oldest made, looking at no more than 64 (called whenever a ban is made). */
  #trimBans(now: number): void {
    let n = 0;
    for (const [k, b] of this.#bans) {
      if (++n > 64) break;
      if (b.until <= now) this.#bans.delete(k);
    }
  }

  /** Drops expired windows, reports and bans, so a long-running node does not keep them forever. */
  #prune(now: number, reportsSince = -Infinity): void {
    if (this.#quota.size < 1024 && this.#bans.size < 1024 && this.#reports.size < 1024) return;
    for (const [k, r] of this.#reports) if (!r.some((x) => x.at > reportsSince)) this.#reports.delete(k);
    for (const [k, q] of this.#quota) if (q.resetAt <= now) this.#quota.delete(k);
    for (const [k, b] of this.#bans) if (b.until <= now) this.#bans.delete(k);
    for (const [k, st] of this.#strikes) if (st.expiresAt <= now) this.#strikes.delete(k);
  }
}
