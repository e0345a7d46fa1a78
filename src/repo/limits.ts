import { DamagedRepoError } from '../errors.js';
import type { FileType } from '../storage/backend.js';

/**
 * The largest size each kind of object can sanely have. An object over it is damaged or planted: it is refused
 * before it is read, so a 1 GB `config` cannot take gigabytes of memory and a 4 GiB object cannot overflow a buffer.
 * Packs are bounded per repository (pack size plus one chunk), see {@link maxPackBytes}.
 */
export const MAX_OBJECT_BYTES: Readonly<Record<Exclude<FileType, 'data'>, number>> = Object.freeze({
  config: 64 * 1024,
  keys: 64 * 1024,
  locks: 64 * 1024,
  // A snapshot holds paths, tags, a summary and the Open WebUI manifest (row counts per table).
  snapshots: 16 * 1024 * 1024,
  // Prune writes at most 50,000 blobs per index file (about 10 MB); backups far fewer.
  index: 256 * 1024 * 1024,
});

/** A pack closes once it reaches the target; it can exceed it by one sealed chunk and its header. */
export function maxPackBytes(packTarget: number, chunkMax: number): number {
  return packTarget + 2 * chunkMax + 16 * 1024 * 1024;
}

/** Throws DamagedRepoError when an object of `type` is larger than it can sanely be. */
export function checkObjectSize(type: FileType, label: string, size: number, limit = type === 'data' ? Infinity : MAX_OBJECT_BYTES[type]): void {
  if (size > limit) {
    throw new DamagedRepoError(`${label} is ${size} bytes, more than a ${type === 'data' ? 'pack' : type} object can be (${limit}): damaged; refusing to read it`);
  }
}
