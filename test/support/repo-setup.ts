/**
 * The set-up most CLI tests start from: a temp folder holding a password file, a repository made with the real
 * `owb init`, and a source folder to back up. Removed with the rest of the temp folders by cleanupTemp().
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTemp, runOk, writePassword, type CliOptions } from './cli.js';

/** Names inside the folder given to {@link initRepo}. */
export interface InitRepoOptions {
  /** Folder name of the repository (default `repo`). */
  repo?: string;
  /** File name of the password file (default `password`). */
  passwordFile?: string;
  /** Other CLI settings kept in the returned options (env, asUser, …). */
  cli?: Omit<CliOptions, 'repo' | 'passwordFile'>;
}

/** CLI options that name a repository and its password file. */
export type RepoCli = CliOptions & { repo: string; passwordFile: string };

/**
 * Writes a password file into `dir` and runs `owb init` for `dir/repo`. Returns the CLI options that reach that
 * repository with that password.
 */
export async function initRepo(dir: string, password: string, opts: InitRepoOptions = {}): Promise<RepoCli> {
  const cli: RepoCli = {
    ...opts.cli,
    repo: join(dir, opts.repo ?? 'repo'),
    passwordFile: await writePassword(dir, password, opts.passwordFile),
  };
  await runOk(['init'], cli);
  return cli;
}

/** What {@link initRepoWithSource} made. */
export interface RepoWithSource {
  /** The test's own temp folder. */
  base: string;
  /** `base/src`, filled by the caller's `fill`. */
  src: string;
  /** Options of every CLI run against `base/repo`. */
  cli: RepoCli;
}

/** Options of {@link initRepoWithSource}. */
export interface RepoWithSourceOptions {
  /** Prefix of the temp folder's name, so a leftover folder says which test made it. */
  prefix: string;
  password: string;
  /** Creates the files to back up; `src` exists (empty) when it is called, and `base` is its parent. */
  fill: (src: string, base: string) => Promise<void>;
  /** False leaves the repository uninitialised, for tests that run `init` themselves (default true). */
  init?: boolean;
  /** Other CLI settings (env, …), kept in `cli`. */
  cli?: Omit<CliOptions, 'repo' | 'passwordFile'>;
}

/**
 * A fresh temp folder with a source folder `src` filled by `fill`, a password file, and (unless `init` is false)
 * a repository initialised with the real CLI.
 */
export async function initRepoWithSource(opts: RepoWithSourceOptions): Promise<RepoWithSource> {
  const base = await makeTemp(opts.prefix);
  const src = join(base, 'src');
  await mkdir(src, { recursive: true });
  await opts.fill(src, base);
  const cli =
    opts.init === false
      ? { ...opts.cli, repo: join(base, 'repo'), passwordFile: await writePassword(base, opts.password) }
      : await initRepo(base, opts.password, { cli: opts.cli });
  return { base, src, cli };
}

/** Runs `owb --json backup <args>` (which must succeed) and returns the id of the snapshot it wrote. */
export async function backupId(cli: CliOptions, ...args: string[]): Promise<string> {
  return ((await runOk(['--json', 'backup', ...args], cli)).json as { snapshot_id: string }).snapshot_id;
}
