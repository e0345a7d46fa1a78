import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { AlreadyExistsError, DamagedRepoError, NotFoundError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkRange, existsByStat, FOLDER_TYPES, handleLabel, isFolderType, objectPath, statIfExists, TMP_PREFIX } from './handles.js';
import { connectionLost, FX_FAILURE, isMissing, SftpConnectionError, SftpConnector, statusOf, type Connection, type SftpAttrs, type SftpEntry } from './sftp-connection.js';
import { closeQuietly, DIR_MODE, FILE_MODE, filesOf, IO_DEPTH, pipelined, readInto, S_IFDIR, S_IFMT, S_IFREG, STREAM_CHUNK, unlinkQuietly, upload } from './sftp-io.js';
import { sftpLocation, type SftpSettings } from './sftp-settings.js';

/**
 * A repository on an SFTP server, laid out as LocalBackend lays out a folder. One SSH connection carries all
 * requests (SFTP pipelines them). A connection lost mid-operation fails that operation with a transient
 * SftpConnectionError, and the next call opens a new connection: retrying belongs to the retry wrapper (stack.ts).
 * Every connection checks the server's host key first, against known_hosts or a pinned fingerprint, and refuses
 * unknown or changed keys.
 */
export class SftpBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties = Object.freeze({ connections: 4, hasAtomicReplace: true });
  private readonly root: string;
  private readonly connector: SftpConnector;
  /** Temp files of uploads cut off with their connection: removed over the next connection, the old one cannot. */
  private readonly orphans = new Set<string>();

  /** Only stores the settings: the first operation connects. */
  constructor(settings: SftpSettings) {
    this.connector = new SftpConnector(settings);
    this.root = settings.path;
    this.location = sftpLocation(settings);
  }

  /** Creates the root, the type folders and the 256 data prefix folders; existing ones are left alone. */
  async create(): Promise<void> {
    await this.withConnection(async (conn) => {
      await this.mkdirs(conn, this.root);
      await Promise.all(FOLDER_TYPES.map((t) => this.mkdirOnce(conn, posix.join(this.root, t))));
      await pipelined(256, IO_DEPTH, (i) => this.mkdirOnce(conn, posix.join(this.root, 'data', i.toString(16).padStart(2, '0'))));
    });
  }

  /**
   * Uploads to a temp name beside the target, then renames it. The rename is a plain SSH_FXP_RENAME, never
   * posix-rename@openssh.com: OpenSSH's server implements the plain one for files as link()+unlink(), which
   * refuses an existing target atomically, so of several racing saves exactly one wins. (Only on filesystems
   * without hard links does OpenSSH fall back to stat-then-rename, which is racy; servers that let rename
   * replace files are caught by the stat below, leaving the same small window.) A rename whose answer was lost
   * with the connection may have landed: the retried save then finds the object and fails with
   * AlreadyExistsError, which the retry wrapper accepts when the stored bytes are these.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const final = this.path(h);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const tmp = posix.join(posix.dirname(final), `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
    await this.withConnection(async (conn) => {
      try {
        await this.uploadCreatingFolder(conn, tmp, bytes);
        if (await this.isFile(conn, final)) throw new AlreadyExistsError(handleLabel(h));
        await conn.call<void>((s, cb) => s.rename(tmp, final, cb)).catch(async (err: unknown) => {
          if (statusOf(err) === FX_FAILURE && (await this.isFile(conn, final))) throw new AlreadyExistsError(handleLabel(h));
          throw err;
        });
      } catch (err) {
        if (conn.isLoss(err)) this.orphans.add(tmp);
        else await unlinkQuietly(conn, tmp);
        throw err;
      }
    });
  }

  /** Reads the range with pipelined requests; the size is checked first so a short object is damage, not a hang. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    const path = this.path(h);
    return this.withConnection(async (conn) => {
      const handle = await this.openExisting(conn, path, h);
      try {
        const size = (await conn.call<SftpAttrs>((s, cb) => s.fstat(handle, cb))).size;
        const want = length ?? size - offset;
        if (want < 0 || offset + want > size) {
          throw new DamagedRepoError(`short read: ${handleLabel(h)} has ${size} bytes, expected at least ${Math.max(offset, offset + want)}`);
        }
        // Not pooled: the caller owns the whole ArrayBuffer and may mutate or transfer it.
        const buf = Buffer.allocUnsafeSlow(want);
        await readInto(conn, handle, buf, offset, h);
        return buf;
      } finally {
        await closeQuietly(conn, handle);
      }
    });
  }

  /** Opens first, so a missing object fails here with NotFoundError; then streams 1 MiB pipelined chunks. */
  async openReadStream(h: Handle): Promise<Readable> {
    const path = this.path(h);
    const { conn, handle, size } = await this.withConnection(async (conn) => {
      const handle = await this.openExisting(conn, path, h);
      const size = (await conn.call<SftpAttrs>((s, cb) => s.fstat(handle, cb)).catch(async (err: unknown) => {
        await closeQuietly(conn, handle);
        throw err;
      })).size;
      return { conn, handle, size };
    });
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for (let pos = 0; pos < size; pos += STREAM_CHUNK) {
          const buf = Buffer.allocUnsafe(Math.min(STREAM_CHUNK, size - pos));
          await readInto(conn, handle, buf, pos, h);
          yield buf;
        }
      } finally {
        await closeQuietly(conn, handle);
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** Size of an object; anything that is not a regular file does not count as one. */
  async stat(h: Handle): Promise<FileInfo> {
    const path = this.path(h);
    const size = await this.withConnection((conn) => this.sizeOrUndefined(conn, path));
    if (size === undefined) throw new NotFoundError(handleLabel(h));
    return { name: h.name, size };
  }

  /** True when the object exists. */
  exists(h: Handle): Promise<boolean> {
    return existsByStat(this, h);
  }

  /** Deletes an object. */
  async remove(h: Handle): Promise<void> {
    const path = this.path(h);
    await this.withConnection(async (conn) => {
      try {
        await conn.call<void>((s, cb) => s.unlink(path, cb));
      } catch (err) {
        throw isMissing(err) ? new NotFoundError(handleLabel(h)) : err;
      }
    });
  }

  /** Lists complete objects of one type; a missing folder lists as empty. */
  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await statIfExists(this, { type: 'config', name: '' });
      return info === undefined ? [] : [info];
    }
    if (!isFolderType(type)) throw new TypeError(`unknown object type '${String(type)}'`);
    const folder = posix.join(this.root, type);
    return this.withConnection(async (conn) => {
      const entries = await this.readdir(conn, folder);
      if (type !== 'data') return filesOf(entries);
      const prefixes = entries.filter((e) => (e.attrs.mode & S_IFMT) === S_IFDIR && e.filename.length === 2);
      const parts: FileInfo[][] = [];
      await pipelined(prefixes.length, 16, async (i) => {
        parts[i] = filesOf(await this.readdir(conn, posix.join(folder, prefixes[i]!.filename)));
      });
      return parts.flat();
    });
  }

  /** Closes the connection; a later call would open a new one. */
  close(): Promise<void> {
    return this.connector.close();
  }

  /** Server path of an object. */
  private path(h: Handle): string {
    return posix.join(this.root, objectPath(h));
  }

  /**
   * Runs `op` on the live connection (opening one if needed). When the connection is lost meanwhile, it is given
   * up and the failure is a transient SftpConnectionError; the next call connects afresh.
   */
  private async withConnection<T>(op: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await this.connector.get();
    if (this.orphans.size > 0) await this.removeOrphans(conn);
    try {
      return await op(conn);
    } catch (err) {
      if (!conn.isLoss(err)) throw err;
      this.connector.drop(conn);
      throw err instanceof SftpConnectionError ? err : connectionLost(err);
    }
  }

  /** Removes temp files left by uploads whose connection died; any that cannot be removed now wait for the next one. */
  private async removeOrphans(conn: Connection): Promise<void> {
    const paths = [...this.orphans];
    this.orphans.clear();
    await Promise.all(paths.map((p) => unlinkQuietly(conn, p)));
    if (conn.lost) for (const p of paths) this.orphans.add(p);
  }

  /** Opens an object for reading, mapping "missing" to NotFoundError. */
  private async openExisting(conn: Connection, path: string, h: Handle): Promise<Buffer> {
    try {
      return await conn.call<Buffer>((s, cb) => s.open(path, 'r', { mode: FILE_MODE }, cb));
    } catch (err) {
      throw isMissing(err) ? new NotFoundError(handleLabel(h)) : err;
    }
  }

  /** Uploads; if the target folder is missing (a repository copied without empty folders), creates it and retries. */
  private async uploadCreatingFolder(conn: Connection, tmp: string, data: Buffer): Promise<void> {
    try {
      await upload(conn, tmp, data);
    } catch (err) {
      if (!isMissing(err)) throw err;
      await this.mkdirs(conn, posix.dirname(tmp));
      await upload(conn, tmp, data);
    }
  }

  /** Size of a regular file, or undefined when there is none at `path`. */
  private async sizeOrUndefined(conn: Connection, path: string): Promise<number | undefined> {
    try {
      const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb));
      return (attrs.mode & S_IFMT) === S_IFREG ? attrs.size : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** True when a regular file exists at `path`. */
  private async isFile(conn: Connection, path: string): Promise<boolean> {
    return (await this.sizeOrUndefined(conn, path)) !== undefined;
  }

  /** Creates a folder unless a folder is already there. */
  private async mkdirOnce(conn: Connection, path: string): Promise<void> {
    try {
      await conn.call<void>((s, cb) => s.mkdir(path, { mode: DIR_MODE }, cb));
    } catch (err) {
      if (conn.isLoss(err)) throw err;
      // Servers answer "failure" for an existing folder; only a stat can tell that from a real failure.
      const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb)).catch(() => undefined);
      if (attrs === undefined || (attrs.mode & S_IFMT) !== S_IFDIR) throw err;
    }
  }

  /** Creates a folder and its missing parents, as mkdir -p. */
  private async mkdirs(conn: Connection, path: string): Promise<void> {
    const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb)).catch(() => undefined);
    if (attrs !== undefined && (attrs.mode & S_IFMT) === S_IFDIR) return;
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (prefix === '' || prefix === '.') continue;
      await this.mkdirOnce(conn, prefix);
    }
  }

  /** Folder entries, or none when the folder does not exist. */
  private async readdir(conn: Connection, path: string): Promise<SftpEntry[]> {
    try {
      return await conn.call<SftpEntry[]>((s, cb) => s.readdir(path, cb));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }
}
