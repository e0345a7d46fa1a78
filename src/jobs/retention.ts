/**
 * Snapshot retention (`owb forget`), with restic's semantics (internal/data/snapshot_policy.go, restic 0.17):
 *
 * - Snapshots are sorted newest first. Each counting rule (last, hourly, daily, weekly, monthly, yearly) keeps
 *   a snapshot when its bucket key (wall-clock hour, day, ISO year+week, month, year) differs from the key of
 *   the last snapshot that rule kept, until the rule's count is used up; -1 means unlimited.
 * - A rule that still has counts left when it reaches the oldest snapshot keeps that one too
 *   ("oldest daily snapshot"), so a short history is kept whole (restic ≥ 0.17 documents this).
 * - keep-within and keep-within-{hourly,…} measure back from the NEWEST snapshot that is not in the future,
 *   never from the clock, so a machine that stopped backing up does not lose its history.
 * - keep-tag keeps every snapshot carrying all tags of one of the given lists ("a,b" = a and b).
 *
 * Bucket keys come from the wall clock in one IANA time zone (default: the local zone). restic reads the
 * offset stored in each snapshot's timestamp; owb stores UTC, so the zone is chosen here instead. Across a
 * DST change this means: 00:30 on two consecutive days are two days (even if only 23 or 25 hours apart),
 * and the two 02:30s of the repeated autumn hour share ONE hourly bucket, as restic's wall-clock key does.
 */
import { DamagedRepoError, UsageError } from '../errors.js';

/** What a rule needs to know of a snapshot. */
export interface PolicySnapshot {
  id: string;
  /** RFC 3339 time. */
  time: string;
  hostname: string;
  paths: readonly string[];
  tags: readonly string[];
}

/** A retention policy. Counts: 0 or absent = rule off, -1 = unlimited. Durations: like `30d`, `1y2m3d4h`. */
export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  /** Each entry is a tag or a comma-separated tag list that a snapshot must carry in full. */
  keepTags?: readonly string[];
}

/** One snapshot's fate and the rules that kept it (empty when removed). */
export interface RetentionDecision<S extends PolicySnapshot = PolicySnapshot> {
  snapshot: S;
  keep: boolean;
  reasons: string[];
}

/** A calendar duration, as restic's `Duration`. */
export interface RetentionDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/** Fields snapshots can be grouped by. */
export type GroupByField = 'host' | 'paths' | 'tags';

/** The key of one group; a field is null when snapshots are not grouped by it. */
export interface GroupKey {
  hostname: string | null;
  paths: string[] | null;
  tags: string[] | null;
}

/** The policy's verdict for one group. */
export interface GroupPlan<S extends PolicySnapshot = PolicySnapshot> {
  key: GroupKey;
  /** Newest first. */
  decisions: RetentionDecision<S>[];
}

const COUNT_RULES = [
  ['keepLast', 'last'],
  ['keepHourly', 'hourly'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
  ['keepYearly', 'yearly'],
] as const;

const WITHIN_RULES = [
  ['keepWithinHourly', 'hourly'],
  ['keepWithinDaily', 'daily'],
  ['keepWithinWeekly', 'weekly'],
  ['keepWithinMonthly', 'monthly'],
  ['keepWithinYearly', 'yearly'],
] as const;

type BucketKind = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

/** Parses a `--keep-*` count: a whole number, or -1 / `unlimited` for no limit. */
export function parseKeepCount(value: string, flag = '--keep-*'): number {
  if (value === 'unlimited') return -1;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag}: "${value}" is not a number (or "unlimited")`);
  const n = Number(value);
  if (n < -1) throw new UsageError('negative values other than -1 are not allowed for --keep-*');
  return n;
}

/** Parses restic's duration syntax (`1y5m7d2h`; m = months). Empty means zero, i.e. the rule is off. */
export function parseDuration(value: string): RetentionDuration {
  const d: RetentionDuration = { years: 0, months: 0, days: 0, hours: 0 };
  let rest = value.trim();
  while (rest !== '') {
    const m = /^(-?\d+)([a-zA-Z]?)/.exec(rest);
    if (!m) throw new UsageError(`invalid duration "${value}": expected something like 1y5m7d2h`);
    const num = Number(m[1]);
    if (!m[2]) throw new UsageError(`invalid duration "${value}": no unit after number ${num}`);
    if (num < 0) throw new UsageError('durations containing negative values are not allowed for --keep-within*');
    const unit = { y: 'years', m: 'months', d: 'days', h: 'hours' }[m[2]] as keyof RetentionDuration | undefined;
    if (!unit) throw new UsageError(`invalid duration "${value}": unknown unit "${m[2]}" (use y, m, d or h)`);
    d[unit] = num; // as restic: a repeated unit overrides the earlier one
    rest = rest.slice(m[0].length);
  }
  return d;
}

/** Canonical text of a duration (`1y2m3d4h`, zero parts left out), as restic prints it in reasons. */
export function formatRetentionDuration(d: RetentionDuration): string {
  return `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
}

