/**
 * Typed errors. Each carries the process exit code the CLI's entry point will use, so library code
 * never decides how the process ends (DESIGN.md §1 exit codes, as restic's).
 */

/** Exit codes, stable for scripts. */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  PartialBackup: 3,
  RepoNotFound: 10,
  RepoLocked: 11,
  WrongPassword: 12,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class: a failure with a one-line, secret-free message and an exit code. */
export class OwbError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad flags, arguments or config values. */
export class UsageError extends OwbError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

/** No repository at the given location (no `config` object). */
export class RepoNotFoundError extends OwbError {
  constructor(location: string) {
    super(`no repository at ${location} (run "owb init" first)`, ExitCode.RepoNotFound);
  }
}

/** `init` on a location that already holds a repository. */
export class RepoExistsError extends OwbError {
  constructor(location: string, detail?: string) {
    super(detail ? `refusing to create a repository at ${location}: ${detail}` : `a repository already exists at ${location}; refusing to overwrite it`, ExitCode.Failure);
  }
}

/** Another process holds a conflicting lock. */
export class RepoLockedError extends OwbError {
  constructor(detail: string) {
    super(`repository is locked: ${detail} (if that process is gone, run "owb unlock")`, ExitCode.RepoLocked);
  }
}

/** No key file opens with the given password. */
export class WrongPasswordError extends OwbError {
  constructor(detail = '') {
    super(`wrong password, or no key in this repository opens with it${detail}`, ExitCode.WrongPassword);
  }
}

/** Data in the repository failed authentication, hashing or parsing. */
export class DamagedRepoError extends OwbError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Failure, options);
  }
}

/** The repository uses a format version this build does not understand. */
export class UnsupportedVersionError extends OwbError {
  constructor(version: unknown) {
    super(`repository format version ${String(version)} is not supported by this owb; upgrade owb`, ExitCode.Failure);
  }
}

/** A snapshot was written, but some source files could not be read. */
export class PartialBackupError extends OwbError {
  readonly snapshotId: string;
  constructor(snapshotId: string, unreadable: number) {
    super(`snapshot ${snapshotId.slice(0, 8)} saved, but ${unreadable} file(s) could not be read`, ExitCode.PartialBackup);
    this.snapshotId = snapshotId;
  }
}

/**
 * The error a job stops with when its abort signal fires: the signal's reason when that is an owb error (a lost
 * lock), else "interrupted" (SIGINT, SIGTERM).
 */
export function abortReason(signal: AbortSignal): OwbError {
  return signal.reason instanceof OwbError ? signal.reason : new InterruptedError(String(signal.reason ?? 'SIGINT'));
}

/** The run lost its repository lock (removed by someone, or not refreshed in time); it stops before doing harm. */
export class LockLostError extends OwbError {
  constructor(detail: string) {
    super(`lost the repository lock: ${detail}; stopping before anything is saved`, ExitCode.RepoLocked);
  }
}

/** The run was stopped by SIGINT or SIGTERM. */
export class InterruptedError extends OwbError {
  constructor(signal = 'SIGINT') {
    super(`interrupted by ${signal}`, ExitCode.Interrupted);
  }
}

/** A backend object that should exist does not. Backends MUST throw this (and only this) for a missing object. */
export class NotFoundError extends OwbError {
  constructor(what: string) {
    super(`not found: ${what}`, ExitCode.Failure);
  }
}

/**
 * save() of an object that is already stored. Objects are write-once, so backends MUST throw this (and only this)
 * then; the retry wrapper keys on it to recognise a retried save whose first attempt landed.
 */
export class AlreadyExistsError extends OwbError {
  constructor(what: string) {
    super(`${what} already exists; refusing to overwrite it`, ExitCode.Failure);
  }
}

/** True when `err` is a NotFoundError. */
export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

/** True for the errors that stop a whole run (a signal, a lost lock), as opposed to one file failing. */
export function isAbort(err: unknown): err is InterruptedError | LockLostError {
  return err instanceof InterruptedError || err instanceof LockLostError;
}

/** Throws the abort reason (see abortReason) when the signal has fired: a long job's safe stopping point. */
export function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
