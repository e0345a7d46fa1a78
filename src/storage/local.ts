import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, DamagedRepoError, NotFoundError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkRange, existsByStat, FOLDER_TYPES, handleLabel, isFolderType, objectPath, statIfExists, TMP_PREFIX } from './handles.js';

/** Repository contents are secrets-adjacent (key files, encrypted data): private to the owner. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** link() errors that mean "this filesystem cannot hard-link", not "this save failed". */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS']);

/** Directory fsync is refused by some filesystems (network mounts); the data itself was already synced. */
const NO_DIR_SYNC_CODES = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF']);

/** Options for {@link LocalBackend}. */
export interface LocalBackendOptions {
  /**
   * Publish with link() (default true). When false, or once link() proves unsupported, saves fall back to
   * check-then-rename, which can only guard against concurrent saves from this process.
   */
  hardLinks?: boolean;
}

/** The node error code of `err`, if any. */
function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Removes a file, ignoring failure: used on cleanup paths where the original error matters more. */
async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // A leftover temp file is invisible to list() and harmless; the caller's error is the one to report.
  }
}

/** Makes a rename/link in `dir` durable, so a crash cannot lose a save() that already returned. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, fsConstants.O_RDONLY);
    await fh.sync();
  } catch (err) {
    if (!NO_DIR_SYNC_CODES.has(errCode(err) ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `data` to a new file and fsyncs it before returning, so a later link/rename publishes full bytes. One
 * write call for the whole object (FileHandle.writeFile would make 32 thread-pool round trips for a 16 MiB pack).
 */
