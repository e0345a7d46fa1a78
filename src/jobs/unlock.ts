import { hostname } from 'node:os';
import type { Repository } from '../repo/repository.js';

/** What `unlock` is asked to do. */
export interface UnlockOptions {
  /** Also remove locks that are not stale (their holder may still run on another host). */
  all?: boolean;
  /** With `all`: also remove locks of processes that are alive on this host. */
  force?: boolean;
}

/** What unlock removed, and the live local holders it refused to unlock. */
export interface UnlockResult {
  removed: string[];
  /** Locks kept because their process is alive on this host (`--force` removes them). */
  keptLive: { id: string; pid: number }[];
}

/**
 * Removes stale locks, or with `all` every lock, except those of processes alive on this host unless `force`:
 * removing a running backup's lock lets a prune delete data that backup is about to refer to.
 */
export async function runUnlock(repo: Repository, opts: UnlockOptions = {}): Promise<UnlockResult> {
  const res: UnlockResult = { removed: [], keptLive: [] };
  for (const l of await repo.listLocks()) {
    if (!l.stale && !opts.all) continue;
    if (!l.stale && !opts.force && l.hostname === hostname() && processAlive(l.pid)) {
      res.keptLive.push({ id: l.id, pid: l.pid });
      continue;
    }
    await repo.removeLock(l.id).catch(() => undefined);
    res.removed.push(l.id);
  }
  return res;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
