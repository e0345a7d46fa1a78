import { isNotFound, OwbError, stopIfAborted, UsageError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { findSnapshot, listSnapshots, type Snapshot } from '../repo/snapshot.js';
import { runPrune, type PruneOptions, type PruneResult } from './prune.js';
import {
  groupSnapshots,
  planRetention,
  validatePolicy,
  type GroupByField,
  type GroupKey,
  type RetentionPolicy,
} from './retention.js';

/** Which snapshots a policy looks at (restic's --host/--tag/--path). */
export interface ForgetFilter {
  /** Any of these hosts. */
  hosts?: readonly string[];
  /** Any of these tag lists; a list "a,b" needs both tags. */
  tags?: readonly string[];
  /** Snapshots whose paths include all of these. */
  paths?: readonly string[];
}

/** What `forget` is asked to do: explicit snapshot ids, or a policy. */
export interface ForgetOptions {
  /** Snapshot ids (unique prefixes, or `latest`) to remove; excludes `policy`; filters do not apply to them. */
  ids?: readonly string[];
  policy?: RetentionPolicy;
  /** Default host and paths, as restic; [] puts every snapshot in one group. */
  groupBy?: readonly GroupByField[];
  filter?: ForgetFilter;
  /** Decide and report, remove nothing. */
  dryRun?: boolean;
  /** Reference time for "not in the future" (default: the clock). */
  now?: Date;
  /** IANA zone for calendar buckets (default: the local zone). */
  timeZone?: string;
}

/** One group's outcome; snapshots newest first. */
export interface ForgetGroupReport {
  key: GroupKey;
  keep: { snapshot: Snapshot; reasons: string[] }[];
  remove: Snapshot[];
}

/** The result of runForget. */
export interface ForgetReport {
  groups: ForgetGroupReport[];
  /** Ids removed (or, with dryRun, that would be). */
  removed: string[];
  dryRun: boolean;
}

/** Removals run at most this many at a time, whatever the backend allows. */
const MAX_PARALLEL_REMOVALS = 8;

/**
 * Removes snapshots by policy (per group) or by id. Only snapshot files are removed: their data stays until
 * prune. The caller holds the lock (exclusive unless dryRun).
 */
export async function runForget(repo: Repository, opts: ForgetOptions): Promise<ForgetReport> {
  const ids = opts.ids ?? [];
  if (ids.length > 0 && opts.policy) throw new UsageError('give snapshot ids or a --keep-* policy, not both');
  if (ids.length === 0) validatePolicy(opts.policy ?? {});
  const all = await listSnapshots(repo);
  const groupBy = opts.groupBy ?? ['host', 'paths'];

  let groups: ForgetGroupReport[];
  if (ids.length > 0) {
    const chosen = new Map<string, Snapshot>();
    for (const ref of ids) {
      const s = findSnapshot(all, ref);
      chosen.set(s.id, s);
    }
    // No policy ran, so nothing is listed as kept; the groups only say where each removal belongs.
    groups = groupSnapshots(newestFirst([...chosen.values()]), groupBy).map(({ key, snapshots }) => ({ key, keep: [], remove: snapshots }));
  } else {
    const candidates = all.filter((s) => matchesFilter(s, opts.filter ?? {}));
    groups = planRetention(candidates, opts.policy ?? {}, {
      groupBy,
      now: opts.now ?? new Date(),
      ...(opts.timeZone !== undefined ? { timeZone: opts.timeZone } : {}),
    }).map(({ key, decisions }) => ({
      key,
      keep: decisions.filter((d) => d.keep).map((d) => ({ snapshot: d.snapshot, reasons: d.reasons })),
      remove: decisions.filter((d) => !d.keep).map((d) => d.snapshot),
    }));
  }

  const removed = groups.flatMap((g) => g.remove.map((s) => s.id));
  if (!opts.dryRun) await removeSnapshots(repo, removed);
  return { groups, removed, dryRun: !!opts.dryRun };
}

/** True when a snapshot passes restic-style --host/--tag/--path filters. */
export function matchesFilter(s: Snapshot, f: ForgetFilter): boolean {
  if (f.hosts && f.hosts.length > 0 && !f.hosts.includes(s.hostname)) return false;
  if (f.paths && f.paths.length > 0 && !f.paths.every((p) => s.paths.includes(p))) return false;
  if (f.tags && f.tags.length > 0) {
    const lists = f.tags.map((t) => t.split(',').map((x) => x.trim()).filter(Boolean));
    if (!lists.some((l) => l.every((t) => s.tags.includes(t)))) return false;
  }
  return true;
}

function newestFirst(list: Snapshot[]): Snapshot[] {
  return list.sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? -1 : 1));
}

// Every removal is attempted; a snapshot already gone (another forget) counts as removed.
async function removeSnapshots(repo: Repository, ids: string[]): Promise<void> {
  const failed: string[] = [];
  const queue = [...ids];
  const workers = Math.max(1, Math.min(MAX_PARALLEL_REMOVALS, repo.connections));
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          await repo.removeSnapshot(id);
        } catch (err) {
          if (!isNotFound(err)) failed.push(`${id.slice(0, 8)}: ${(err as Error).message}`);
        }
      }
    }),
  );
  if (failed.length > 0) {
    throw new OwbError(`could not remove ${failed.length} of ${ids.length} snapshot(s): ${failed.join('; ')}`);
  }
}

/** `forget --prune`: forget, then prune when something was removed. */
export interface ForgetAndPruneResult {
  report: ForgetReport;
  /** Set when prune ran. */
  pruned?: PruneResult;
}

/**
 * Forgets, then prunes when snapshots were removed (and this is not a dry run), under the one exclusive lock the
 * caller holds, so no backup can reference the data in between.
 */
export async function runForgetAndPrune(repo: Repository, opts: ForgetOptions, prune: PruneOptions | false): Promise<ForgetAndPruneResult> {
  const report = await runForget(repo, opts);
  if (prune !== false) stopIfAborted(prune.signal);
  if (prune === false || report.dryRun || report.removed.length === 0) return { report };
  return { report, pruned: await runPrune(repo, prune) };
}
