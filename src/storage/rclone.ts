import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { AlreadyExistsError, DamagedRepoError, NotFoundError, OwbError, UsageError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkRange, existsByStat, FOLDER_TYPES, handleLabel, isFolderType, objectPath, statIfExists, TMP_PREFIX } from './handles.js';

/** Where an rclone repository lives and how rclone is run. */
export interface RcloneSettings {
  /** The remote's name from the user's rclone config, as in `b2` for `b2:bucket/path`. */
  remote: string;
  /** Path inside the remote, without a trailing slash; '' is the remote's root. */
  path: string;
  /** The rclone binary (default `rclone` from PATH). */
  program: string;
  /** Environment for rclone: its RCLONE_CONFIG, RCLONE_CONFIG_PASS, HOME and the like. */
  env: NodeJS.ProcessEnv;
}

/** A remote name as rclone allows it, optionally as `:type` without parameters. */
const REMOTE_NAME = /^:?[\w.+@][\w.+@ -]*$/;

/**
 * Parses the part of a repository URL after `rclone:` (`remote:path`, as restic writes it). Remotes with
 * inline parameters (`:s3,access_key_id=…:` or `name,key=value:`) are refused: they would put credentials in
 * rclone's argv, where any local user can read them. OWB_RCLONE_PROGRAM names another rclone binary.
 */
export function rcloneSettingsFromUrl(rest: string, env: NodeJS.ProcessEnv): RcloneSettings {
  const colon = rest.indexOf(':', rest.startsWith(':') ? 1 : 0);
  if (colon <= 0) throw new UsageError('rclone: expected rclone:REMOTE:PATH, with REMOTE from your rclone config');
  const remote = rest.slice(0, colon);
  if (remote.includes(',') || remote.includes('=')) {
    throw new UsageError('rclone: remote parameters in the repository URL are refused (they end up in argv); define the remote in your rclone config');
  }
  if (!REMOTE_NAME.test(remote)) throw new UsageError('rclone: invalid remote name in the repository URL');
  const path = rest.slice(colon + 1).replace(/\/+$/, '');
  return {
    remote,
    path: path === '' && rest.slice(colon + 1).startsWith('/') ? '/' : path,
    program: env.OWB_RCLONE_PROGRAM || 'rclone',
    env: rcloneEnv(env),
  };
}

/** The environment rclone runs with: everything but owb's own settings (passwords among them), which are none of its business. */
function rcloneEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('OWB_')));
}

/** Flags on every call: never prompt (no TTY in cron), leave retries to the retry wrapper. */
const COMMON_FLAGS = ['--ask-password=false', '--retries', '1'];
/** Logging for most calls: errors only, as text. */
const QUIET = ['--log-level', 'ERROR'];
/** Logging for moveto: its closing stats say whether it moved or skipped, as JSON. */
const WITH_STATS = ['--log-level', 'INFO', '--use-json-log'];

/** How much of rclone's log output is kept for messages and stats. */
const STDERR_TAIL = 16 * 1024;

/** rclone's exit codes for "directory not found" and "file not found". */
const EXIT_DIR_NOT_FOUND = 3;
const EXIT_FILE_NOT_FOUND = 4;


/** What one rclone run produced. */
interface RunResult {
  code: number;
  stdout: Buffer;
  /** The end of rclone's log output. */
  stderr: string;
  /** The last log line, without rclone's timestamp. */
  error: string;
}

/** One entry of `rclone lsjson`. */
interface LsEntry {
  Path: string;
  Name: string;
  Size: number;
  IsDir: boolean;
}

/**
 * A repository on any rclone remote, by running the user's `rclone` with the user's config. Saves upload
 * to a temp name with `rcat`, then `moveto --ignore-existing`, which checks the target right before moving
 * (server-side) and skips if it exists; its closing stats (or else whether the temp is still there) tell
 * whether it moved. Within this process saves to one name are serialized, so racing saves here cannot both
 * win. Between processes a race remains: two movetos can both see no target, and on most remotes the second
 * then replaces the first. Names are content hashes (same name, same bytes: a replace is harmless) or random
 * ids, so in practice only two concurrent `init`s of one repository can hit it, within one moveto's time.
 */
