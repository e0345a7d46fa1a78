import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Backup and restore move hundreds of MiB through short-lived ArrayBuffers while the JS heap stays tiny, so V8
 * sees no reason to collect and the dead backing stores pile up (measured: 900 MB RSS for a 800 MB backup; with
 * V8 left alone, each thread's malloc arena grows to about 64 MiB). Nearly all of that garbage dies young, and a
 * young-generation collection frees it for well under a millisecond, so one runs every few MiB; a full
 * collection (about 10 ms even on a tiny heap, measured) only rarely, for what outlived a few young ones.
 */
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as (opts?: { type?: 'major' | 'minor'; execution?: 'sync' }) => void;

/** Bytes of buffer traffic between young-generation collections. */
const MINOR_EVERY = 4 * 1024 * 1024;
/** Bytes of buffer traffic between full collections. */
const MAJOR_EVERY = 256 * 1024 * 1024;
let sinceMinor = 0;
let sinceMajor = 0;

/** Counts bytes of buffers that just became garbage (or soon will) and collects when enough have. */
export function noteBufferTraffic(bytes: number): void {
  sinceMinor += bytes;
  sinceMajor += bytes;
  if (sinceMajor >= MAJOR_EVERY) {
    sinceMajor = 0;
    sinceMinor = 0;
    gcFn();
  } else if (sinceMinor >= MINOR_EVERY) {
    sinceMinor = 0;
    gcFn({ type: 'minor' });
  }
}
