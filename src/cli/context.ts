import { loadConfig } from '../config/load.js';
import type { OwbConfig } from '../config/schema.js';
import { readPasswordFile, secretFromEnv } from '../config/secrets.js';
import type { Password } from '../repo/crypto.js';
import { UsageError } from '../errors.js';
import type { RepoLock } from '../repo/lock.js';
import { Repository } from '../repo/repository.js';
import type { Backend } from '../storage/backend.js';
import { describeFailure } from '../storage/logging.js';
import { openBackend } from '../storage/open-backend.js';
import { backendOptionsFromConfig, type RepositoryBackendOptions } from '../storage/options.js';
import { describeRetry } from '../storage/retry.js';
import { withRunRecord, type RunReport } from '../ops/recorded-run.js';
import type { RunLog } from '../ops/run-log.js';
import { stateDirOf } from '../jobs/source.js';
import { Output } from './output.js';
import { promptHidden } from './prompt.js';

/** Global options, as commander parses them. */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** A repository to open: its URL, and what the config says about it. */
export interface RepoTarget {
  url: string;
  /** The config name, when it came from the config. */
  name?: string;
  passwordFile?: string;
  /** Config names of repositories each backup is copied to. */
  copyTo: string[];
  /** Backend settings from the config. */
  backend: RepositoryBackendOptions;
}

/** Which lock a command takes. */
export type LockMode = 'none' | 'shared' | 'exclusive';

/** Everything a command needs from the outside world, resolved from flags, env and config. */
export class CliContext {
  readonly out: Output;
  /** Aborted on SIGINT/SIGTERM; jobs stop at the next safe point. */
  readonly abort = new AbortController();
  /** Set by commands that handle SIGINT/SIGTERM themselves (the daemon). */
  ownSignals = false;
  private configCache: OwbConfig | undefined;
  /** Every secret read so far, so run logs and notifications can redact them. */
  private readonly secretsSeen = new Set<string>();

  constructor(
    readonly globals: GlobalOptions,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.out = new Output(!!globals.json, !!globals.quiet, !!globals.verbose);
  }

  /** Reads the config file again (the daemon's SIGHUP). */
  async reloadConfig(): Promise<OwbConfig> {
    this.configCache = await loadConfig(this.globals.config, this.env);
    return this.configCache;
  }

  /** The validated config file (empty when none exists). */
  async config(): Promise<OwbConfig> {
    this.configCache ??= await loadConfig(this.globals.config, this.env);
    return this.configCache;
  }

  /** The repository named by --repo / OWB_REPOSITORY / the config's default_repository. */
  async repoTarget(): Promise<RepoTarget> {
    const cfg = await this.config();
    const given = this.globals.repo ?? this.env.OWB_REPOSITORY ?? cfg.default_repository;
    if (!given) throw new UsageError('no repository given: use --repo or OWB_REPOSITORY');
    return this.resolveRepo(given);
  }

  /** A repository name from the config, or else a URL. */
  async resolveRepo(given: string): Promise<RepoTarget> {
    const named = (await this.config()).repositories[given];
    if (named) {
      return {
        url: named.url,
        name: given,
        copyTo: named.copy_to,
        backend: backendOptionsFromConfig(named),
        ...(named.password_file ? { passwordFile: named.password_file } : {}),
      };
    }
    return { url: given, copyTo: [], backend: {} };
  }

  /**
   * The password: a named repository's own password_file first (each repository of a config may have its
   * own), then --password-file, OWB_PASSWORD_FILE, OWB_PASSWORD, then a prompt on a TTY.
   */
  async password(target: { passwordFile?: string; name?: string }, confirm = false): Promise<Password> {
    const seen = this.secretsSeen;
    if (target.passwordFile) return nonEmptyInto(seen, await readPasswordFile(target.passwordFile, `password_file of ${target.name ?? 'the repository'}`));
    if (this.globals.passwordFile) return nonEmptyInto(seen, await readPasswordFile(this.globals.passwordFile, '--password-file'));
    const fromEnv = await passwordFromEnv(this.env, 'OWB_PASSWORD');
    if (fromEnv !== undefined) return nonEmptyInto(seen, fromEnv);
    return nonEmptyInto(seen, await this.ask(`password for ${target.name ?? 'the repository'}: `, confirm));
  }

