import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import { InterruptedError } from '../errors.js';
import { Chunker, gearTable } from '../repo/chunker.js';
import type { Repository } from '../repo/repository.js';
import { decodeTree, encodeTree, type Tree, type TreeNode } from '../repo/tree.js';
import type { BlobWorkerPool } from '../repo/worker-pool.js';
import { Semaphore } from '../util/semaphore.js';

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
  /** Called after each file; cheap, the caller throttles drawing. */
  onFileDone?: (counters: ArchiveCounters, path: string) => void;
  /** Return true to leave an absolute path out. */
  exclude?: (absPath: string, isDir: boolean) => boolean;
  signal?: AbortSignal;
  /** Plaintext bytes allowed in flight between reading and packing. */
  inFlightBytes?: number;
}

/** Enough to keep two workers busy; more only raises memory (measured). */
const DEFAULT_IN_FLIGHT = 32 * 1024 * 1024;

/**
 * Walks files and directories, chunks new or changed files, and saves one tree blob per directory.
 * A file whose size, mtime, ctime and inode match the parent snapshot's entry is not read again.
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
  private readonly chunker: Chunker;
  private readonly inFlight: Semaphore;

  constructor(
    private readonly repo: Repository,
    private readonly opts: ArchiverOptions,
  ) {
    this.chunker = new Chunker(repo.chunkerParams, gearTable(repo.key.chunkerSeed));
    this.inFlight = new Semaphore(opts.inFlightBytes ?? DEFAULT_IN_FLIGHT);
  }

  /** Loads a parent tree, or undefined when there is none. */
  async loadTree(id: string | undefined): Promise<Tree | undefined> {
    if (!id) return undefined;
    return decodeTree(await this.repo.loadBlob(id), id);
  }

  /** Saves a directory listing as a tree blob and returns its id. */
  saveTree(nodes: TreeNode[]): Promise<string> {
    return this.repo.saveBlob('tree', encodeTree(nodes));
  }

  /**
   * Archives one path of any type. Reading is sequential (one open file, one chunker buffer); the returned
   * node settles once its chunks are packed, so the walk reads on while workers compress and encrypt.
   */
  async archivePath(absPath: string, name: string, parent: TreeNode | undefined): Promise<Deferred> {
    this.checkAbort();
    let st: BigIntStats;
    try {
      st = await lstat(absPath, { bigint: true });
    } catch (err) {
      this.unreadable(absPath, err);
      return SKIPPED;
    }
    if (st.isDirectory()) {
      if (this.opts.exclude?.(absPath, true)) return SKIPPED;
      return this.archiveDir(absPath, name, st, parent);
    }
    if (this.opts.exclude?.(absPath, false)) return SKIPPED;
    if (st.isFile()) return this.archiveFile(absPath, name, st, parent);
    if (st.isSymbolicLink()) {
      try {
        return settled({ ...baseNode(name, 'symlink', st), linktarget: await readlink(absPath) });
      } catch (err) {
        this.unreadable(absPath, err);
        return SKIPPED;
      }
    }
    this.opts.onWarning(`skipped ${absPath}: sockets, FIFOs and devices are not backed up`);
    return SKIPPED;
  }

  /** Archives piped content (a database dump) as a file node; the stream is read to its end. */
  async archiveStream(name: string, stream: Readable): Promise<Deferred> {
    const pending: Promise<string>[] = [];
    const size = await this.submitChunks(this.chunker.chunkStream(stream), pending);
    this.counters.filesNew++;
    this.fileDone(name, size);
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

  private async archiveDir(absPath: string, name: string, st: BigIntStats, parent: TreeNode | undefined): Promise<Deferred> {
    const parentTree = parent?.type === 'dir' ? await this.loadTree(parent.subtree).catch(() => undefined) : undefined;
    const byName = new Map(parentTree?.nodes.map((n) => [n.name, n]) ?? []);
    let names: string[] = [];
    try {
      names = (await readdir(absPath)).sort();
    } catch (err) {
      this.unreadable(absPath, err);
    }
    const children: Deferred[] = [];
    for (const child of names) children.push(await this.archivePath(join(absPath, child), child, byName.get(child)));
    return this.dirNode(name, st, children, parent);
  }

  private async archiveFile(absPath: string, name: string, st: BigIntStats, parent: TreeNode | undefined): Promise<Deferred> {
    const base = baseNode(name, 'file', st);
    if (parent && unchanged(parent, base, Number(st.size)) && parent.content!.every((id) => this.repo.hasBlob(id))) {
      this.counters.filesUnmodified++;
      this.fileDone(absPath, Number(st.size));
      return settled({ ...base, size: parent.size, content: parent.content });
    }
    let fh;
    try {
      fh = await open(absPath, 'r');
    } catch (err) {
      this.unreadable(absPath, err);
      return SKIPPED;
    }
    const pending: Promise<string>[] = [];
    let size: number;
    try {
      size = await this.submitChunks(this.chunker.chunkFile(fh), pending);
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      await Promise.allSettled(pending);
      this.unreadable(absPath, err);
      return SKIPPED;
    } finally {
      await fh.close().catch(() => undefined);
    }
    if (parent?.type === 'file') this.counters.filesChanged++;
    else this.counters.filesNew++;
    this.fileDone(absPath, size);
    return deferred(Promise.all(pending).then((content) => ({ ...base, size, content })));
  }

  /** Feeds chunks to the workers within the in-flight budget; returns the bytes read. */
  private async submitChunks(chunks: AsyncIterable<Buffer>, pending: Promise<string>[]): Promise<number> {
    let size = 0;
    for await (const chunk of chunks) {
      this.checkAbort();
      size += chunk.length;
      await this.inFlight.acquire(chunk.length);
      const len = chunk.length;
      const p = this.saveChunk(chunk).finally(() => this.inFlight.release(len));
      p.catch(() => undefined); // awaited through the node; keeps it from counting as unhandled meanwhile
      pending.push(p);
    }
    return size;
  }

  private async saveChunk(chunk: Buffer): Promise<string> {
    const { id, ticket } = await this.opts.pool.hash(chunk);
    if (!this.repo.claimBlob(id)) {
      this.opts.pool.drop(ticket);
      return id;
    }
    const { sealed, rawLength } = await this.opts.pool.encode(ticket);
    await this.repo.addSealedBlob('data', id, sealed, rawLength);
    return id;
  }

  private countDir(subtree: string, parent: TreeNode | undefined): void {
    if (parent?.type !== 'dir') this.counters.dirsNew++;
    else if (parent.subtree === subtree) this.counters.dirsUnmodified++;
    else this.counters.dirsChanged++;
  }

  private fileDone(path: string, bytes: number): void {
    this.counters.filesDone++;
    this.counters.bytesDone += bytes;
    this.opts.onFileDone?.(this.counters, path);
  }

  private unreadable(path: string, err: unknown): void {
    this.counters.unreadable++;
    const code = (err as NodeJS.ErrnoException).code;
    this.opts.onWarning(`cannot read ${path}: ${code ?? (err as Error).message}`);
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new InterruptedError(String(this.opts.signal.reason ?? 'SIGINT'));
  }
}

/** A node that settles once its data is packed; undefined when the entry was skipped. */
export interface Deferred {
  node: Promise<TreeNode | undefined>;
}

function deferred(node: Promise<TreeNode | undefined>): Deferred {
  node.catch(() => undefined); // the root awaits every node; this only silences the interim
  return { node };
}

function settled(node: TreeNode): Deferred {
  return { node: Promise.resolve(node) };
}

const SKIPPED: Deferred = { node: Promise.resolve(undefined) };

/** The metadata part of a node, from an lstat with bigint times. */
export function baseNode(name: string, type: TreeNode['type'], st: BigIntStats): TreeNode {
  return {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    mtime: st.mtimeNs.toString(),
    ctime: st.ctimeNs.toString(),
    inode: Number(st.ino),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

function unchanged(parent: TreeNode, now: TreeNode, size: number): boolean {
  return (
    parent.type === 'file' &&
    Array.isArray(parent.content) &&
    parent.size === size &&
    parent.mtime === now.mtime &&
    parent.ctime === now.ctime &&
    parent.inode === now.inode
  );
}