export class RcloneBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties = Object.freeze({ connections: 4, hasAtomicReplace: true });
  private readonly publishing = new Map<string, Promise<void>>();
  /** #private, so neither JSON.stringify nor util.inspect of the backend shows the environment. */
  readonly #settings: RcloneSettings;

  /** Only stores the settings; nothing runs until the first operation. */
  constructor(settings: RcloneSettings) {
    this.location = `rclone:${settings.remote}:${settings.path}`;
    this.#settings = { ...settings, env: rcloneEnv(settings.env) };
  }

  /** Creates the root and the type folders (bucket remotes treat this as a no-op; uploads create prefixes). */
  async create(): Promise<void> {
    this.check(await this.run(['mkdir', this.remotePath('')]), 'mkdir');
    await Promise.all(FOLDER_TYPES.map(async (t) => this.check(await this.run(['mkdir', this.remotePath(t)]), 'mkdir')));
  }

  /** Uploads to a temp name, then moves it into place without replacing an existing object. */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const final = objectPath(h);
    const tmp = `${final.slice(0, final.lastIndexOf('/') + 1)}${TMP_PREFIX}${randomBytes(8).toString('hex')}`;
    let moved = false;
    try {
      this.check(await this.run(['rcat', this.remotePath(tmp)], data), `upload of ${handleLabel(h)}`);
      moved = await this.publish(tmp, final);
    } finally {
      if (!moved) await this.run(['deletefile', this.remotePath(tmp)]).catch(() => undefined);
    }
    if (!moved) throw new AlreadyExistsError(handleLabel(h));
  }

  /** `rclone cat`, with --offset/--count for ranges; a short result is damage, not a missing object. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    if (length === 0) {
      const { size } = await this.stat(h);
      if (offset > size) throw shortRead(h, size, offset);
      return Buffer.alloc(0);
    }
    const args = ['cat', ...(offset > 0 ? ['--offset', String(offset)] : []), ...(length === undefined ? [] : ['--count', String(length)])];
    const r = await this.run([...args, this.remotePath(objectPath(h))]);
    this.checkFound(r, h);
    if (length !== undefined && r.stdout.length !== length) {
      throw new DamagedRepoError(`short read: ${handleLabel(h)} gave ${r.stdout.length} of ${length} bytes at offset ${offset}`);
    }
    if (length === undefined && offset > 0 && r.stdout.length === 0) {
      // Empty output is right when offset equals the size, and damage when it lies beyond.
      const { size } = await this.stat(h);
      if (offset > size) throw shortRead(h, size, offset);
    }
    return r.stdout;
  }

  /**
   * Streams `rclone cat`. It resolves once the first bytes arrive or rclone exits, so a missing object fails
   * here with NotFoundError; a later failure of rclone fails the stream instead of ending it cleanly.
   */
  async openReadStream(h: Handle): Promise<Readable> {
    const out = new PassThrough();
    const child = spawn(this.#settings.program, [...COMMON_FLAGS, ...QUIET, 'cat', this.remotePath(objectPath(h))], {
      env: this.#settings.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-STDERR_TAIL)));
    // Not piped with end: a clean EOF from a failed rclone must not look like a complete object.
    child.stdout.pipe(out, { end: false });
    out.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    });
    let handedOut = false;
    // Before the stream is handed out, a failure rejects this call; after, it fails the stream.
    const fail = (err: Error, reject: (e: Error) => void): void => {
      if (handedOut) out.destroy(err);
      else {
        reject(err);
        out.destroy();
      }
    };
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.on('error', (err) => fail(this.spawnError(err), reject));
      child.on('close', (code) => {
        if (code === 0) {
          out.end();
          resolve();
          return;
        }
        const err =
          code === EXIT_DIR_NOT_FOUND || code === EXIT_FILE_NOT_FOUND
            ? new NotFoundError(handleLabel(h))
            : new OwbError(`rclone: read of ${handleLabel(h)} in ${this.location} failed (exit ${code}): ${lastLine(stderr)}`);
        fail(err, reject);
      });
    });
    handedOut = true;
    return out;
  }

  /** `rclone lsjson --stat` of the object; folders do not count as objects. */
  async stat(h: Handle): Promise<FileInfo> {
    const r = await this.run(['lsjson', '--stat', '--no-modtime', '--no-mimetype', this.remotePath(objectPath(h))]);
    this.checkFound(r, h);
    const entry = JSON.parse(r.stdout.toString('utf8')) as LsEntry;
    if (entry.IsDir) throw new NotFoundError(handleLabel(h));
    return { name: h.name, size: entry.Size };
  }

  /** True when the object exists. */
  exists(h: Handle): Promise<boolean> {
    return existsByStat(this, h);
  }

  /** `rclone deletefile`; its failure is only "not found" if a stat agrees, since it does not say which it was. */
  async remove(h: Handle): Promise<void> {
    const r = await this.run(['deletefile', this.remotePath(objectPath(h))]);
    if (r.code === 0) return;
    await this.stat(h);
    this.check(r, `delete of ${handleLabel(h)}`);
  }

  /** `rclone lsjson` of the type's folder (two levels for data); a missing folder lists as empty. */
  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await statIfExists(this, { type: 'config', name: '' });
      return info === undefined ? [] : [info];
    }
    if (!isFolderType(type)) throw new TypeError(`unknown object type '${String(type)}'`);
    const deep = type === 'data' ? ['--recursive', '--max-depth', '2', '--fast-list'] : [];
    const r = await this.run(['lsjson', '--files-only', '--no-modtime', '--no-mimetype', ...deep, this.remotePath(type)]);
    if (r.code === EXIT_DIR_NOT_FOUND) return [];
    this.check(r, `listing of ${type}`);
    const entries = JSON.parse(r.stdout.toString('utf8')) as LsEntry[];
    return entries
      .filter((e) => !e.IsDir && !e.Name.startsWith('.'))
      .filter((e) => (type === 'data' ? /^[^/]{2}\/[^/]+$/.test(e.Path) : !e.Path.includes('/')))
      .map((e) => ({ name: e.Name, size: e.Size }));
  }

  /** Nothing to release: every operation runs its own rclone. */
  async close(): Promise<void> {}

  /** `remote:path/rel` as rclone takes it. */
  private remotePath(rel: string): string {
    const base = this.#settings.path;
    const joined = base === '' ? rel : rel === '' ? base : base.endsWith('/') ? `${base}${rel}` : `${base}/${rel}`;
    return `${this.#settings.remote}:${joined}`;
  }

  /**
   * Moves the temp upload to its final name unless that exists; true when this save won. Serialized per
   * name within this process, so the check inside rclone and the move cannot interleave with another save here.
   */
  private async publish(tmp: string, final: string): Promise<boolean> {
    const before = this.publishing.get(final) ?? Promise.resolve();
    const mine = before.then(async () => {
      const r = await this.run(['moveto', '--ignore-existing', this.remotePath(tmp), this.remotePath(final)], undefined, WITH_STATS);
      this.check(r, `move into ${final}`);
      return r;
    });
    const settled = mine.then(() => undefined, () => undefined);
    this.publishing.set(final, settled);
    let moved: RunResult;
    try {
      moved = await mine;
    } finally {
      if (this.publishing.get(final) === settled) this.publishing.delete(final);
    }
    // moveto exits 0 when it skips, too. Its stats count a server-side move as a rename, a copy as a transfer.
    const stats = finalStats(moved.stderr);
    if (stats !== undefined) return stats.renames + stats.transfers > 0;
    // No stats (another rclone version): a temp still in place means the target existed.
    const r = await this.run(['lsjson', '--stat', '--no-modtime', '--no-mimetype', this.remotePath(tmp)]);
    if (r.code === EXIT_DIR_NOT_FOUND || r.code === EXIT_FILE_NOT_FOUND) return true;
    this.check(r, `check of ${tmp}`);
    return false;
  }

  /** Runs rclone with `input` on stdin (or none), collecting stdout and the last error line. */
  private run(args: string[], input?: Uint8Array, logging: readonly string[] = QUIET): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#settings.program, [...COMMON_FLAGS, ...logging, ...args], {
        env: this.#settings.env,
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-STDERR_TAIL)));
      child.on('error', (err) => reject(this.spawnError(err)));
      child.on('close', (code, signal) => {
        resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr, error: lastLine(stderr) || (signal ? `killed by ${signal}` : '') });
      });
      if (input !== undefined && child.stdin !== null) {
        // rclone may exit early (bad remote); its exit status tells why, so a broken pipe adds nothing.
        child.stdin.on('error', () => undefined);
        child.stdin.end(input);
      }
    });
  }

  /** Throws NotFoundError for rclone's "not found" exits and a plain error for other failures. */
  private checkFound(r: RunResult, h: Handle): void {
    if (r.code === EXIT_DIR_NOT_FOUND || r.code === EXIT_FILE_NOT_FOUND) throw new NotFoundError(handleLabel(h));
    this.check(r, `read of ${handleLabel(h)}`);
  }

  /** Throws when rclone failed, naming the operation and rclone's own last error line. */
  private check(r: RunResult, what: string): void {
    if (r.code !== 0) throw new OwbError(`rclone: ${what} in ${this.location} failed (exit ${r.code}): ${r.error}`);
  }

  /** A clear error for an rclone that cannot be started. */
  private spawnError(err: Error): OwbError {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return new OwbError(`rclone: cannot run "${this.#settings.program}": not found (install rclone or set OWB_RCLONE_PROGRAM)`);
    }
    return new OwbError(`rclone: cannot run "${this.#settings.program}": ${code ?? err.message}`);
  }
}