async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'wx', FILE_MODE);
  try {
    let done = 0;
    while (done < data.length) done += (await fh.write(data, done, data.length - done, done)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A repository in a local folder. Objects are published atomically and never overwritten: a temp file is
 * written and fsynced, then hard-linked to its final name (link() refuses an existing target).
 */
export class LocalBackend implements Backend {
  readonly location: string;
  // A local save is a write and two fsyncs; measured on two cores, a second one at a time saved nothing.
  readonly properties: BackendProperties = Object.freeze({ connections: 1, hasAtomicReplace: true });
  private hardLinks: boolean;
  /** Serializes fallback publishes per path: check-then-rename is only safe if nobody else checks meanwhile. */
  private readonly publishing = new Map<string, Promise<void>>();

  /** `root` is resolved against the current directory once, so a later chdir does not move the repository. */
  constructor(root: string, options: LocalBackendOptions = {}) {
    this.location = resolve(root);
    this.hardLinks = options.hardLinks ?? true;
  }

  /** Creates the root, the type folders and all 256 data prefix folders; existing ones are left alone. */
  async create(): Promise<void> {
    await mkdir(this.location, { recursive: true, mode: DIR_MODE });
    await Promise.all(FOLDER_TYPES.map((t) => mkdir(join(this.location, t), { recursive: true, mode: DIR_MODE })));
    const prefixes = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(prefixes.map((p) => mkdir(join(this.location, 'data', p), { recursive: true, mode: DIR_MODE })));
  }

  /** Writes a temp file beside the target, fsyncs it, then publishes it without ever replacing an object. */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const final = this.path(h);
    const dir = dirname(final);
    const tmp = join(dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let published = false;
    try {
      try {
        await writeSynced(tmp, data);
      } catch (err) {
        // A repository copied without its empty folders (rclone sync, cp of a bucket) lacks some data/xx.
        if (errCode(err) !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true, mode: DIR_MODE });
        await writeSynced(tmp, data);
      }
      await this.publish(h, tmp, final);
      published = true;
    } finally {
      if (!published) await unlinkQuietly(tmp);
    }
    await syncDir(dir);
  }

  /** Reads a range through a FileHandle so large objects are never read whole when a slice is wanted. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    const fh = await this.openExisting(h);
    try {
      const want = length ?? (await fh.stat()).size - offset;
      if (want < 0) throw new DamagedRepoError(`short read: ${handleLabel(h)} is shorter than offset ${offset}`);
      // Not pooled: the caller owns the whole ArrayBuffer and may mutate or transfer it.
      const buf = Buffer.allocUnsafeSlow(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) {
          throw new DamagedRepoError(
            `short read: ${handleLabel(h)} ended after ${offset + got} bytes, expected at least ${offset + want}`,
          );
        }
        got += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Opens first, so a missing object fails here with NotFoundError rather than later as a stream error. */
  async openReadStream(h: Handle): Promise<Readable> {
    const fh = await this.openExisting(h);
    return fh.createReadStream({ autoClose: true });
  }

  /** Size of an object; something that is not a regular file there is damage (see notRegularFile). */
  async stat(h: Handle): Promise<FileInfo> {
    try {
      const st = await stat(this.path(h));
      if (!st.isFile()) throw notRegularFile(h, st);
      return { name: h.name, size: st.size };
    } catch (err) {
      throw this.mapMissing(err, h);
    }
  }

  /** True when the object exists. */
  exists(h: Handle): Promise<boolean> {
    return existsByStat(this, h);
  }

  /** Deletes an object. */
  async remove(h: Handle): Promise<void> {
    try {
      await unlink(this.path(h));
    } catch (err) {
      throw this.mapMissing(err, h);
    }
  }

  /** Lists complete objects of one type; a missing folder lists as empty (the repository layer decides "not found"). */
  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await statIfExists(this, { type: 'config', name: '' });
      return info === undefined ? [] : [info];
    }
    if (!isFolderType(type)) throw new TypeError(`unknown object type '${String(type)}'`);
    const folder = join(this.location, type);
    if (type !== 'data') return listFiles(folder);
    const subdirs = (await readdirOrEmpty(folder)).filter((e) => e.isDirectory() && e.name.length === 2);
    const parts = await Promise.all(subdirs.map((e) => listFiles(join(folder, e.name))));
    return parts.flat();
  }

  /** Nothing to release: every operation opens and closes its own handles. */
  async close(): Promise<void> {}

  /** Filesystem path of an object. */
  private path(h: Handle): string {
    return join(this.location, ...objectPath(h).split('/'));
  }

  /** Opens an object for reading, mapping "missing" to NotFoundError. */
  /**
   * Opens an object for reading. Non-blocking, then checked to be a regular file: opening a FIFO planted in the
   * repository would otherwise wait forever for a writer (and ignore signals meanwhile).
   */
  private async openExisting(h: Handle): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await open(this.path(h), fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw this.mapMissing(err, h);
    }
    const st = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    if (!st.isFile()) {
      await fh.close();
      throw notRegularFile(h, st);
    }
    return fh;
  }

  /** Turns ENOENT into the contract's NotFoundError; other errors pass through untouched. */
  private mapMissing(err: unknown, h: Handle): unknown {
    // ENOTDIR: the repository path (or a folder in it) is a file; nothing can be stored there.
    const code = errCode(err);
    return code === 'ENOENT' || code === 'ENOTDIR' ? new NotFoundError(handleLabel(h)) : err;
  }

  /** Moves the synced temp file to its final name, failing if that name is taken. */
  private async publish(h: Handle, tmp: string, final: string): Promise<void> {
    if (this.hardLinks) {
      try {
        await link(tmp, final);
        // The object is complete and durable under its final name; a failed unlink only leaves hidden garbage.
        await unlinkQuietly(tmp);
        return;
      } catch (err) {
        const code = errCode(err);
        if (code === 'EEXIST') throw new AlreadyExistsError(handleLabel(h));
        if (!NO_LINK_CODES.has(code ?? '')) throw err;
        this.hardLinks = false;
      }
    }
    await this.renameIfAbsent(h, tmp, final);
  }

  /** Fallback for filesystems without hard links: serialize per path so two saves here cannot both win. */
  private async renameIfAbsent(h: Handle, tmp: string, final: string): Promise<void> {
    const before = this.publishing.get(final) ?? Promise.resolve();
    const mine = before.then(async () => {
      const taken = await lstat(final).then(
        () => true,
        (err: unknown) => {
          if (errCode(err) === 'ENOENT') return false;
          throw err;
        },
      );
      if (taken) throw new AlreadyExistsError(handleLabel(h));
      await rename(tmp, final);
    });
    const settled = mine.catch(() => undefined);
    this.publishing.set(final, settled);
    try {
      await mine;
    } finally {
      if (this.publishing.get(final) === settled) this.publishing.delete(final);
    }
  }
}

/** Directory entries, or none when the folder does not exist. */
async function readdirOrEmpty(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Regular files of one folder with their sizes, skipping temp files and files removed while listing. */
async function listFiles(folder: string): Promise<FileInfo[]> {
  const entries = (await readdirOrEmpty(folder)).filter((e) => e.isFile() && !e.name.startsWith('.'));
  const infos = await Promise.all(
    entries.map(async (e): Promise<FileInfo | undefined> => {
      try {
        return { name: e.name, size: (await stat(join(folder, e.name))).size };
      } catch (err) {
        if (errCode(err) === 'ENOENT') return undefined;
        throw err;
      }
    }),
  );
  return infos.filter((i): i is FileInfo => i !== undefined);
}

/**
 * The error for an object path that holds something other than a regular file (a planted FIFO, a folder): damage,
 * never "missing", and never opened for reading, which for a FIFO would wait forever.
 */
function notRegularFile(h: Handle, st: { isFIFO(): boolean; isDirectory(): boolean }): DamagedRepoError {
  return new DamagedRepoError(`${handleLabel(h)} is not a regular file (a ${st.isFIFO() ? 'FIFO' : st.isDirectory() ? 'directory' : 'special file'}); refusing to read it`);
}
