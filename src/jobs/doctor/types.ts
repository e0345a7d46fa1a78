/** What the doctor takes and returns, and the helper every check uses to describe an error. */
import type { OwbConfig } from '../../config/schema.js';
import { OwbError } from '../../errors.js';
import type { Repository } from '../../repo/repository.js';

/** A check's verdict. */
export type DoctorStatus = 'PASS' | 'WARN' | 'FAIL';

/** One line of the doctor's report; `fix` is a one-line hint for WARN and FAIL. */
export interface DoctorItem {
  name: string;
  status: DoctorStatus;
  detail: string;
  fix?: string;
}

/** The doctor's findings, in checklist order. */
export interface DoctorReport {
  items: DoctorItem[];
}

/** A repository to probe: its location and what the config says about it (structurally a CLI RepoTarget). */
export interface DoctorRepo {
  /** How the report names it: the config name, or the URL without credentials. */
  label: string;
  url: string;
  name?: string;
  passwordFile?: string;
  copyTo: string[];
}

/** Where to look for something that runs the schedule. */
export interface ScheduleProbe {
  /** systemd unit folders; enabled units are symlinked into their `*.wants` folders. */
  systemdDirs: string[];
  /** Crontab files, or folders of them (/etc/cron.d). */
  cronPaths: string[];
  /** Also ask `crontab -l` for this user's crontab. */
  userCrontab: boolean;
  /** The daemon's pid file. */
  pidFile: string;
}

/** Everything the doctor looks at, resolved by the caller (flags, env, config). */
export interface DoctorInput {
  config: OwbConfig;
  env: NodeJS.ProcessEnv;
  stateDir: string;
  /** The config file in use and its text, for the inline-secret scan. */
  configFile?: string;
  configText?: string;
  /** The Open WebUI source: flags when given, else the config's `source:`. */
  source: { container?: string; dataDir?: string; stagingDir?: string };
  repos: DoctorRepo[];
  /** Opens a repository without locking and runs `fn` (the CLI's withRepoAt, which knows the passwords). */
  withRepo: <T>(repo: DoctorRepo, fn: (repo: Repository) => Promise<T>) => Promise<T>;
  /** Secret files named outside the config (--password-file). */
  extraSecretFiles?: SecretFileRef[];
  scheduleProbe?: ScheduleProbe;
  now?: Date;
}

/** A secret file and the setting that names it. */
export interface SecretFileRef {
  label: string;
  path: string;
}

/** An error as a report shows it: owb's own message, else the system error code, else the first line. */
export function messageOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof OwbError) return err.message;
  return e.code ?? String(e.message ?? err).split('\n')[0]!;
}