/** The error for a range that runs past the end of an object. */
function shortRead(h: Handle, size: number, wanted: number): DamagedRepoError {
  return new DamagedRepoError(`short read: ${handleLabel(h)} has ${size} bytes, expected at least ${wanted}`);
}

/** Parses one line of `--use-json-log` output, or returns undefined for a text line. */
function jsonLine(line: string): { level?: string; msg?: string; stats?: { renames?: number; transfers?: number } } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as ReturnType<typeof jsonLine>;
  } catch {
    return undefined;
  }
}

/** The counters of the closing stats in JSON log output, if there are any. */
function finalStats(stderr: string): { renames: number; transfers: number } | undefined {
  const lines = stderr.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const stats = jsonLine(lines[i]!)?.stats;
    if (stats !== undefined) return { renames: Number(stats.renames ?? 0), transfers: Number(stats.transfers ?? 0) };
  }
  return undefined;
}

/** The last error line of rclone's stderr (text or JSON), without timestamp and level, capped in length. */
function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const json = jsonLine(l);
      return json === undefined ? l : json.level === 'error' || json.level === 'critical' ? (json.msg ?? '') : '';
    })
    .filter((l) => l !== '');
  const line = (lines.at(-1) ?? '').replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, '').replace(/^(ERROR|NOTICE|CRITICAL) : /, '');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
