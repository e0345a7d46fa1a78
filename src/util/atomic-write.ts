/**
 * Durable, atomic file writes: temp file in the same folder, exact mode, fsync, then rename (or link).
 * Readers see the old content or the new, never a torn file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Name prefix of the temp files. Only a crash leaves one behind, and the name never ends in `.prom`, `.log`,
 * `.service` or `.timer` and holds a dot, so node_exporter, cron.d and systemd all skip it.
 */
export const ATOMIC_TMP_PREFIX = '.tmp-';

/**
 * Writes `data` to a new temp file beside `path` with exactly `mode` (whatever the umask: a hardened unit's
 * UMask=0077 must not hide a .prom file from node_exporter) and fsyncs it. Returns the temp path; the caller
 * renames or links it into place and removes it on failure.
 */
export async function writeTempFile(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = join(dirname(path), `${ATOMIC_TMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Replaces `path` atomically with `data` (mode `mode`, default 0600); see {@link writeTempFile}. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTempFile(path, data, mode);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
