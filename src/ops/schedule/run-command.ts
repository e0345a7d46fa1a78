/**
 * The command line a scheduled run executes: the paths it needs, owb's arguments for one `schedule:` entry
 * (shared with the daemon), and the lock that keeps two runs from overlapping.
 */
import { delimiter, dirname, join } from 'node:path';
import type { OwbConfig, ScheduleEntry } from '../../config/schema.js';
import { ExitCode, OwbError } from '../../errors.js';
import { isSecretName } from '../../util/secret-detect.js';

/** A schedule entry that cannot be turned into a command line safely. */
export class ScheduleEntryError extends OwbError {
  constructor(index: number, why: string) {
    super(`schedule entry ${index + 1}: ${why}`, ExitCode.Usage);
  }
}

/** Absolute paths a scheduled run needs. */
export interface RunPaths {
  /** The config file every run reads (absolute). */
  configPath: string;
  /** The node binary (process.execPath). */
  nodePath: string;
  /** The real path of dist/cli/main.js. */
  entryPath: string;
  /** The state folder; the overlap lock `owb.lock` lives there. */
  stateDir: string;
  /** The flock binary. */
  flockPath: string;
  /** PATH for the jobs (rclone, pg_dump, ssh are looked up on it). */
  pathEnv: string;
  /** DOCKER_HOST to pass on, when the installing shell has one (not a secret). */
  dockerHost?: string;
}

/** Arguments given as words after the flags rather than as flags: backup's plain folders, copy's snapshot ids. */
const POSITIONAL_ARGS = new Set(['paths', 'snapshots']);

/**
 * The job's own arguments for one entry, as the daemon and the schedule writers both run it: `forget
 * --keep-daily 7 --prune`, `backup --tag x /a /b`. Each `args` key becomes a flag (`keep_daily` → --keep-daily;
 * true → the bare flag, false → left out, a list → the flag repeated), except `paths` and `snapshots`, which
 * go last as positional arguments. Refuses keys that are not flag names, and secret-looking keys: a process's
 * argv is visible to every user of the machine, and units and crontabs are world-readable.
 */
export function entryArgs(entry: ScheduleEntry, index = 0): string[] {
  const flags: string[] = [entry.job];
  const positional: string[] = [];
  for (const [key, value] of Object.entries(entry.args)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(key)) throw new ScheduleEntryError(index, `args key "${key}" is not a flag name`);
    if (isSecretName(key)) throw new ScheduleEntryError(index, `args.${key} looks like a secret; it would end up in a unit or crontab (use a *_file setting)`);
    if (POSITIONAL_ARGS.has(key)) {
      positional.push(...(Array.isArray(value) ? value : [value]).map(String));
      continue;
    }
    const flag = `--${key.replace(/_/g, '-')}`;
    if (value === true) flags.push(flag);
    else if (value === false) continue;
    else for (const v of Array.isArray(value) ? value : [value]) flags.push(flag, String(v));
  }
  return [...flags, ...positional];
}

/** The owb arguments of a scheduled run (unit or crontab line): `--quiet [--repo R] <job> [--flag value…] [words…]`. */
export function runArgs(entry: ScheduleEntry, index: number): string[] {
  return ['--quiet', ...(entry.repository ? ['--repo', entry.repository] : []), ...entryArgs(entry, index)];
}

/** The lock that keeps two owb jobs from overlapping. */
export function lockPath(p: RunPaths): string {
  return join(p.stateDir, 'owb.lock');
}

/** A sensible PATH for scheduled jobs: node's own folder first, then the standard system folders. */
export function jobPath(nodePath: string): string {
  const std = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return [...new Set([dirname(nodePath), ...std])].join(delimiter);
}

/**
 * Warnings about entries that will not work unattended: no repository at all, or a repository whose password
 * is not in a password_file (a unit never carries the installing shell's OWB_PASSWORD*).
 */
export function unattendedWarnings(cfg: OwbConfig): string[] {
  const out: string[] = [];
  cfg.schedule.forEach((e, i) => {
    const repo = e.repository ?? cfg.default_repository;
    const label = `schedule entry ${i + 1} (${e.job})`;
    if (repo === undefined) out.push(`${label} names no repository and the config has no default_repository`);
    else if (!cfg.repositories[repo]?.password_file) out.push(`${label}: repository ${repo} has no password_file in the config, so the job cannot open it unattended`);
  });
  return out;
}
