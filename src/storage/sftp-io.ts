import { DamagedRepoError } from '../errors.js';
import type { FileInfo, Handle } from './backend.js';
import { handleLabel } from './handles.js';
import type { Connection, SftpEntry } from './sftp-connection.js';

/** Mode of the files the backend creates: repository contents are private to the owner. */
export const FILE_MODE = 0o600;
/** Mode of the folders the backend creates. */
export const DIR_MODE = 0o700;
/** The file type bits of a mode, as stat(2) has them. */
export const S_IFMT = 0o170000;
/** File type "regular file". */
export const S_IFREG = 0o100000;
/** File type "directory". */
export const S_IFDIR = 0o040000;

/** Bytes per read or write request: 32 KiB is what every SFTP server must accept. */
const IO_CHUNK = 32 * 1024;
/** Requests kept in flight per transfer, so throughput is not bound by round trips (2 MiB in flight). */
export const IO_DEPTH = 64;
/** Bytes per chunk handed out by openReadStream(). */
export const STREAM_CHUNK = 1024 * 1024;

/** Runs fn(0..count-1) with at most `depth` running at once; stops starting new ones after a failure. */
export async function pipelined(count: number, depth: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(depth, count) }, worker));
}

/** Fills `buf` from `position` of an open file; a file that ends early is damage, not a missing object. */
export async function readInto(conn: Connection, handle: Buffer, buf: Buffer, position: number, h: Handle): Promise<void> {
  await pipelined(Math.ceil(buf.length / IO_CHUNK), IO_DEPTH, async (i) => {
    let off = i * IO_CHUNK;
    const end = Math.min(off + IO_CHUNK, buf.length);
    while (off < end) {
      const at = off;
      const n = await conn.call<number>((s, cb) => s.read(handle, buf, at, end - at, position + at, cb));
      if (!n) {
        throw new DamagedRepoError(`short read: ${handleLabel(h)} ended before byte ${position + end}`);
      }
      off += n;
    }
  });
}

/** Closes a file handle, ignoring errors: used where an earlier error is the one to report. */
export async function closeQuietly(conn: Connection, handle: Buffer): Promise<void> {
  if (conn.lost) return;
  await conn.call<void>((s, cb) => s.close(handle, cb)).catch(() => undefined);
}

/** Removes a file, ignoring errors: a stray temp file is hidden from list() and harmless. */
export async function unlinkQuietly(conn: Connection, path: string): Promise<void> {
  if (conn.lost) return;
  await conn.call<void>((s, cb) => s.unlink(path, cb)).catch(() => undefined);
}

/** Writes `data` to a new file (refusing an existing one) and flushes it to disk where the server can. */
export async function upload(conn: Connection, path: string, data: Buffer): Promise<void> {
  const handle = await conn.call<Buffer>((s, cb) => s.open(path, 'wx', { mode: FILE_MODE }, cb));
  try {
    await pipelined(Math.ceil(data.length / IO_CHUNK), IO_DEPTH, (i) => {
      const off = i * IO_CHUNK;
      return conn.call<void>((s, cb) => s.write(handle, data, off, Math.min(IO_CHUNK, data.length - off), off, cb));
    });
    try {
      await conn.call<void>((s, cb) => s.ext_openssh_fsync(handle, cb));
    } catch (err) {
      // Servers without fsync@openssh.com cannot be asked to flush; ssh2 says so before sending anything.
      if (!(err instanceof Error && err.message.includes('does not support'))) throw err;
    }
  } catch (err) {
    await closeQuietly(conn, handle);
    throw err;
  }
  await conn.call<void>((s, cb) => s.close(handle, cb));
}

/** Regular files among folder entries, without temp or other dot-files. */
export function filesOf(entries: SftpEntry[]): FileInfo[] {
  return entries
    .filter((e) => (e.attrs.mode & S_IFMT) === S_IFREG && !e.filename.startsWith('.'))
    .map((e) => ({ name: e.filename, size: e.attrs.size }));
}