  /** A new password (key add/passwd): OWB_NEW_PASSWORD(_FILE), --new-password-file, or a prompt asked twice. */
  async newPassword(file: string | undefined): Promise<Password> {
    if (file) return nonEmptyInto(this.secretsSeen, await readPasswordFile(file, '--new-password-file'));
    const fromEnv = await passwordFromEnv(this.env, 'OWB_NEW_PASSWORD');
    if (fromEnv !== undefined) return nonEmptyInto(this.secretsSeen, fromEnv);
    return this.ask('new password: ', true);
  }

  /** Opens the backend named by the globals. */
  async backend(): Promise<Backend> {
    return this.openTarget(await this.repoTarget());
  }

  /** Opens a target's backend; with --verbose, retries and failed storage operations show as warnings. */
  private openTarget(target: RepoTarget): Promise<Backend> {
    const show = this.out.verbose;
    return openBackend(target.url, {
      ...target.backend,
      env: this.env,
      ...(show ? { retry: { onRetry: (i) => this.out.warn(describeRetry(i)) }, onFailure: (f) => this.out.warn(describeFailure(f)) } : {}),
    });
  }

  /**
   * Opens the repository, takes the lock, runs `fn`, and always releases the lock and the backend.
   */
  async withRepo<T>(lock: LockMode, fn: (repo: Repository) => Promise<T>): Promise<T> {
    return this.withRepoAt(await this.repoTarget(), lock, fn);
  }

  /** As withRepo, for a given target (copy's source and destination). */
  async withRepoAt<T>(target: RepoTarget, lock: LockMode, fn: (repo: Repository) => Promise<T>, passwordFile?: string): Promise<T> {
    const backend = await this.openTarget(target);
    let held: RepoLock | undefined;
    try {
      const password = passwordFile ? nonEmptyInto(this.secretsSeen, await readPasswordFile(passwordFile, 'password file')) : await this.password(target);
      const repo = await Repository.open(backend, password);
      if (lock !== 'none') {
        held = await repo.lock(lock === 'exclusive');
        // A lost lock stops the run at its next safe point, with the lock's own error (exit 11).
        held.onLost = (err) => this.abort.abort(err);
      }
      return await fn(repo);
    } finally {
      await held?.release().catch(() => undefined);
      await backend.close();
    }
  }

  /**
   * Runs a job with its record (report file, JSON line, notifications, metrics). The secrets known by then
   * — and those read while it runs, such as repository passwords — are redacted from everything recorded.
   */
  async recorded<T>(job: string, fn: (log: RunLog) => Promise<T>, report: (value: T) => RunReport): Promise<T> {
    const cfg = await this.config();
    const secrets = this.secretsSeen;
    for (const name of ['AWS_SECRET_ACCESS_KEY', 'OWB_PASSWORD', 'OWB_SFTP_PASSWORD', 'OWB_SFTP_KEY_PASSPHRASE']) {
      const v = await secretFromEnv(this.env, name).catch(() => undefined);
      if (v) secrets.add(v);
    }
    return withRunRecord(
      {
        job,
        cfg,
        stateDir: stateDirOf(cfg, this.env),
        secrets: () => secrets,
        onWarning: (m) => this.out.warn(m),
      },
      fn,
      report,
    );
  }

  private async ask(question: string, confirm: boolean): Promise<string> {
    const first = nonEmpty(await promptHidden(question));
    if (confirm && (await promptHidden('enter it again: ')) !== first) throw new UsageError('the passwords do not match');
    return first;
  }
}

/** Remembers a password for redaction (as the text it reads as) and refuses an empty one. */
function nonEmptyInto<P extends Password>(seen: Set<string>, pw: P): P {
  seen.add(typeof pw === 'string' ? pw : Buffer.from(pw).toString('utf8'));
  return nonEmpty(pw);
}

function nonEmpty<P extends Password>(pw: P): P {
  if (pw.length === 0) throw new UsageError('empty password');
  return pw;
}

/** NAME, or the bytes of the file NAME_FILE names (Docker secrets). */
async function passwordFromEnv(env: NodeJS.ProcessEnv, name: string): Promise<Password | undefined> {
  const file = env[`${name}_FILE`];
  if (file) return readPasswordFile(file, `${name}_FILE`);
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
