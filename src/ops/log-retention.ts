/**
 * How long run logs are kept: report files are removed by age and count, owb.jsonl is only ever rotated
 * (owb.jsonl.1), and temp files a crash left behind are cleaned up.
 */
import { lstat, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ATOMIC_TMP_PREFIX } from '../util/atomic-write.js';

/** The JSON-lines file in the log directory. */
export const JSONL_NAME = 'owb.jsonl';
/** owb.jsonl is renamed to owb.jsonl.1 once it would grow past this (bytes). */
export const DEFAULT_JSONL_MAX_BYTES = 10 * 1024 * 1024;
/** Temp files older than this (ms) are leftovers of a crash and are removed by pruneLogs. */
const STALE_TMP_MS = 24 * 3600 * 1000;
/** `2026-11-26T09-15-02Z-backup.log` (fileStamp, then the job), optionally `…-backup.2.log` when two runs share a second. */
const REPORT_RE = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z-[A-Za-z0-9_.-]+\.log$/;

/** Renames owb.jsonl to owb.jsonl.1 (replacing an older .1) when adding `incoming` bytes would pass `maxBytes`. */
export async function rotateJsonl(dir: string, maxBytes = DEFAULT_JSONL_MAX_BYTES, incoming = 0): Promise<boolean> {
  const path = join(dir, JSONL_NAME);
  let size: number;
  try {
    size = (await lstat(path)).size;
  } catch {
    return false;
  }
  if (size === 0 || size + incoming <= maxBytes) return false;
  await rename(path, `${path}.1`);
  return true;
}

/** Options of pruneLogs. A zero keepDays or keepCount turns that rule off. */
export interface PruneLogsOptions {
  keepDays: number;
  keepCount: number;
  now?: Date;
  maxJsonlBytes?: number;
}

/**
 * Removes report files older than keepDays (by the time in their name) and all but the newest keepCount,
 * plus temp files left by a crash. owb.jsonl is never deleted, only rotated past maxJsonlBytes.
 * Returns the removed file names, sorted by name (so reports oldest first).
 */
export async function pruneLogs(dir: string, opts: PruneLogsOptions): Promise<{ removed: string[]; rotated: boolean }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: [], rotated: false };
    throw err;
  }
  const now = (opts.now ?? new Date()).getTime();
  const reports = names
    .map((name) => {
      const m = REPORT_RE.exec(name);
      return m ? { name, t: Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) } : undefined;
    })
    .filter((r): r is { name: string; t: number } => r !== undefined && Number.isFinite(r.t))
    .sort((a, b) => b.t - a.t || (a.name < b.name ? 1 : -1));
  const doomed = new Set<string>();
  const cutoff = now - opts.keepDays * 86400 * 1000;
  reports.forEach((r, i) => {
    if (opts.keepDays > 0 && r.t < cutoff) doomed.add(r.name);
    if (opts.keepCount > 0 && i >= opts.keepCount) doomed.add(r.name);
  });
  for (const name of names.filter((n) => n.startsWith(ATOMIC_TMP_PREFIX))) {
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st && now - st.mtimeMs > STALE_TMP_MS) doomed.add(name);
  }
  const removed: string[] = [];
  for (const name of [...doomed].sort()) {
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const rotated = await rotateJsonl(dir, opts.maxJsonlBytes ?? DEFAULT_JSONL_MAX_BYTES);
  return { removed, rotated };
}
