import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { abortReason, isAbort } from '../errors.js';
import { findCutPoint, gearTable, validateChunkerParams, type ChunkerParams } from '../repo/chunker.js';
import type { Repository } from '../repo/repository.js';
import type { Tree, TreeNode } from '../repo/tree.js';
import { IdFilter, type BlobWorkerPool } from '../repo/worker-pool.js';
import { ChunkRing, type Claim } from './chunk-ring.js';
import { baseNode, deferred, RawNameError, settled, SKIPPED, unchanged, type Deferred } from './nodes.js';
import { childPath, shown, type FsPath } from '../repo/fs-path.js';
import { hasEscapedBytes, nameFromBytes } from '../repo/names.js';
import { fileSource, READ_MAX, streamSource, type Source } from './input-source.js';

/** Counters the archiver keeps while it runs; also the basis of progress output. */
export interface ArchiveCounters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  filesDone: number;
  bytesDone: number;
  unreadable: number;
}

/** Hooks and limits for one archive run. */
export interface ArchiverOptions {
  pool: BlobWorkerPool;
  /** Called for each skipped or unreadable entry, with a one-line message. */
  onWarning: (message: string) => void;
  /**
   * Called after each file, and while a large file is read (at most every PROGRESS_EVERY_MS), so a multi-GB
   * database shows bytes moving; cheap, the caller throttles drawing.
   */
  onProgress?: (counters: ArchiveCounters, path: string) => void;
  /** Return true to leave an absolute path out. */
  exclude?: (absPath: string, isDir: boolean) => boolean;
  signal?: AbortSignal;
  /** Plaintext bytes allowed in flight between reading and packing, beyond the chunker's look-ahead of maxSize. */
  inFlightBytes?: number;
  /** Least time between two progress reports inside one file (default PROGRESS_EVERY_MS). */
  progressIntervalMs?: number;
}


/** Enough to keep two workers busy: measured, 4 MiB was slower and 16 MiB no faster but 30 MiB bigger. */
const DEFAULT_IN_FLIGHT = 8 * 1024 * 1024;
/** The walk yields to the event loop at least this often (ms), so signals and timers are served. */
const YIELD_EVERY_MS = 20;
/** Progress inside a file being read is reported at most this often (ms). */
const PROGRESS_EVERY_MS = 100;

/**
 * Walks files and directories, chunks new or changed files, and saves one tree blob per directory.
 * A file whose size, mtime, ctime and inode match the parent snapshot's entry is not read again.
 *
 * Files are read into one ring of memory shared with the blob workers. A chunk is cut there and only its byte
 * range goes to a worker, which computes its id and, unless the repository may already hold it, compresses and
 * encrypts it in place; this thread's index decides what is new. No chunk is copied or transferred, and the ring
 * bounds the plaintext in flight. Metadata calls (lstat, readdir) and reads of small files are synchronous: each
 * costs microseconds, while the promise versions cost tens (for 20,000 files, seconds on this busiest thread).
 */
