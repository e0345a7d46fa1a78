/** Repository checks: each repository opens and takes a lock, the latest backup is fresh, a restore was drilled. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OwbConfig, ScheduleEntry } from '../../config/schema.js';
import { RepoLockedError, RepoNotFoundError, UsageError, WrongPasswordError } from '../../errors.js';
import { listSnapshots } from '../../repo/snapshot.js';
import { LAST_DRILL_FILE } from '../drill.js';
import { messageOf, type DoctorInput, type DoctorItem, type DoctorRepo } from './types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Without a schedule, the latest backup is stale after 2 days (WARN) and 7 days (FAIL). */
export const UNSCHEDULED_BACKUP_AGE = { warnMs: 2 * DAY, failMs: 7 * DAY } as const;
/** With a schedule, the latest backup may be this many intervals old before WARN / FAIL. */
export const SCHEDULED_BACKUP_INTERVALS = { warn: 1.5, fail: 3 } as const;
/** A restore drill is due after 14 days (WARN) and overdue after 60 (FAIL). */
export const DRILL_AGE = { warnMs: 14 * DAY, failMs: 60 * DAY } as const;

/** "45m", "5h 10m", "3d 4h". */
export function formatAge(ms: number): string {
  const m = Math.max(0, Math.floor(ms / MINUTE));
  if (m < 60) return `${m}m`;
  if (m < 24 * 60) return m % 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m / 60}h`;
  const d = Math.floor(m / (24 * 60));
  const h = Math.floor((m % (24 * 60)) / 60);
  return h ? `${d}d ${h}h` : `${d}d`;
}

/**
 * The backup entry whose runs land in `repo`: one naming it (or, without a repository, the default one),
 * else one backing up to a repository that copies into it.
 */
export function backupEntryFor(repo: DoctorRepo, cfg: OwbConfig): ScheduleEntry | undefined {
  const targetOf = (e: ScheduleEntry): string | undefined => e.repository ?? cfg.default_repository;
  const backups = cfg.schedule.filter((e) => e.job === 'backup');
  const direct = backups.find((e) => {
    const t = targetOf(e);
    return t === undefined ? repo.name === undefined : t === repo.name || t === repo.url;
  });
  if (direct || repo.name === undefined) return direct;
  return backups.find((e) => {
    const t = targetOf(e);
    return t !== undefined && (cfg.repositories[t]?.copy_to ?? []).includes(repo.name!);
  });
}

/** Judges the newest snapshot's age against the schedule's interval, or against fixed limits without one. */
export function backupAgeItem(label: string, newest: Date | undefined, now: Date, schedule?: { cron: string; intervalMs: number }): DoctorItem {
  const name = `backup age ${label}`;
  if (!newest) return { name, status: 'FAIL', detail: 'no snapshots', fix: 'run "owb backup"' };
  const age = now.getTime() - newest.getTime();
  const fix = 'look at the last runs in the log folder (owb.jsonl) and run "owb backup" now';
  if (schedule) {
    const ratio = age / schedule.intervalMs;
    const head = `latest snapshot ${formatAge(age)} old; the schedule "${schedule.cron}" runs every ${formatAge(schedule.intervalMs)}`;
    if (ratio > SCHEDULED_BACKUP_INTERVALS.fail) return { name, status: 'FAIL', detail: `${head} (over ${SCHEDULED_BACKUP_INTERVALS.fail} intervals)`, fix };
    if (ratio > SCHEDULED_BACKUP_INTERVALS.warn) return { name, status: 'WARN', detail: `${head} (over ${SCHEDULED_BACKUP_INTERVALS.warn} intervals)`, fix };
    return { name, status: 'PASS', detail: head };
  }
  const head = `latest snapshot ${formatAge(age)} old (no backup schedule: limits ${formatAge(UNSCHEDULED_BACKUP_AGE.warnMs)} / ${formatAge(UNSCHEDULED_BACKUP_AGE.failMs)})`;
  if (age > UNSCHEDULED_BACKUP_AGE.failMs) return { name, status: 'FAIL', detail: head, fix };
  if (age > UNSCHEDULED_BACKUP_AGE.warnMs) return { name, status: 'WARN', detail: head, fix };
  return { name, status: 'PASS', detail: head };
}

/** What last-drill.json holds. */
export interface LastDrill {
  time: string;
  snapshot_id: string;
}

/** Judges the last successful drill (undefined: none recorded; an Error: the record is unreadable). */
export function drillItem(last: LastDrill | undefined | Error, now: Date): DoctorItem {
  const name = 'drill';
  const fix = 'run "owb drill" (and add a drill job to the schedule)';
  if (last === undefined) return { name, status: 'WARN', detail: 'no restore drill recorded', fix };
  const t = last instanceof Error ? NaN : Date.parse(last.time);
  if (Number.isNaN(t)) return { name, status: 'WARN', detail: `${LAST_DRILL_FILE} is unreadable`, fix };
  const age = now.getTime() - t;
  const detail = `last successful drill ${formatAge(age)} ago (snapshot ${(last as LastDrill).snapshot_id.slice(0, 8)})`;
  if (age > DRILL_AGE.failMs) return { name, status: 'FAIL', detail, fix };
  if (age > DRILL_AGE.warnMs) return { name, status: 'WARN', detail, fix };
  return { name, status: 'PASS', detail };
}

/** Opens a repository, takes and releases a shared lock (proving write and delete), and finds its newest snapshot. */
export async function checkRepository(r: DoctorRepo, withRepo: DoctorInput['withRepo']): Promise<{ item: DoctorItem; newest?: Date; opened: boolean }> {
  const name = `repository ${r.label}`;
  try {
    return await withRepo(r, async (repo) => {
      const snaps = await listSnapshots(repo);
      const newest = snaps.length ? new Date(Math.max(...snaps.map((s) => Date.parse(s.time)))) : undefined;
      const base = { opened: true, ...(newest ? { newest } : {}) };
      try {
        const lock = await repo.lock(false);
        await lock.release();
      } catch (err) {
        if (!(err instanceof RepoLockedError)) throw err;
        return { ...base, item: { name, status: 'WARN' as const, detail: err.message, fix: 'wait for the running job; if no owb process is running, run "owb unlock"' } };
      }
      return { ...base, item: { name, status: 'PASS' as const, detail: `opened, lock written and removed, ${snaps.length} snapshot(s)` } };
    });
  } catch (err) {
    const setting = r.name ? `password_file of repository ${r.name}` : 'password_file / --password-file / OWB_PASSWORD_FILE';
    const fix =
      err instanceof WrongPasswordError
        ? `check ${setting}`
        : err instanceof RepoNotFoundError
          ? `run "owb -r ${r.label} init", or check its url`
          : err instanceof UsageError
            ? `set ${setting}`
            : 'check the URL, the network and the credentials';
    return { item: { name, status: 'FAIL', detail: messageOf(err), fix }, opened: false };
  }
}

/** Reads last-drill.json: undefined when there is none, an Error when it cannot be read or parsed. */
export async function readLastDrill(stateDir: string): Promise<LastDrill | undefined | Error> {
  let text: string;
  try {
    text = await readFile(join(stateDir, LAST_DRILL_FILE), 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (err as Error);
  }
  try {
    const v = JSON.parse(text) as Partial<LastDrill>;
    return typeof v.time === 'string' && typeof v.snapshot_id === 'string' ? { time: v.time, snapshot_id: v.snapshot_id } : new Error('malformed');
  } catch (err) {
    return err as Error;
  }
}
