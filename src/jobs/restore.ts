import { randomBytes } from 'node:crypto';
import { chmod, chown, lchown, lstat, lutimes, mkdir, open, readdir, rename, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Minimatch } from 'minimatch';
import { InterruptedError, OwbError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { decodeTree, unsafeNameReason, type TreeNode } from '../repo/tree.js';
import { BlobWorkerPool } from '../repo/worker-pool.js';
import { Semaphore } from '../util/semaphore.js';

/** What a restore run is asked to do. */
export interface RestoreOptions {
  target: string;
  /** Glob patterns on snapshot paths; an entry is restored when it or an ancestor matches. Empty: everything. */
  include?: string[];
  /** Allow a non-empty target, replacing entries that the snapshot holds. */
  force?: boolean;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onProgress?: (p: RestoreProgress) => void;
}

/** Progress counters. */
export interface RestoreProgress {
  filesDone: number;
  bytesDone: number;
  totalBytes: number;
}

/** What a finished restore reports. */
export interface RestoreResult {
  filesRestored: number;
  dirsRestored: number;
  symlinksRestored: number;
  bytesRestored: number;
  errors: string[];
}

/** Thrown after a restore in which some entries failed; every good entry is in place. */
export class RestoreIncompleteError extends OwbError {
  constructor(readonly errors: string[]) {
    super(`restore incomplete: ${errors.length} entr${errors.length === 1 ? 'y' : 'ies'} failed (first: ${errors[0]})`);
  }
}

const FILE_CONCURRENCY = 8;
const BLOBS_AHEAD = 4;

/**
 * Restores a snapshot under `target`. Every file is written to a temporary name, checked blob by blob
 * against its keyed id, and renamed into place only when complete, so a damaged repository never leaves
 * wrong bytes under a real name. Entries never reach outside the target: unsafe names are refused and
 * symlinks are created as links, never followed.
 */
export async function runRestore(repo: Repository, snap: Snapshot, opts: RestoreOptions): Promise<RestoreResult> {
  await prepareTarget(opts.target, opts.force ?? false);
  await repo.loadIndex();
  const pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
  const r = new Restorer(repo, pool, opts);
  try {
    await r.restoreTree(snap.tree, opts.target, '', !opts.include?.length, async () => undefined);
    await r.finish();
  } finally {
    await pool.close();
  }
  if (r.result.errors.length > 0) throw new RestoreIncompleteError(r.result.errors);
  return r.result;
}

async function prepareTarget(target: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await lstat(target);
    if (!st.isDirectory()) throw new OwbError(`restore target ${target} exists and is not a directory`);
    entries = await readdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (entries.length > 0 && !force) {
    throw new OwbError(`restore target ${target} is not empty; refusing to overwrite (use --force to restore into it)`);
  }
  await mkdir(target, { recursive: true, mode: 0o700 });
}

class Restorer {
  readonly result: RestoreResult = { filesRestored: 0, dirsRestored: 0, symlinksRestored: 0, bytesRestored: 0, errors: [] };
  private readonly files = new Semaphore(FILE_CONCURRENCY);
  private readonly tasks = new Set<Promise<void>>();
  /** Directories to stamp with mode and mtime after their contents exist, deepest first. */
  private readonly dirMeta: { path: string; node: TreeNode }[] = [];
  private readonly include: Minimatch[];
  private readonly isRoot = process.getuid?.() === 0;
  private interrupted: InterruptedError | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly pool: BlobWorkerPool,
    private readonly opts: RestoreOptions,
  ) {
    this.include = (opts.include ?? []).map((p) => new Minimatch(p.startsWith('/') ? p : `**/${p}`, { dot: true }));
  }

  /**
   * Walks one tree. `selected` is true when an ancestor matched the include patterns. `ensureDir` creates
   * this tree's directory (and its parents) on first use, so --include creates only the directories on the
   * way to a match, and every level is checked with lstat, never followed through a symlink.
   */
  async restoreTree(treeId: string, dir: string, snapPath: string, selected: boolean, ensureDir: () => Promise<void>): Promise<void> {
    this.checkAbort();
    const tree = decodeTree(await this.repo.loadBlob(treeId), treeId);
    for (const node of tree.nodes) {
      const reason = unsafeNameReason(node.name);
      if (reason) {
        this.fail(`${snapPath || '/'}: refused entry ${JSON.stringify(node.name)}: unsafe ${reason}`);
        continue;
      }
      const path = join(dir, node.name);
      const childSnap = `${snapPath}/${node.name}`;
      const sel = selected || this.include.some((m) => m.match(childSnap));
      try {
        if (node.type === 'dir') {
          const ensureChild = once(async () => {
            await ensureDir();
            await this.makeRealDir(path);
            this.dirMeta.push({ path, node });
            this.result.dirsRestored++;
          });
          if (sel) await ensureChild();
          await this.restoreTree(node.subtree!, path, childSnap, sel, ensureChild);
        } else if (sel) {
          await ensureDir();
          if (node.type === 'symlink') await this.restoreSymlink(path, node);
          else await this.spawnFile(path, childSnap, node);
        }
      } catch (err) {
        this.report(childSnap, err);
      }
    }
  }

  /** Waits for every file and stamps directory metadata, deepest first. */
  async finish(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    if (this.interrupted) throw this.interrupted;
    for (const { path, node } of this.dirMeta.reverse()) {
      await this.applyMeta(path, node).catch((err: unknown) => this.report(path, err));
    }
  }

  /** Makes `path` a real directory. With --force, a file or symlink in the way is removed, never followed. */
  private async makeRealDir(path: string): Promise<void> {
    try {
      const st = await lstat(path);
      if (st.isDirectory()) return;
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(path, { mode: 0o700 });
  }

  private async restoreSymlink(path: string, node: TreeNode): Promise<void> {
    await this.clearForReplace(path);
    await symlink(node.linktarget!, path);
    if (this.isRoot) await lchown(path, node.uid, node.gid).catch(() => undefined);
    const t = nsToTimeArg(node.mtime);
    await lutimes(path, t, t).catch(() => undefined);
    this.result.symlinksRestored++;
  }

  private async spawnFile(path: string, snapPath: string, node: TreeNode): Promise<void> {
    await this.files.acquire();
    const task = this.restoreFile(path, node)
      .catch((err: unknown) => this.report(snapPath, err))
      .finally(() => {
        this.files.release();
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  private async restoreFile(path: string, node: TreeNode): Promise<void> {
    const dir = join(path, '..');
    const tmp = join(dir, `.owb-restore-${randomBytes(8).toString('hex')}`);
    // 'wx' = O_CREAT|O_EXCL: never opens through an existing file or symlink.
    const fh = await open(tmp, 'wx', 0o600);
    let ok = false;
    try {
      const content = node.content ?? [];
      let written = 0;
      let next = 0;
      const ahead: Promise<Buffer>[] = [];
      const fetch = (): void => {
        const id = content[next++]!;
        const p = this.repo.loadSealedBlob(id).then((sealed) => this.pool.decode(id, sealed));
        p.catch(() => undefined); // awaited in order below
        ahead.push(p);
      };
      while (next < content.length && ahead.length < BLOBS_AHEAD) fetch();
      while (ahead.length > 0) {
        this.checkAbort();
        const data = await ahead.shift()!;
        if (next < content.length) fetch();
        await fh.write(data, 0, data.length, written);
        written += data.length;
        this.result.bytesRestored += data.length;
      }
      if (written !== node.size) throw new OwbError(`restored size ${written} differs from recorded size ${String(node.size)}`);
      await fh.sync();
      ok = true;
    } finally {
      await fh.close();
      if (!ok) await unlink(tmp).catch(() => undefined);
    }
    try {
      await this.applyMeta(tmp, node);
      await this.clearForReplace(path);
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.result.filesRestored++;
    this.opts.onProgress?.({ filesDone: this.result.filesRestored, bytesDone: this.result.bytesRestored, totalBytes: 0 });
  }

  /** With --force an existing entry may stand where a new one goes; a directory there is an error. */
  private async clearForReplace(path: string): Promise<void> {
    try {
      const st = await lstat(path);
      if (st.isDirectory()) throw new OwbError(`a directory is in the way`);
      await rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async applyMeta(path: string, node: TreeNode): Promise<void> {
    // Ownership only as root, as tar and restic do; an unprivileged restore keeps the user's own.
    if (this.isRoot) await chown(path, node.uid, node.gid).catch(() => undefined);
    await chmod(path, node.mode);
    const t = nsToTimeArg(node.mtime);
    await utimes(path, t, t);
  }

  private report(where: string, err: unknown): void {
    if (err instanceof InterruptedError) {
      this.interrupted ??= err;
      return;
    }
    this.fail(`${where}: ${(err as Error).message}`);
  }

  private fail(message: string): void {
    this.result.errors.push(message);
    this.opts.onWarning?.(message);
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new InterruptedError(String(this.opts.signal.reason ?? 'SIGINT'));
  }
}

/** Wraps an async function so that it runs once; later calls share the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/**
 * Nanoseconds (decimal string) to the time argument of utimes. Node takes seconds as a double, which
 * cannot hold nanoseconds, and libuv truncates it; aiming at the middle of the microsecond makes the
 * restored time exact to the microsecond. A numeric string is used because Node replaces a negative
 * number (a time before 1970) with "now", but passes a numeric string through.
 */
export function nsToTimeArg(ns: string): string {
  const n = BigInt(ns);
  const us = n >= 0n ? n / 1000n : -((-n + 999n) / 1000n);
  return String(Number(us) / 1e6 + 5e-7);
}