export class Archiver {
  readonly counters: ArchiveCounters = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    filesDone: 0,
    bytesDone: 0,
    unreadable: 0,
  };
  private readonly params: Readonly<ChunkerParams>;
  private readonly gear: Uint32Array;
  private readonly ring: ChunkRing;
  private region: number | undefined;
  private filter: IdFilter | undefined;
  private busy = false;
  private lastYield = Date.now();
  private lastProgress = 0;
  /** Format 2 stores names and link targets that are not UTF-8; format 1 cannot. */
  private readonly rawNames: boolean;

  constructor(
    private readonly repo: Repository,
    private readonly opts: ArchiverOptions,
  ) {
    const p = repo.chunkerParams;
    validateChunkerParams(p);
    this.params = Object.freeze({ minSize: p.minSize, avgSize: p.avgSize, maxSize: p.maxSize });
    this.gear = gearTable(repo.key.chunkerSeed);
    this.rawNames = repo.formatVersion >= 2;
    this.ring = new ChunkRing(this.params.maxSize + (opts.inFlightBytes ?? DEFAULT_IN_FLIGHT));
  }

  /** Loads a parent tree, or undefined when there is none. */
  async loadTree(id: string | undefined): Promise<Tree | undefined> {
    if (!id) return undefined;
    return this.repo.loadTree(id);
  }

  /** Saves a directory listing as a tree blob and returns its id. */
  saveTree(nodes: TreeNode[]): Promise<string> {
    return this.repo.saveTree(nodes);
  }

  /**
   * Archives one path of any type. Reading is sequential (one open file, one ring); the returned node settles
   * once its chunks are packed, so the walk reads on while workers compress and encrypt.
   */
  async archivePath(absPath: FsPath, name: string, parent: TreeNode | undefined): Promise<Deferred> {
    this.checkAbort();
    await this.maybeYield();
    let st: BigIntStats;
    try {
      st = lstatSync(absPath, { bigint: true });
    } catch (err) {
      this.unreadable(absPath, err);
      return SKIPPED;
    }
    if (st.isDirectory()) {
      if (this.opts.exclude?.(shown(absPath), true)) return SKIPPED;
      return this.archiveDir(absPath, name, st, parent);
    }
    if (this.opts.exclude?.(shown(absPath), false)) return SKIPPED;
    if (st.isFile()) return this.archiveFile(absPath, name, st, parent);
    if (st.isSymbolicLink()) {
      try {
        // The target as the bytes it is: a target that is not valid UTF-8 must not come back as U+FFFD.
        const linktarget = nameFromBytes(readlinkSync(absPath, { encoding: 'buffer' }));
        if (hasEscapedBytes(linktarget) && !this.rawNames) throw new RawNameError();
        return settled({ ...baseNode(name, 'symlink', st), linktarget });
      } catch (err) {
        this.unreadable(absPath, err);
        return SKIPPED;
      }
    }
    this.opts.onWarning(`skipped ${shown(absPath)}: sockets, FIFOs and devices are not backed up`);
    return SKIPPED;
  }

  /** Archives piped content (a database dump) as a file node; the stream is read to its end. */
  async archiveStream(name: string, stream: Readable): Promise<Deferred> {
    const pending: Promise<string>[] = [];
    const src = streamSource(stream);
    let size: number;
    try {
      size = await this.chunkInput(src, pending, name);
    } catch (err) {
      await src.close();
      throw err;
    }
    this.counters.filesNew++;
    this.fileDone(name, 0);
    const now = (BigInt(Date.now()) * 1_000_000n).toString();
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    return deferred(
      Promise.all(pending).then((content) => ({ name, type: 'file' as const, mode: 0o600, mtime: now, ctime: now, inode: 0, uid, gid, size, content })),
    );
  }

  /** Builds a directory node once its children settle (also used for the path prefix above backup paths). */
  dirNode(name: string, st: BigIntStats, children: Deferred[], parent: TreeNode | undefined): Deferred {
    return deferred(
      Promise.all(children.map((c) => c.node)).then(async (nodes) => {
        const subtree = await this.saveTree(nodes.filter((n): n is TreeNode => n !== undefined));
        this.countDir(subtree, parent);
        return { ...baseNode(name, 'dir', st), subtree };
      }),
    );
  }

  private async archiveDir(absPath: FsPath, name: string, st: BigIntStats, parent: TreeNode | undefined): Promise<Deferred> {
    const parentTree = parent?.type === 'dir' ? await this.loadTree(parent.subtree).catch(() => undefined) : undefined;
    const byName = new Map(parentTree?.nodes.map((n) => [n.name, n]) ?? []);
    let names: string[] = [];
    try {
      // Names as the bytes they are (format 2 escapes the ones that are not UTF-8), never decoded lossily.
      names = readdirSync(absPath, { encoding: 'buffer' }).map(nameFromBytes).sort();
    } catch (err) {
      this.unreadable(absPath, err);
    }
    const children: Deferred[] = [];
    for (const child of names) {
      if (hasEscapedBytes(child) && !this.rawNames) {
        this.unreadable(childPath(absPath, child), new RawNameError());
        continue;
      }
      children.push(await this.archivePath(childPath(absPath, child), child, byName.get(child)));
    }
    return this.dirNode(name, st, children, parent);
  }

  private async archiveFile(absPath: FsPath, name: string, st: BigIntStats, parent: TreeNode | undefined): Promise<Deferred> {
    const base = baseNode(name, 'file', st);
    if (parent && unchanged(parent, base, Number(st.size)) && parent.content!.every((id) => this.repo.hasBlob(id))) {
      this.counters.filesUnmodified++;
      this.fileDone(absPath, Number(st.size));
      return settled({ ...base, size: parent.size, content: parent.content });
    }
    let fd: number;
    try {
      fd = openSync(absPath, 'r');
    } catch (err) {
      this.unreadable(absPath, err);
      return SKIPPED;
    }
    const pending: Promise<string>[] = [];
    let size: number;
    try {
      size = await this.chunkInput(fileSource(fd, Number(st.size)), pending, absPath);
    } catch (err) {
      if (isAbort(err)) throw err;
      await Promise.allSettled(pending);
      this.unreadable(absPath, err);
      return SKIPPED;
    } finally {
      try {
        closeSync(fd);
      } catch {
        // Nothing was written through it; a failed close changes nothing.
      }
    }
    if (parent?.type === 'file') this.counters.filesChanged++;
    else this.counters.filesNew++;
    this.warnIfChanged(absPath, st, size);
    this.fileDone(absPath, 0);
    return deferred(Promise.all(pending).then((content) => ({ ...base, size, content })));
  }

  /**
   * Reads one input into the ring and cuts it into chunks, each queued for saving; returns the bytes read. A cut
   * is final only once maxSize bytes past the chunk start are in the ring, or the input has ended (the contract
   * of findCutPoint, so chunks are exactly those of the Chunker).
   */
  private async chunkInput(src: Source, pending: Promise<string>[], path: FsPath): Promise<number> {
    if (this.busy) throw new Error('Archiver reads one input at a time');
    this.busy = true;
    try {
      const ring = this.ring;
      const maxSize = this.params.maxSize;
      ring.beginInput();
      let total = 0;
      let eof = false;
      for (;;) {
        while (!eof && ring.end - ring.start < maxSize) {
          this.checkAbort();
          const want = Math.min(src.want(), READ_MAX);
          const room = await ring.room(want);
          const n = await src.read(ring.buf, ring.end, Math.min(room, want));
          if (n === 0 || src.ended) eof = true;
          ring.end += n;
          this.counters.bytesDone += n;
          this.readProgress(path);
        }
        if (ring.start === ring.end) return total;
        const n = findCutPoint(ring.buf, ring.start, ring.end, this.params, this.gear);
        total += n;
        const p = this.saveChunk(ring.claim(n));
        p.catch(() => undefined); // awaited through the node; keeps it from counting as unhandled meanwhile
        pending.push(p);
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * A worker computes the chunk's id and, when the filter says the repository cannot have it yet, encodes it right
   * away; this thread's index decides. Only a chunk the filter wrongly suspected goes back for encoding.
   */
  private async saveChunk(c: Claim): Promise<string> {
    try {
      const pool = this.opts.pool;
      const region = this.sharedRegion();
      const { id, encoded } = await pool.save(region, c.offset, c.length);
      if (!this.repo.claimBlob(id)) {
        encoded?.release();
        return id;
      }
      this.filter!.add(id);
      const blob = encoded ?? (await pool.encode(region, c.offset, c.length));
      try {
        await this.repo.addSealedBlob('data', id, blob.sealed, blob.rawLength);
      } finally {
        blob.release(); // copied into the pack by now (or failed)
      }
      return id;
    } finally {
      this.ring.release(c);
    }
  }

  /** Shares the ring and a filter of the known blob ids with the workers, on first use. */
  private sharedRegion(): number {
    if (this.region === undefined) {
      const index = this.repo.index;
      this.filter = new IdFilter(index.size + 256 * 1024);
      for (const [id] of index.entries()) this.filter.add(id);
      this.opts.pool.useFilter(this.filter);
      this.region = this.opts.pool.share(this.ring.memory);
    }
    return this.region;
  }

  private countDir(subtree: string, parent: TreeNode | undefined): void {
    if (parent?.type !== 'dir') this.counters.dirsNew++;
    else if (parent.subtree === subtree) this.counters.dirsUnmodified++;
    else this.counters.dirsChanged++;
  }

  /** Counts a finished file; `unreadBytes` are those of an unchanged file that was not read (read bytes count as they are read). */
  private fileDone(path: FsPath, unreadBytes: number): void {
    this.counters.filesDone++;
    this.counters.bytesDone += unreadBytes;
    this.lastProgress = Date.now();
    this.opts.onProgress?.(this.counters, shown(path));
  }

  private readProgress(path: FsPath): void {
    const now = Date.now();
    if (now - this.lastProgress < (this.opts.progressIntervalMs ?? PROGRESS_EVERY_MS)) return;
    this.lastProgress = now;
    this.opts.onProgress?.(this.counters, shown(path));
  }

  /**
   * Warns when a file changed while it was read (as restic does): its snapshot copy may then mix old and new
   * contents. Open WebUI's databases are never read live (the capture copies them first), so for them this does not
   * arise; for plain paths it tells the user which file to distrust.
   */
  private warnIfChanged(path: FsPath, before: BigIntStats, bytesRead: number): void {
    let after: BigIntStats;
    try {
      after = lstatSync(path, { bigint: true });
    } catch {
      this.opts.onWarning(`file changed while being read: ${shown(path)} (it is gone now)`);
      return;
    }
    if (BigInt(bytesRead) !== before.size || after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) {
      this.opts.onWarning(`file changed while being read: ${shown(path)}`);
    }
  }

  private unreadable(path: FsPath, err: unknown): void {
    this.counters.unreadable++;
    const code = (err as NodeJS.ErrnoException).code;
    this.opts.onWarning(`cannot read ${shown(path)}: ${code ?? (err as Error).message}`);
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw abortReason(this.opts.signal);
  }

  /** Synchronous metadata calls never wait on the event loop; let signals, timers and replies in now and then. */
  private async maybeYield(): Promise<void> {
    const now = Date.now();
    if (now - this.lastYield < YIELD_EVERY_MS) return;
    this.lastYield = now;
    await yieldToLoop();
    this.checkAbort();
  }
}
