import { fsync, lstatSync, open, rmSync, unlinkSync, type PathLike } from 'node:fs';
import { lstat, mkdir, rename, unlink } from 'node:fs/promises';
import { OwbError } from '../errors.js';

/**
 * Makes `path` a real directory. With --force, a file or symlink in the way is removed, never followed.
 * Asynchronous, and mkdir first: a lookup in a directory where files are being created waits for them, and
 * creating the directory can wait for a journal commit; this thread serves the workers meanwhile.
 */
export async function makeRealDir(path: PathLike): Promise<void> {
  try {
    await mkdir(path, { mode: 0o700 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await lstat(path);
  if (st.isDirectory()) return;
  await unlink(path);
  await mkdir(path, { mode: 0o700 });
}

/** With --force an existing entry may stand where a new one goes; a directory there is an error. */
export function clearForReplace(path: PathLike): void {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) throw new OwbError(`a directory is in the way`);
    rmSync(path, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Moves a complete file into place. rename() replaces a file or symlink standing there (the link itself, never
 * its target) and refuses a directory, which is what clearing the way first used to do, in one call.
 */
export async function renameInto(tmp: PathLike, path: PathLike): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw new OwbError(`a directory is in the way`);
    throw err;
  }
}

export function unlinkQuietly(path: PathLike): void {
  try {
    unlinkSync(path);
  } catch {
    // the error that got us here is the one to report
  }
}

export function swallow(fn: () => void): void {
  try {
    fn();
  } catch {
    // best effort
  }
}

export function openNew(path: PathLike): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'wx', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Nanoseconds (decimal string) to the time argument of utimes, exact to the microsecond (floored). Node takes
 * seconds as a double, which cannot hold nanoseconds, and libuv truncates the fraction toward zero to whole
 * microseconds; aiming at the middle of the wanted microsecond, on the side away from zero, makes that truncation
 * land on it for times before 1970 too. A numeric string is used because Node replaces a negative number with
 * "now", but passes a numeric string through.
 */
export function nsToTimeArg(ns: string): string {
  const n = BigInt(ns);
  const us = n >= 0n ? n / 1000n : -((-n + 999n) / 1000n);
  return String(Number(us) / 1e6 + (us >= 0n ? 5e-7 : -5e-7));
}
