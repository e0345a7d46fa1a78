import { read, readSync } from 'node:fs';

/** Largest single read. */
export const READ_MAX = 4 * 1024 * 1024;
/**
 * Files up to this size are read synchronously. From the page cache a small read costs a few microseconds, while
 * an asynchronous one costs tens more (a thread-pool round trip): for 20,000 small files, seconds. Larger files
 * are read asynchronously, so that the copying happens on the thread pool, not on this (the busiest) thread.
 */
const SYNC_FILE_MAX = 1024 * 1024;

/** Something to chunk: a file or a stream. */
export interface Source {
  /** Reads up to `len` bytes into `buf` at `at`; 0 at the end. */
  read(buf: Buffer, at: number, len: number): number | Promise<number>;
  /** A good size for the next read: what is left of a regular file (plus one byte, to see its end), or more. */
  want(): number;
  /** True once a read has shown the end (a short read of a regular file, past its size). */
  readonly ended: boolean;
}

/** A regular file read with pread from its start; `size` from lstat sizes the reads, the end is what read finds. */
export function fileSource(fd: number, size: number): Source {
  let pos = 0;
  const src = {
    ended: false,
    want: () => (pos <= size ? size - pos + 1 : READ_MAX),
    read(buf: Buffer, at: number, len: number): number | Promise<number> {
      if (size <= SYNC_FILE_MAX) return done(readSync(fd, buf, at, len, pos), len);
      return new Promise<number>((resolve, reject) => {
        read(fd, buf, at, len, pos, (err, n) => (err ? reject(err) : resolve(done(n, len))));
      });
    },
  };
  // A short read once the size lstat saw is in is the end: it saves the extra call that would return 0 (for small
  // files, half the reads). A short read before that (a network filesystem) just means reading on.
  const done = (n: number, len: number): number => {
    pos += n;
    if (n < len && pos >= size) src.ended = true;
    return n;
  };
  return src;
}

/** Piped content: pieces are copied into the ring; the source is closed if chunking stops early. */
export function streamSource(stream: AsyncIterable<unknown>): Source & { close(): Promise<void> } {
  const it = stream[Symbol.asyncIterator]();
  let piece: Uint8Array | undefined;
  let off = 0;
  let open = true;
  return {
    ended: false,
    want: () => READ_MAX,
    async read(buf: Buffer, at: number, len: number): Promise<number> {
      while (piece === undefined) {
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (err) {
          open = false; // a source that threw is finished; calling return() on it would be wrong
          throw err;
        }
        if (r.done === true) {
          open = false;
          return 0;
        }
        // Readable streams with an encoding yield strings; their bytes are not what the user meant to back up.
        if (!(r.value instanceof Uint8Array)) throw new TypeError('chunkStream source must yield Uint8Array pieces');
        if (r.value.length > 0) {
          piece = r.value;
          off = 0;
        }
      }
      const n = Math.min(len, piece.length - off);
      buf.set(piece.subarray(off, off + n), at);
      off += n;
      if (off === piece.length) piece = undefined;
      return n;
    },
    async close(): Promise<void> {
      if (open) {
        open = false;
        await it.return?.();
      }
    },
  };
}

