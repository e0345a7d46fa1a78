import type { Repository } from '../repo/repository.js';

/** What `unlock` is asked to do. */
export interface UnlockOptions {
  /** Also remove locks that are not stale (their holder may still run). */
  all?: boolean;
}

/** Removes stale locks (or every lock with `all`); returns the ids removed. One already gone counts as removed. */
export async function runUnlock(repo: Repository, opts: UnlockOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const l of await repo.listLocks()) {
    if (!l.stale && !opts.all) continue;
    await repo.removeLock(l.id).catch(() => undefined);
    removed.push(l.id);
  }
  return removed;
}
