import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, futimesSync, lchownSync, lutimesSync, symlinkSync, utimesSync } from 'node:fs';
import { childPath, shown, type FsPath } from '../repo/fs-path.js';
import { displayName, nameToBytes } from '../repo/names.js';
import { Minimatch } from 'minimatch';
import { abortReason, DamagedRepoError, isAbort, OwbError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { unsafeNameReason, type TreeNode } from '../repo/tree.js';
import type { BlobWorkerPool } from '../repo/worker-pool.js';
import { Semaphore } from '../util/semaphore.js';
import { BlobFeeder, type BlobRequest } from './blob-feeder.js';
import { clearForReplace, fsyncFd, makeRealDir, nsToTimeArg, openNew, renameInto, swallow, unlinkQuietly } from './fs-ops.js';

/** What a restore of one tree into a folder is asked to do. */
export interface RestorerOptions {
  /** Glob patterns on snapshot paths; an entry is restored when it or an ancestor matches. Empty: everything. */
  include?: string[];
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onProgress?: (p: { filesDone: number; bytesDone: number; totalBytes: number }) => void;
}

/** What a restore did. */
export interface RestorerResult {
  filesRestored: number;
  dirsRestored: number;
  symlinksRestored: number;
  bytesRestored: number;
  errors: string[];
}

/**
 * Files restored at once. A file in flight costs an open descriptor and a few queued blob requests, no buffers:
 * its blobs are written by the workers straight from the pack ranges read. Many files in flight let one range
 * read serve many small files and keep the fsyncs (one per file) overlapping.
 */
const FILE_CONCURRENCY = 64;

/**
 * Calls that only change an inode already open (fchmod, futimes, close) are synchronous: microseconds each,
 * against tens for a call through the thread pool. Those that can wait for the disk or the journal (create,
 * mkdir, fsync, rename, pack reads) are asynchronous, so the thread keeps feeding the workers meanwhile.
 */
export class Restorer {
  readonly result: RestorerResult = { filesRestored: 0, dirsRestored: 0, symlinksRestored: 0, bytesRestored: 0, errors: [] };
  private readonly files = new Semaphore(FILE_CONCURRENCY);
  private readonly tasks = new Set<Promise<void>>();
  /** Directories to stamp with mode and mtime after their contents exist, deepest first. */
  private readonly dirMeta: { path: FsPath; node: TreeNode }[] = [];
  private readonly include: Minimatch[];
  private readonly isRoot = process.getuid?.() === 0;
  private readonly feeder: BlobFeeder;
  private readonly tmpPrefix = `.owb-restore-${randomBytes(6).toString('hex')}-`;
  private tmpSeq = 0;
  private interrupted: OwbError | undefined;

  constructor(
    private readonly repo: Repository,
    pool: BlobWorkerPool,
    private readonly opts: RestorerOptions,
  ) {
    this.include = (opts.include ?? []).map((p) => new Minimatch(p.startsWith('/') ? p : `**/${p}`, { dot: true }));
    this.feeder = new BlobFeeder(repo, pool, () => this.abortError());
  }

  /**
   * Walks one tree. `selected` is true when an ancestor matched the include patterns. `ensureDir` creates
   * this tree's directory (and its parents) on first use, so --include creates only the directories on the
   * way to a match, and every level is checked with lstat, never followed through a symlink.
   */
  async restoreTree(treeId: string, dir: FsPath, snapPath: string, selected: boolean, ensureDir: () => Promise<void>): Promise<void> {
    this.checkAbort();
    const tree = await this.repo.loadTree(treeId);
    for (const node of tree.nodes) {
      const reason = unsafeNameReason(node.name);
      if (reason) {
        this.fail(`${snapPath || '/'}: refused entry ${JSON.stringify(displayName(String(node.name)))}: unsafe ${reason}`);
        continue;
      }
      const path = childPath(dir, node.name);
      const childSnap = `${snapPath}/${node.name}`;
      const sel = selected || this.include.some((m) => m.match(childSnap));
      try {
        if (node.type === 'dir') {
          const ensureChild = once(async () => {
            await ensureDir();
            await makeRealDir(path);
            this.dirMeta.push({ path, node });
            this.result.dirsRestored++;
          });
          if (sel) await ensureChild();
          await this.restoreTree(node.subtree!, path, childSnap, sel, ensureChild);
        } else if (sel) {
          await ensureDir();
          if (node.type === 'symlink') this.restoreSymlink(path, node);
          else await this.spawnFile(dir, path, childSnap, node);
        }
      } catch (err) {
        this.report(childSnap, err);
      }
    }
  }

  /** Waits for every file and stamps directory metadata, deepest first. */
  async finish(): Promise<void> {
    await this.settle();
    if (this.interrupted) throw this.interrupted;
    for (const { path, node } of this.dirMeta.reverse()) {
      try {
        this.applyMeta(path, node);
      } catch (err) {
        this.report(shown(path), err);
      }
    }
  }

  /** Waits until no file is in flight. */
  async settle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  private restoreSymlink(path: FsPath, node: TreeNode): void {
    clearForReplace(path);
    // The target as the bytes it was (format 2 escapes those that are not UTF-8).
    symlinkSync(nameToBytes(node.linktarget!), path);
    if (this.isRoot) {
      try {
        lchownSync(path, node.uid, node.gid);
      } catch {
        // as chown below: ownership is best effort
      }
    }
    const t = nsToTimeArg(node.mtime);
    try {
      lutimesSync(path, t, t);
    } catch {
      // some filesystems cannot set a link's own times
    }
    this.result.symlinksRestored++;
  }

  private async spawnFile(dir: FsPath, path: FsPath, snapPath: string, node: TreeNode): Promise<void> {
    await this.files.acquire();
    const task = this.restoreFile(dir, path, node)
      .catch((err: unknown) => this.report(snapPath, err))
      .finally(() => {
        this.files.release();
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  private async restoreFile(dir: FsPath, path: FsPath, node: TreeNode): Promise<void> {
    this.checkAbort();
    const tmp = childPath(dir, `${this.tmpPrefix}${++this.tmpSeq}`);
    // 'wx' = O_CREAT|O_EXCL: never opens through an existing file or symlink. Asynchronous, as creating a file
    // can wait for a journal commit (other files' fsyncs): measured 17 s instead of 23 s when done in line.
    const fd = await openNew(tmp);
    let ok = false;
    try {
      // Each blob's place in the file comes from the index's plaintext lengths; a worker refuses a blob that
      // decodes to another length, so the offsets hold.
      const reqs: BlobRequest[] = [];
      let size = 0;
      for (const id of node.content ?? []) {
        const loc = this.repo.index.lookup(id);
        if (!loc) throw new DamagedRepoError(`blob ${id.slice(0, 12)} is not in the index`);
        reqs.push({ id, loc, fd, position: size });
        size += loc.rawLength;
      }
      if (size !== node.size) throw new OwbError(`restored size ${size} differs from recorded size ${String(node.size)}`);
      await this.feeder.fetch(reqs);
      // Zero chunks were left as holes (blob-worker.ts); trailing ones still count towards the size.
      ftruncateSync(fd, size);
      this.applyMeta(fd, node);
      await fsyncFd(fd);
      this.result.bytesRestored += size;
      ok = true;
    } finally {
      closeSync(fd);
      if (!ok) unlinkQuietly(tmp);
    }
    try {
      await renameInto(tmp, path);
    } catch (err) {
      unlinkQuietly(tmp);
      throw err;
    }
    this.result.filesRestored++;
    this.opts.onProgress?.({ filesDone: this.result.filesRestored, bytesDone: this.result.bytesRestored, totalBytes: 0 });
  }

  /** Owner (as root), mode and mtime, by path or on an open file (before its fsync, so one fsync covers all). */
  private applyMeta(target: FsPath | number, node: TreeNode): void {
    const t = nsToTimeArg(node.mtime);
    if (typeof target === 'number') {
      // Ownership only as root, as tar and restic do; an unprivileged restore keeps the user's own. A file already
      // owned right (root's own, the common case) is left alone: fstat costs less than a journalled chown.
      if (this.isRoot) {
        const st = fstatSync(target);
        if (st.uid !== node.uid || st.gid !== node.gid) swallow(() => fchownSync(target, node.uid, node.gid));
      }
      fchmodSync(target, node.mode);
      futimesSync(target, t, t);
      return;
    }
    if (this.isRoot) swallow(() => chownSync(target, node.uid, node.gid));
    chmodSync(target, node.mode);
    utimesSync(target, t, t);
  }

  private report(where: string, err: unknown): void {
    if (isAbort(err)) {
      this.interrupted ??= err;
      return;
    }
    this.fail(`${where}: ${(err as Error).message}`);
  }

  private fail(message: string): void {
    this.result.errors.push(message);
    this.opts.onWarning?.(message);
  }

  private abortError(): OwbError | undefined {
    return this.opts.signal?.aborted ? abortReason(this.opts.signal) : undefined;
  }

  private checkAbort(): void {
    const err = this.abortError();
    if (err) throw err;
  }
}


/** Wraps an async function so that it runs once; later calls share the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