function isZero(d: RetentionDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** Parses `--group-by` (`host,paths,tags`, singular forms too); an empty string means one single group. */
export function parseGroupBy(value: string): GroupByField[] {
  const out = new Set<GroupByField>();
  for (const part of value.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const f = ({ host: 'host', hosts: 'host', path: 'paths', paths: 'paths', tag: 'tags', tags: 'tags' } as const)[part];
    if (!f) throw new UsageError(`unknown grouping option "${part}" (use host, paths and/or tags)`);
    out.add(f);
  }
  return (['host', 'paths', 'tags'] as const).filter((f) => out.has(f));
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** Wall-clock arithmetic in one time zone through Intl (no dependency). */
class Calendar {
  private readonly fmt: Intl.DateTimeFormat;

  constructor(timeZone: string | undefined) {
    try {
      this.fmt = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new UsageError(`unknown time zone "${String(timeZone)}"`);
    }
  }

  wall(ms: number): Wall {
    const w: Record<string, number> = {};
    for (const p of this.fmt.formatToParts(ms)) if (p.type !== 'literal') w[p.type] = Number(p.value);
    return { year: w.year!, month: w.month!, day: w.day!, hour: w.hour! % 24, minute: w.minute!, second: w.second! };
  }

  /** Zone offset in ms at an instant. */
  private offset(ms: number): number {
    const whole = ms - mod(ms, 1000);
    return utcOf(this.wall(whole)) - whole;
  }

  /**
   * Instant of a wall-clock time (given as if it were UTC). A time skipped or repeated by a DST change is
   * resolved as Go's time.Date resolves it (which of the two instants depends on the zone's side of UTC).
   */
  instant(wallMs: number): number {
    return wallMs - this.offset(wallMs - this.offset(wallMs));
  }
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

function utcOf(w: Wall): number {
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999. Overflowing fields carry over.
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, 0);
  return d.getTime();
}

/** ISO 8601 week-numbering year and week, as Go's Time.ISOWeek. */
export function isoWeek(year: number, month: number, day: number): [number, number] {
  const date = utcOf({ year, month, day, hour: 0, minute: 0, second: 0 });
  const weekday = mod(new Date(date).getUTCDay() + 6, 7); // Monday = 0
  const thursday = new Date(date + (3 - weekday) * 86_400_000);
  const weekYear = thursday.getUTCFullYear();
  const jan1 = utcOf({ year: weekYear, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
  return [weekYear, Math.floor((thursday.getTime() - jan1) / (7 * 86_400_000)) + 1];
}

function bucketKey(kind: BucketKind, w: Wall, nr: number): number {
  switch (kind) {
    case 'last':
      return nr;
    case 'hourly':
      return w.year * 1_000_000 + w.month * 10_000 + w.day * 100 + w.hour;
    case 'daily':
      return w.year * 10_000 + w.month * 100 + w.day;
    case 'weekly': {
      const [y, wk] = isoWeek(w.year, w.month, w.day);
      return y * 100 + wk;
    }
    case 'monthly':
      return w.year * 100 + w.month;
    case 'yearly':
      return w.year;
  }
}

function timeOf(s: PolicySnapshot): number {
  const t = Date.parse(s.time);
  if (Number.isNaN(t)) throw new DamagedRepoError(`snapshot ${s.id.slice(0, 8)} has an invalid time "${s.time}"`);
  return t;
}

/** Sorts newest first; equal times are ordered by id so the result never depends on the input order. */
function newestFirst<S extends PolicySnapshot>(snapshots: readonly S[]): { snap: S; t: number }[] {
  return snapshots
    .map((snap) => ({ snap, t: timeOf(snap) }))
    .sort((a, b) => b.t - a.t || (a.snap.id < b.snap.id ? -1 : a.snap.id > b.snap.id ? 1 : 0));
}

/** Throws UsageError for invalid values, or for a policy that keeps nothing (it would remove everything). */
export function validatePolicy(policy: RetentionPolicy): void {
  let any = (policy.keepTags ?? []).some((t) => t.trim() !== '');
  for (const [field] of COUNT_RULES) {
    const n = policy[field] ?? 0;
    if (!Number.isInteger(n)) throw new UsageError(`${field} must be a whole number`);
    if (n < -1) throw new UsageError('negative values other than -1 are not allowed for --keep-*');
    if (n !== 0) any = true;
  }
  for (const field of ['keepWithin', ...WITHIN_RULES.map(([f]) => f)] as const) {
    if (!isZero(parseDuration(policy[field] ?? ''))) any = true;
  }
  if (!any) throw new UsageError('no policy given: refusing to remove all snapshots');
}

/**
 * Applies a policy to ONE group of snapshots, as of `now` (snapshots after `now` never count as the newest).
 * Returns one decision per snapshot, newest first. Pure: the same input in any order gives the same output.
 */
export function applyPolicy<S extends PolicySnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  now: Date,
  timeZone?: string,
): RetentionDecision<S>[] {
  validatePolicy(policy);
  const cal = new Calendar(timeZone);
  const list = newestFirst(snapshots);
  const nowMs = now.getTime();
  // restic: the newest snapshot not in the future anchors keep-within; with none, every snapshot is "within".
  const anchor = list.find((e) => e.t < nowMs)?.t;
  const cutoff = (text: string | undefined): { label: string; after: number } | undefined => {
    const d = parseDuration(text ?? '');
    if (isZero(d)) return undefined;
    const label = formatRetentionDuration(d);
    if (anchor === undefined) return { label, after: -Infinity };
    const w = cal.wall(anchor);
    const wallMs = utcOf({ ...w, year: w.year - d.years, month: w.month - d.months, day: w.day - d.days }) + mod(anchor, 1000);
    return { label, after: cal.instant(wallMs) - d.hours * 3_600_000 };
  };

  const tagLists = (policy.keepTags ?? []).map((t) => t.split(',').map((x) => x.trim()).filter(Boolean)).filter((l) => l.length > 0);
  const within = cutoff(policy.keepWithin);
  const counters = COUNT_RULES.map(([field, kind]) => ({ kind, left: policy[field] ?? 0, last: -1 }));
  const withins = WITHIN_RULES.map(([field, kind]) => ({ kind, range: cutoff(policy[field]), last: -1 }));

  return list.map(({ snap, t }, nr) => {
    const reasons: string[] = [];
    const oldest = nr === list.length - 1;
    const w = cal.wall(t);
    for (const l of tagLists) if (l.every((tag) => snap.tags.includes(tag))) reasons.push(`tag ${l.join(',')}`);
    if (within && t > within.after) reasons.push(`within ${within.label}`);
    for (const c of counters) {
      if (c.left === 0) continue;
      const key = bucketKey(c.kind, w, nr);
      if (key === c.last && !oldest) continue;
      reasons.push(`${key === c.last ? 'oldest ' : ''}${c.kind} snapshot`);
      c.last = key;
      if (c.left > 0) c.left--;
    }
    for (const b of withins) {
      if (!b.range || !(t > b.range.after)) continue;
      const key = bucketKey(b.kind, w, nr);
      if (key === b.last && !oldest) continue;
      reasons.push(`${key === b.last ? 'oldest ' : ''}${b.kind} within ${b.range.label}`);
      b.last = key;
    }
    return { snapshot: snap, keep: reasons.length > 0, reasons };
  });
}

/** Splits snapshots into groups (restic's --group-by); groups come out in a stable order. */
export function groupSnapshots<S extends PolicySnapshot>(
  snapshots: readonly S[],
  groupBy: readonly GroupByField[],
): { key: GroupKey; snapshots: S[] }[] {
  const groups = new Map<string, { key: GroupKey; snapshots: S[] }>();
  for (const s of snapshots) {
    const key: GroupKey = {
      hostname: groupBy.includes('host') ? s.hostname : null,
      paths: groupBy.includes('paths') ? [...s.paths].sort() : null,
      tags: groupBy.includes('tags') ? [...s.tags].sort() : null,
    };
    const k = JSON.stringify(key);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, snapshots: [] }));
    g.snapshots.push(s);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

/** "host h1, paths [/a /b], tags [x]": a group's key for messages. */
export function describeGroup(key: GroupKey): string {
  const parts: string[] = [];
  if (key.hostname !== null) parts.push(`host ${key.hostname}`);
  if (key.paths !== null) parts.push(`paths [${key.paths.join(' ')}]`);
  if (key.tags !== null) parts.push(`tags [${key.tags.join(' ')}]`);
  return parts.length > 0 ? parts.join(', ') : 'all snapshots';
}

/**
 * Groups snapshots and applies the policy to each group. Like restic ≥ 0.17, refuses (UsageError) when the
 * policy would remove every snapshot of a group, e.g. a --keep-tag that matches nothing there.
 */
export function planRetention<S extends PolicySnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  opts: { groupBy: readonly GroupByField[]; now: Date; timeZone?: string },
): GroupPlan<S>[] {
  validatePolicy(policy);
  return groupSnapshots(snapshots, opts.groupBy).map(({ key, snapshots: group }) => {
    const decisions = applyPolicy(group, policy, opts.now, opts.timeZone);
    if (!decisions.some((d) => d.keep)) {
      throw new UsageError(`refusing to delete last snapshot of snapshot group "${describeGroup(key)}"`);
    }
    return { key, decisions };
  });
}
